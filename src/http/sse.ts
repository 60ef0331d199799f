/**
 * GET /events?page=…: one Server-Sent Events connection per admin page, carrying named
 * events whose data is an HTML fragment (htmx's sse extension swaps it into the element with
 * that `sse-swap` name), plus the meters' numbers (`levels`, applied by admin.js).
 *
 * What each page shows, how each widget renders and when it refreshes all come from the one
 * registry in admin/widgets.ts (`WIDGETS`); this hub only schedules and sends.
 *
 * State is pushed, not polled: a widget is re-rendered when a bus event it lists (`on`) is
 * published by the state's owner, and sent if it changed. Cheap on a Pi: one timer for all
 * connections, running only while someone is connected, at the pace of the fastest clock-driven
 * widget the open pages show (`everyMs`: the meters' frames at ~15 Hz, byte counters, uptime,
 * the log tail); a page with none of those wakes only for the heartbeat. Meter frames are
 * computed once per tick (numbers: ~1.3 kB/s for stereo) and the same bytes go to every page
 * that shows them. A page that cannot keep up skips
 * meter frames rather than queueing them; one that falls far behind is dropped (EventSource
 * reconnects). A heartbeat (`hb`) every 5 s lets a page notice a connection that went quiet.
 */
import { Elysia } from 'elysia';
import type { AppContext } from '../control/context.ts';
import { MAX_DELAY_MS } from '../audio/pipeline.ts';
import { htmlResponse, type Html } from '../../web/templates/html.ts';
import * as W from './admin/widgets.ts';
import { logger } from '../log.ts';
import { holdOpen } from './timeouts.ts';

const log = logger('sse');

/** ~15 Hz: meters look continuous and the cost stays small. */
export const METER_MS = 66;
const BEAT_MS = 5_000;
/** Chunks queued for a connection before meter frames are skipped, and before it is dropped. */
const SKIP_AT = 8;
const DROP_AT = 256;
const MAX_CLIENTS = 64;

/** The events each page takes (from the registry; a stream's frames may have their own name). */
export const PAGE_EVENTS: Record<string, readonly string[]> = Object.fromEntries(
  W.PAGES.map((p) => [
    p,
    W.widgetsOf(p).flatMap((n) => {
      const frameEvent = (W.WIDGETS[n] as W.Widget).frameEvent;
      return frameEvent ? [n, frameEvent] : [n];
    }),
  ]),
);

const enc = new TextEncoder();

/** One SSE message; every line of the fragment becomes a `data:` line (the spec joins them with \n). */
export function sseMessage(event: string, data: string): Uint8Array {
  return enc.encode(`event: ${event}\ndata: ${data.replace(/\r?\n/g, '\ndata: ')}\n\n`);
}

interface Client {
  events: Set<string>;
  controller: ReadableStreamDefaultController<Uint8Array>;
  closed: boolean;
}

export class SseHub {
  private readonly clients = new Set<Client>();
  private timer?: ReturnType<typeof setInterval>;
  /** The timer's period now: the fastest clock-driven widget an open page shows, else the heartbeat's. */
  private periodMs = 0;
  /** When each clock-driven widget is due next (performance.now() ms), and the next heartbeat. */
  private readonly due = new Map<string, number>();
  private beatAt = 0;
  private readonly last = new Map<string, string>();
  /** What the widgets render from; the pages embed with `W.slot(hub.env, name)`. */
  readonly env: W.WidgetEnv;
  private readonly unsubscribe: (() => void)[] = [];
  private releaseWake?: () => void;
  /** Fragments sent (for tests and /metrics). */
  sent = 0;

  constructor(ctx: AppContext) {
    this.env = { ctx, devices: ctx.devices, meter: ctx.meter, log: new W.LogCursor() };
    const byEvent = new Map<string, W.WidgetName[]>();
    for (const name of Object.keys(W.WIDGETS) as W.WidgetName[]) {
      for (const type of (W.WIDGETS[name] as W.Widget).on ?? []) byEvent.set(type, [...(byEvent.get(type) ?? []), name]);
    }
    for (const [type, names] of byEvent) {
      this.unsubscribe.push(
        ctx.events.on(type as 'state', () => {
          for (const n of names) if (this.wants(n)) this.publishIfChanged(n, W.WIDGETS[n].render(this.env));
        }),
      );
    }
  }

  get connections(): number {
    return this.clients.size;
  }

  /** The timer's period now (0: no timer, nobody connected). */
  get timerMs(): number {
    return this.timer ? this.periodMs : 0;
  }

