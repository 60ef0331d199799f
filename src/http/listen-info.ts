/**
 * GET /listen/info: what the listen page shows besides the audio, public (behind the listener
 * token when one is set, like /listen itself) and read-only: the station name, the title and
 * the broadcast state. Nothing private (no addresses, sessions or counts).
 *
 * `instance` changes with every start of hark (also the in-place restart): a page whose
 * WebRTC session predates it knows the session is gone and reconnects at once. The page polls
 * this every few seconds, and every quarter second while hark does not answer, so it is tiny.
 */
import { hostname } from 'node:os';
import { Elysia } from 'elysia';
import type { AppContext } from './context.ts';

export interface ListenInfo {
  station: string;
  title: string;
  state: 'live' | 'muted' | 'idle';
  instance: string;
}

/** The name listeners know the station by: an Icecast stream name someone set, else the box's name. */
export function stationName(ctx: AppContext): string {
  const named = ctx.config.icecast.find((e) => e.name && e.name !== 'hark');
  return named?.name ?? hostname();
}

export const listenInfoRoutes = (ctx: AppContext) => {
  const instance = crypto.randomUUID().slice(0, 8);
  return new Elysia({ name: 'listen-info' }).get('/listen/info', (): Response => {
    const info: ListenInfo = {
      station: stationName(ctx),
      title: ctx.broadcast.metadata.title,
      state: ctx.control.state,
      instance,
    };
    return new Response(JSON.stringify(info), {
      headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' },
    });
  });
};
