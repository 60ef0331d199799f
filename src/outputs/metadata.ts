/**
 * The stream's current title, set through POST /api/metadata (and later the CLI), and passed
 * to every output that carries titles: Icecast mounts, /stream.mp3's ICY blocks.
 */
export const MAX_TITLE_LENGTH = 1024;

export class Metadata {
  private _title: string;
  private _updatedAt: Date | null = null;
  private readonly listeners = new Set<(title: string) => void>();

  constructor(title = '') {
    this._title = Metadata.clean(title);
  }

  /** Control characters cannot travel in headers, ICY blocks or Vorbis comments. */
  static clean(title: string): string {
    return title.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim().slice(0, MAX_TITLE_LENGTH);
  }

  get title(): string {
    return this._title;
  }

  get updatedAt(): Date | null {
    return this._updatedAt;
  }

  /** Set the title; listeners hear of a change only. Returns the title as stored. */
  set(title: string): string {
    const t = Metadata.clean(title);
    this._updatedAt = new Date();
    if (t === this._title) return t;
    this._title = t;
    for (const l of this.listeners) l(t);
    return t;
  }

  onChange(listener: (title: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