  connect(page: string): Response {
    const events = PAGE_EVENTS[page];
    if (!events) return new Response(`unknown page "${page}"; one of ${Object.keys(PAGE_EVENTS).join(', ')}`, { status: 400 });
    if (this.clients.size >= MAX_CLIENTS) return new Response('too many live pages open', { status: 503, headers: { 'retry-after': '10' } });
    let client: Client;
    const stream = new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          client = { events: new Set(events), controller, closed: false };
          this.clients.add(client);
          // The retry hint, then the current value of everything the page shows, so nothing
          // that changed between the page load (or a lost connection) and now is missed.
          controller.enqueue(enc.encode('retry: 2000\n\n'));
          for (const n of W.widgetsOf(page)) {
            const w: W.Widget = W.WIDGETS[n];
            if (w.frame) continue;
            const value = w.render(this.env).value;
            controller.enqueue(sseMessage(n, value));
            // What the open pages were last sent stays the reference (a change not yet sent
            // to them goes to everyone at the next tick); with no page open before, this is it.
            if (!this.last.has(n)) this.last.set(n, value);
          }
          this.ensureTimer();
        },
        cancel: () => this.drop(client),
      },
      { highWaterMark: DROP_AT },
    );
    return new Response(stream, {
      headers: {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        'x-accel-buffering': 'no',
      },
    });
  }

  /** Send a fragment (or a frame) to every connection that shows this event. */
  publish(event: string, fragment: string | Html, opts: { skippable?: boolean } = {}): void {
    if (!this.clients.size) return;
    const bytes = sseMessage(event, typeof fragment === 'string' ? fragment : fragment.value);
    for (const c of this.clients) {
      if (!c.events.has(event) || c.closed) continue;
      // desiredSize = highWaterMark − chunks still queued for this connection's socket.
      const queued = DROP_AT - (c.controller.desiredSize ?? 0);
      if (queued >= DROP_AT) {
        log.warn('a page stopped reading its live updates: dropped (it reconnects)');
        this.drop(c);
        continue;
      }
      if (opts.skippable && queued > SKIP_AT) continue;
      try {
        c.controller.enqueue(bytes);
        this.sent++;
      } catch {
        this.drop(c);
      }
    }
  }

  /** Send the rendering if it differs from what the open pages were last sent; true if sent. */
  private publishIfChanged(event: string, h: Html): boolean {
    if (this.last.get(event) === h.value) return false;
    this.last.set(event, h.value);
    this.publish(event, h);
    return true;
  }

  private wants(event: string): boolean {
    for (const c of this.clients) if (c.events.has(event)) return true;
    return false;
  }

  /** Run the timer at the pace the open pages need (restarted when that changes). */
  private ensureTimer(): void {
    let ms = BEAT_MS;
    for (const name of Object.keys(W.WIDGETS) as W.WidgetName[]) {
      const every = (W.WIDGETS[name] as W.Widget).everyMs;
      if (every && every < ms && this.wants(name)) ms = every;
    }
    if (this.timer && ms !== this.periodMs) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
    if (!this.timer) {
      this.periodMs = ms;
      this.beatAt ||= performance.now() + BEAT_MS;
      this.timer = setInterval(() => this.tick(), ms);
    }
    // While a page is open its meters move: the audio worker updates the levels every 100 ms.
    this.releaseWake ??= this.ctx.pipeline.need(MAX_DELAY_MS.listener);
  }

  private get ctx(): AppContext {
    return this.env.ctx;
  }

  private stopTimer(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.beatAt = 0;
    this.due.clear();
    this.releaseWake?.();
    this.releaseWake = undefined;
  }

  private tick(): void {
    if (!this.clients.size) return this.stopTimer();
    const now = performance.now();
    // Only what a clock changes: state comes by the bus events (the constructor's subscriptions).
    for (const name of Object.keys(W.WIDGETS) as W.WidgetName[]) {
      const w: W.Widget = W.WIDGETS[name];
      if (!w.everyMs || !this.wants(name)) continue;
      // Due within half a period: timers drift, and a widget at the timer's own pace runs every tick.
      if ((this.due.get(name) ?? 0) > now + this.periodMs / 2) continue;
      const next = (this.due.get(name) ?? now) + w.everyMs;
      this.due.set(name, next < now ? now + w.everyMs : next);
      if (w.resync) {
        // Sent even when unchanged (see Widget.resync): a stale form response may have replaced it.
        const h = w.render(this.env);
        this.last.set(name, h.value);
        if (h.value) this.publish(name, h);
        continue;
      }
      if (w.frame) {
        const data = w.frame(this.env);
        if (data !== null) this.publish(w.frameEvent ?? name, data, { skippable: true });
      } else if (this.publishIfChanged(name, w.render(this.env))) {
        for (const n of w.also ?? []) if (this.wants(n)) this.publishIfChanged(n, (W.WIDGETS as Record<string, W.Widget>)[n]!.render(this.env));
      }
    }
    if (now >= this.beatAt - this.periodMs / 2) {
      this.beatAt = now + BEAT_MS;
      const beat = enc.encode('event: hb\ndata: 1\n\n');
      for (const c of this.clients) {
        try {
          c.controller.enqueue(beat);
        } catch {
          this.drop(c);
        }
      }
    }
  }

  private drop(c: Client | undefined): void {
    if (!c || c.closed) return;
    c.closed = true;
    this.clients.delete(c);
    // What closed pages were sent is no reference for the next page that shows the widget: it
    // gets the current rendering on connect, and every change after that (a state that went
    // back to what the last closed page showed must still be sent to it).
    for (const event of [...this.last.keys()]) if (!this.wants(event)) this.last.delete(event);
    try {
      c.controller.close();
    } catch {
      // Already closed by the client going away.
    }
    // The pages still open may need a slower timer, or none at all.
    if (!this.clients.size) this.stopTimer();
    else if (this.timer) this.ensureTimer();
  }

  close(): void {
    for (const u of this.unsubscribe) u();
    for (const c of [...this.clients]) this.drop(c);
    this.stopTimer();
  }
}

export const sseRoutes = (ctx: AppContext, hub: SseHub) =>
  new Elysia({ name: 'sse' })
    .get('/events', ({ query, request, server }) => holdOpen(server, request, hub.connect(String(query.page ?? 'dashboard'))))
    // Any widget's current rendering, from the same registry (admin.js re-fetches the meters
    // when the channel count changes).
    .get('/ui/widget/:name', ({ params }) => {
      const w = (W.WIDGETS as Record<string, W.Widget>)[params.name];
      return w ? htmlResponse(w.render(hub.env)) : new Response('no such widget', { status: 404 });
    });
