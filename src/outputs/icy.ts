/**
 * ICY (SHOUTcast-style) in-band metadata for HTTP listeners that ask with `Icy-MetaData: 1`:
 * after every `icy-metaint` bytes of audio comes one length byte N and N × 16 bytes of
 * `StreamTitle='…';` padded with NULs; N = 0 when the title has not changed since the last
 * block (the de-facto SHOUTCAST/Icecast behaviour; no RFC exists).
 */
const MAX_BLOCK = 255 * 16;

/**
 * A title made safe to put between `StreamTitle='` and `';`. ICY has no escaping: players
 * (ffmpeg's http.c, VLC) end the value at the first `';`, and what follows would be read as
 * more fields (`StreamUrl='…';`). So a quote that a `;` follows, or that ends the title,
 * becomes the typographic ’ (it reads the same), and control characters (a NUL ends the block
 * for C players; newlines split lines) become spaces. Icecast writes the title it is sent
 * into the same framing for its listeners, so its metadata update gets this too.
 */
export function icyTitle(title: string): string {
  return title.replace(/[\u0000-\u001f\u007f]/g, ' ').replace(/'(?=;|$)/g, '\u2019');
}

/** One metadata block (length byte included) for `title`. */
export function icyBlock(title: string): Uint8Array {
  const enc = new TextEncoder();
  const framed = (t: string) => enc.encode(`StreamTitle='${icyTitle(t)}';`);
  let text = framed(title);
  if (text.length > MAX_BLOCK) {
    // Cut the title (not the framing) so the block fits, on a character boundary (code points).
    const chars = Array.from(title);
    while (chars.length && framed(chars.join('')).length > MAX_BLOCK) chars.pop();
    text = framed(chars.join(''));
  }
  const n = Math.ceil(text.length / 16);
  const b = new Uint8Array(1 + n * 16);
  b[0] = n;
  b.set(text, 1);
  return b;
}

const EMPTY_BLOCK = new Uint8Array([0]);

/** Per listener: splices metadata blocks into the audio at every `metaint` bytes. */
export class IcyInterleaver {
  private untilBlock: number;
  private sent: string | null = null;

  constructor(
    readonly metaint: number,
    private readonly title: () => string,
  ) {
    this.untilBlock = metaint;
  }

  /** The audio bytes with any blocks due inside them; the same buffer when none is due. */
  wrap(data: Uint8Array): Uint8Array {
    if (data.byteLength < this.untilBlock) {
      this.untilBlock -= data.byteLength;
      return data;
    }
    const parts: Uint8Array[] = [];
    let off = 0;
    let total = 0;
    while (data.byteLength - off >= this.untilBlock) {
      const audio = data.subarray(off, off + this.untilBlock);
      off += this.untilBlock;
      const block = this.nextBlock();
      parts.push(audio, block);
      total += audio.byteLength + block.byteLength;
      this.untilBlock = this.metaint;
    }
    const rest = data.subarray(off);
    this.untilBlock -= rest.byteLength;
    parts.push(rest);
    total += rest.byteLength;
    const out = new Uint8Array(total);
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.byteLength;
    }
    return out;
  }

  private nextBlock(): Uint8Array {
    const t = this.title();
    if (t === this.sent || (this.sent === null && t === '')) return EMPTY_BLOCK;
    this.sent = t;
    return icyBlock(t);
  }
}
