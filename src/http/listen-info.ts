/**
 * GET /listen/info: what the listen page shows besides the audio, public (behind the listener
 * token when one is set, like /listen itself) and read-only: the station name, the title and
 * the broadcast state. Nothing private (no addresses, sessions or counts).
 * GET /listen/events: the same as server-sent events (`event: info`), sent on connect and on
 * every change of state or title. Its connection closing is how an open page learns at once
 * that hark went away (a stop, or the in-place restart: the server closes every connection).
 *
 * `instance` changes with every start of hark (also the in-place restart): a page whose
 * WebRTC session predates it knows the session is gone and reconnects at once. While hark does
 * not answer, the page asks /listen/info every quarter second, so it is tiny.
 */
import { hostname } from 'node:os';
import { Elysia } from 'elysia';
import type { AppContext } from '../control/context.ts';
import { holdOpen } from './timeouts.ts';
import { MAIN_PROGRAM, resolvePrograms } from '../config/programs.ts';
import { MAX_DELAY_MS } from '../audio/pipeline.ts';

export interface ListenInfo {
  station: string;
  title: string;
  state: 'live' | 'muted' | 'idle';
  instance: string;
  /** The programs a listener may choose, the default first (one, `main`, without [[program]]). */
  programs: { id: string; name: string; language: string; muted: boolean }[];
  /** The default program's id (what /listen, /whep and /stream.mp3 carry). */
  main: string;
}

/** How often open listen pages get every program's level (`event: levels`). */
const LEVELS_EVERY_MS = 250;

/** Every program's levels after its processing, as the listen page's cards show them. */
export function programLevels(ctx: AppContext): Record<string, { peak: number[]; rms: number[] }> {
  const out: Record<string, { peak: number[]; rms: number[] }> = {};
  for (const p of resolvePrograms(ctx.config)) {
    const l = p.implicit ? ctx.pipeline.currentLevels() : ctx.pipeline.programLevels(p.id)?.post;
    if (!l) continue;
    const n = p.implicit ? Math.min(2, l.peak_dbfs.length) : l.peak_dbfs.length;
    out[p.id] = { peak: l.peak_dbfs.slice(0, n), rms: l.rms_dbfs.slice(0, n) };
  }
  return out;
}

/** The name listeners know the station by: an Icecast stream name someone set, else the box's name. */
export function stationName(ctx: AppContext): string {
  const named = ctx.config.icecast.find((e) => e.name && e.name !== 'hark');
  return named?.name ?? hostname();
}

/** Open /listen/events connections at most (more get 503: those pages poll /listen/info). */
const MAX_STREAMS = 1000;
/** A comment line this often keeps proxies and NAT tables from closing an idle stream. */
const PING_MS = 20_000;

const enc = new TextEncoder();

export const listenInfoRoutes = (ctx: AppContext) => {
  const instance = crypto.randomUUID().slice(0, 8);
  const info = (): ListenInfo => {
    const programs = resolvePrograms(ctx.config);
    return {
      station: stationName(ctx),
      title: ctx.broadcast.metadata.title,
      state: ctx.control.state,
      instance,
      programs: programs.map((p) => ({ id: p.id, name: p.name, language: p.language, muted: ctx.pipeline.programMuted(p.id) })),
      main: programs[0]!.id === MAIN_PROGRAM || programs.every((p) => p.id !== MAIN_PROGRAM) ? programs[0]!.id : MAIN_PROGRAM,
    };
  };
  const streams = new Set<ReadableStreamDefaultController<Uint8Array>>();
  const message = () => enc.encode(`event: info\ndata: ${JSON.stringify(info())}\n\n`);
  const send = (bytes: Uint8Array) => {
    for (const c of streams) {
      try {
        // A page that stopped reading (its queue is full) is dropped; it reconnects.
        if ((c.desiredSize ?? 1) <= 0) throw new Error('not reading');
        c.enqueue(bytes);
      } catch {
        streams.delete(c);
        try {
          c.close();
        } catch {}
      }
    }
  };
  const unsubscribe = [
    ctx.events.on('state', () => send(message())),
    ctx.events.on('metadata', () => send(message())),
    ctx.events.on('config', () => send(message())),
    ctx.events.on('program', () => send(message())),
  ];
  const ping = setInterval(() => streams.size && send(enc.encode(': ping\n\n')), PING_MS);
  // Levels only while a page is open; the worker wakes often enough for them meanwhile.
  let releaseWake: (() => void) | undefined;
  const levels = setInterval(() => {
    if (streams.size === 0) {
      releaseWake?.();
      releaseWake = undefined;
      return;
    }
    releaseWake ??= ctx.pipeline.need(MAX_DELAY_MS.listener);
    send(enc.encode(`event: levels\ndata: ${JSON.stringify(programLevels(ctx))}\n\n`));
  }, LEVELS_EVERY_MS);
  ctx.plane.onClose(() => {
    for (const u of unsubscribe) u();
    clearInterval(ping);
    clearInterval(levels);
    releaseWake?.();
    for (const c of streams) {
      try {
        c.close();
      } catch {}
    }
    streams.clear();
  });

  return new Elysia({ name: 'listen-info' })
    .get('/listen/info', (): Response =>
      new Response(JSON.stringify(info()), {
        headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' },
      }),
    )
    .get('/listen/events', ({ request, server }): Response => {
      if (streams.size >= MAX_STREAMS) return new Response('too many open listen pages', { status: 503, headers: { 'retry-after': '30' } });
      let controller: ReadableStreamDefaultController<Uint8Array>;
      const stream = new ReadableStream<Uint8Array>(
        {
          start: (c) => {
            controller = c;
            streams.add(c);
            c.enqueue(enc.encode('retry: 1000\n\n'));
            c.enqueue(message());
          },
          cancel: () => void streams.delete(controller),
        },
        { highWaterMark: 16 },
      );
      const res = new Response(stream, {
        headers: { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', 'x-accel-buffering': 'no' },
      });
      return holdOpen(server, request, res);
    });
};
