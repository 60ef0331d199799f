/**
 * GET /events?page=…: one Server-Sent Events connection per admin page, carrying named
 * events whose data is an HTML fragment (htmx's sse extension swaps it into the element with
 * that `sse-swap` name).
 *
 * Cheap on a Pi: one timer for all connections, running only while someone is connected.
 * Meters are rendered once per tick (~15 Hz) and the same bytes go to every page that shows
 * them; everything else is rendered twice a second and sent only when it changed (state
 * changes go out at once, from the event bus). A page that cannot keep up skips meter frames
 * rather than queueing them; one that falls far behind is dropped (EventSource reconnects).
 */
import { Elysia } from 'elysia';
import type { AppContext } from './context.ts';
import { MAX_DELAY_MS } from '../audio/pipeline.ts';
import type { Html } from '../../web/templates/html.ts';
import { logTail } from '../log.ts';
import * as W from './admin/widgets.ts';
import type { Devices } from './admin/model.ts';
import { logger } from '../log.ts';

const log = logger('sse');

/** ~15 Hz: meters look continuous and the cost stays a few fragments per second. */
export const METER_MS = 66;
const SLOW_EVERY = 8; // ticks: ~0.5 s
const PING_EVERY = Math.round(15_000 / METER_MS);
/** Chunks queued for a connection before meter frames are skipped, and before it is dropped. */
const SKIP_AT = 8;
const DROP_AT = 256;
const MAX_CLIENTS = 64;

