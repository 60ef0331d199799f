/**
 * `/stream/<id>.mp3`: one plain MP3 stream per [[program]], besides `/stream.mp3` (the main
 * program's, the daemon's own HttpStreamOutput). Each is an HttpStreamOutput whose encoder
 * starts with its first listener and stops with its last, shared with any Icecast entry of the
 * same program and bitrate.
 */
import type { AudioPipeline } from '../audio/pipeline.ts';
import type { Config } from '../config/schema.ts';
import { resolvePrograms, resolveProgramId, MAIN_PROGRAM } from '../config/programs.ts';
import { HttpStreamOutput } from './http-stream.ts';

export class ProgramStreams {
  private readonly streams = new Map<string, { out: HttpStreamOutput; channels: number }>();

  constructor(
    private readonly pipeline: AudioPipeline,
    private readonly main: HttpStreamOutput,
    private readonly title: () => string,
    config: Config,
  ) {
    this.apply(config);
  }

  /** The stream of a program (`main` and the main program's own id: /stream.mp3's); undefined for an unknown id. */
  get(config: Config, id: string): HttpStreamOutput | undefined {
    const real = resolveProgramId(config, id);
    if (real === undefined) return undefined;
    if (real === resolveProgramId(config, MAIN_PROGRAM)) return this.main;
    return this.streams.get(real)?.out;
  }

  /** Every program's stream, main first, with the program id. */
  all(config: Config): { id: string; out: HttpStreamOutput }[] {
    return resolvePrograms(config).map((p) => ({ id: p.id, out: this.get(config, p.id)! }));
  }

  /** Programs added, removed, or changed between mono and stereo: their streams follow. */
  apply(config: Config): void {
    const mainId = resolveProgramId(config, MAIN_PROGRAM);
    const want = resolvePrograms(config).filter((p) => !p.implicit && p.id !== mainId);
    for (const [id, s] of this.streams) {
      const p = want.find((w) => w.id === id);
      if (!p || p.channels !== s.channels) {
        s.out.close();
        this.streams.delete(id);
      }
    }
    for (const p of want) {
      if (this.streams.has(p.id)) continue;
      const out = new HttpStreamOutput(this.pipeline, {
        spec: { codec: 'mp3', channels: p.channels, bitrateKbps: config.mp3.bitrate_kbps, mode: 'cbr' },
        contentType: 'audio/mpeg',
        maxListeners: config.stream.max_listeners,
        queueBytes: config.stream.queue_kb * 1024,
        name: p.name,
        program: p.id,
        icy: { metaint: config.metadata.icy_metaint, title: this.title },
      }, `stream/${p.id}.mp3`);
      this.streams.set(p.id, { out, channels: p.channels });
    }
  }

  close(): void {
    for (const s of this.streams.values()) s.out.close();
    this.streams.clear();
  }
}