/** The events each page takes. */
export const PAGE_EVENTS: Record<string, readonly string[]> = {
  dashboard: ['state-badge', 'alerts', 'state', 'meters', 'outputs', 'listeners', 'record'],
  input: ['state-badge', 'alerts', 'meters', 'devices', 'input-status'],
  outputs: ['state-badge', 'alerts', 'outputs'],
  listeners: ['state-badge', 'alerts', 'listeners', 'listener-table'],
  recordings: ['state-badge', 'alerts', 'record', 'recorder', 'recordings'],
  system: ['state-badge', 'alerts', 'sysinfo', 'log'],
};

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
  private ticks = 0;
  private readonly last = new Map<string, string>();
  readonly meter = new W.MeterState();
  private logSeen = '';
  private readonly unsubscribe: (() => void)[] = [];
  private releaseWake?: () => void;
  /** Fragments sent (for tests and /metrics). */
  sent = 0;

  constructor(
    private readonly ctx: AppContext,
    private readonly devices: Devices,
  ) {
    const now = () => {
      this.publishIfChanged('state', W.statePanel(ctx));
      this.publishIfChanged('state-badge', W.stateBadge(ctx));
      this.publishIfChanged('outputs', W.outputs(ctx));
    };
    this.unsubscribe.push(ctx.events.on('state', now), ctx.events.on('metadata', now), ctx.events.on('alert', () => this.publishIfChanged('alerts', W.alerts(ctx))));
  }

  get connections(): number {
    return this.clients.size;
  }

  /** The renderer behind each event name (the meters come from the shared tick instead). */
  private render(event: string): Html | null {
    const ctx = this.ctx;
    switch (event) {
      case 'state':
        return W.statePanel(ctx);
      case 'state-badge':
        return W.stateBadge(ctx);
      case 'alerts':
        return W.alerts(ctx);
      case 'outputs':
        return W.outputs(ctx);
      case 'listeners':
        return W.listeners(ctx);
      case 'listener-table':
        return W.listenerTable(ctx);
      case 'devices':
        return W.deviceOptions(ctx, this.devices);
      case 'input-status':
        return W.inputStatus(ctx);
      case 'recorder':
        return W.recorderStatus(ctx);
      case 'recordings':
        return W.recordingsList(ctx);
      case 'record':
        return W.recordControl(ctx);
      case 'sysinfo':
        return W.sysinfo(ctx);
      default:
        return null;
    }
  }

  connect(page: string): Response {
    const events = PAGE_EVENTS[page];
    if (!events) return new Response(`unknown page "${page}"; one of ${Object.keys(PAGE_EVENTS).join(', ')}`, { status: 400 });
    if (this.clients.size >= MAX_CLIENTS) return new Response('too many live pages open', { status: 503, headers: { 'retry-after': '10' } });
    let client: Client;
    const stream = new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          if (events.includes('log') && !this.wants('log')) this.logSeen = logTail().at(-1) ?? '';
          client = { events: new Set(events), controller, closed: false };
          this.clients.add(client);
          // The retry hint, then the current value of everything the page shows, so nothing
          // that changed between the page load and this connection is missed.
          controller.enqueue(enc.encode('retry: 2000\n\n'));
          for (const e of events) {
            if (e === 'meters' || e === 'log') continue;
            const h = this.render(e);
            if (h) controller.enqueue(sseMessage(e, h.value));
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

  /** Send a fragment to every connection that shows this event. */
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

  private publishIfChanged(event: string, h: Html): void {
    if (this.last.get(event) === h.value) return;
    this.last.set(event, h.value);
    this.publish(event, h);
  }

  private wants(event: string): boolean {
    for (const c of this.clients) if (c.events.has(event)) return true;
    return false;
  }

  private ensureTimer(): void {
    this.timer ??= setInterval(() => this.tick(), METER_MS);
    // While a page is open its meters move: the audio worker updates the levels every 100 ms.
    this.releaseWake ??= this.ctx.pipeline.need(MAX_DELAY_MS.listener);
  }

  private tick(): void {
    if (!this.clients.size) {
      clearInterval(this.timer);
      this.timer = undefined;
      this.releaseWake?.();
      this.releaseWake = undefined;
      return;
    }
    this.ticks++;
    if (this.wants('meters')) {
      this.meter.update(this.ctx.pipeline.currentLevels());
      this.publish('meters', W.meters(this.meter), { skippable: true });
    }
    if (this.ticks % SLOW_EVERY === 0) {
      for (const e of ['state', 'state-badge', 'alerts', 'outputs', 'listeners', 'listener-table', 'devices', 'input-status', 'record', 'recorder', 'recordings']) {
        if (this.wants(e)) this.publishIfChanged(e, this.render(e)!);
      }
      if (this.ticks % (SLOW_EVERY * 4) === 0 && this.wants('sysinfo')) this.publishIfChanged('sysinfo', W.sysinfo(this.ctx));
      if (this.wants('log')) this.publishLog();
    }
    if (this.ticks % PING_EVERY === 0) {
      const ping = enc.encode(': ping\n\n');
      for (const c of this.clients) {
        try {
          c.controller.enqueue(ping);
        } catch {
          this.drop(c);
        }
      }
    }
  }

  /** New log lines since the last tick, appended on the page (`hx-swap="beforeend"`). */
  private publishLog(): void {
    const tail = logTail();
    if (!tail.length) return;
    const i = this.logSeen ? tail.lastIndexOf(this.logSeen) : tail.length - 1;
    const fresh = tail.slice(i + 1);
    if (!fresh.length) return;
    this.logSeen = tail[tail.length - 1]!;
    this.publish('log', W.logLines(fresh));
  }

  private drop(c: Client | undefined): void {
    if (!c || c.closed) return;
    c.closed = true;
    this.clients.delete(c);
    try {
      c.controller.close();
    } catch {
      // Already closed by the client going away.
    }
  }

  close(): void {
    for (const u of this.unsubscribe) u();
    for (const c of [...this.clients]) this.drop(c);
    clearInterval(this.timer);
    this.timer = undefined;
    this.releaseWake?.();
    this.releaseWake = undefined;
  }
}

export const sseRoutes = (ctx: AppContext, hub: SseHub) =>
  new Elysia({ name: 'sse' }).get('/events', ({ query }) => hub.connect(String(query.page ?? 'dashboard')));
