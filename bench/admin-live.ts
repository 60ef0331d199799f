/**
 * How fast the admin page shows a change made elsewhere, and how often its meters update: the
 * goals "Go live on one page shows Live on another within 1 s" and "meters at ~15 updates a
 * second". test/admin-e2e.test.ts asserts the behaviour (the change is pushed over the SSE
 * connection the page holds; the meters keep updating); timed there, on a loaded machine, it
 * measured how starved the browser was (1.7 s at load 44), not hark.
 *
 * Both are timed inside the browser (one clock): from the click on page A to the mutation of
 * page B's DOM; meter frames counted on page B over a window of its own clock.
 *
 * Peer, in the same run and the same Chromium: a bare Bun.serve page pair — a button that
 * POSTs, an EventSource on the other page that writes the word into a span, and an SSE stream
 * of meter-sized events every METER_MS. It is the floor of click → HTTP → server → SSE → DOM
 * on this machine at this load; "hark ÷ bare" says what hark adds (htmx's swap, the state
 * machine, the widget render).
 *
 *   bun bench/admin-live.ts [rounds]
 */
import { loadavg } from 'node:os';
import type { Page } from 'playwright-core';
import { METER_MS } from '../src/http/sse.ts';
import { launchChromium } from '../test/lib/browser.ts';
import { startHark } from '../test/lib/hark.ts';
import { setupPassword, useSession } from '../test/lib/session.ts';
import { appendResults } from './lib.ts';

const rounds = Number(process.argv[2] ?? 10);
const METER_WINDOW_MS = 5000;

declare global {
  interface Window {
    benchSawAt?: number;
    /** The bare page's last meter event. */
    seq?: number;
  }
}

/** Arm page `b` to note when `selector`'s text becomes `word`; click `button` on page `a`; ms between. */
async function clickToShown(a: Page, b: Page, button: string, selector: string, word: string): Promise<number> {
  await b.evaluate(
    ([sel, w]) => {
      window.benchSawAt = undefined;
      const obs = new MutationObserver(() => {
        if (document.querySelector(sel!)?.textContent === w) {
          window.benchSawAt = Date.now();
          obs.disconnect();
        }
      });
      obs.observe(document.body, { subtree: true, childList: true, characterData: true });
    },
    [selector, word],
  );
  const clickedAt = await a.evaluate((sel) => {
    (document.querySelector(sel) as HTMLButtonElement).click();
    return Date.now();
  }, button);
  await b.waitForFunction(() => window.benchSawAt, null, { timeout: 30_000 });
  return (await b.evaluate(() => window.benchSawAt!)) - clickedAt;
}

/** Meter frames a second on page `b`, counted with `read` over the page's own clock. */
async function framesPerSecond(b: Page, read: string): Promise<number> {
  return b.evaluate(
    async ([expr, ms]) => {
      const get = () => Number(new Function(`return ${expr}`)());
      const s0 = get();
      const t0 = performance.now();
      await new Promise((r) => setTimeout(r, Number(ms)));
      return ((get() - s0) * 1000) / (performance.now() - t0);
    },
    [read, String(METER_WINDOW_MS)],
  );
}

const chrome = await launchChromium();
const median = (v: number[]) => [...v].sort((x, y) => x - y)[Math.floor(v.length / 2)] ?? NaN;
const max = (v: number[]) => Math.max(...v);

// ---- hark
const hark = await startHark(`[input]\nsource = "tone"\n[control]\non_boot = "idle"\n[webrtc]\nenabled = false\n`);
const cookie = await setupPassword(hark.url, 'bench password here');
const pagesOf = async () => {
  const ctx = await chrome.browser.newContext();
  await useSession(ctx, hark.url, cookie);
  const p = await ctx.newPage();
  await p.goto(`${hark.url}/`);
  await p.locator('#meters .meter').first().waitFor();
  return p;
};
const [ha, hb] = [await pagesOf(), await pagesOf()];
const harkShown: number[] = [];
for (let i = 0; i < rounds; i++) {
  harkShown.push(await clickToShown(ha, hb, '#state-panel button.go', '.state-word', 'Live'));
  await clickToShown(ha, hb, '#state-panel button.stop', '.state-word', 'Off air');
}
// The dashboard's CSP refuses eval: count data-seq from here instead, over the page's clock.
const harkFps = await hb.evaluate(async (ms) => {
  const get = () => Number(document.querySelector('#meters .meters')?.getAttribute('data-seq'));
  const s0 = get();
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, ms));
  return ((get() - s0) * 1000) / (performance.now() - t0);
}, METER_WINDOW_MS);
await hark.stop();

// ---- the peer: a bare SSE page pair
const clients = new Set<ReadableStreamDefaultController<Uint8Array>>();
const enc = new TextEncoder();
const send = (event: string, data: string) => {
  for (const c of clients) c.enqueue(enc.encode(`event: ${event}\ndata: ${data}\n\n`));
};
let seq = 0;
const ticker = setInterval(() => send('meter', JSON.stringify({ s: ++seq, p: -12, r: -15, h: -12, c: [0, 0] })), METER_MS);
const page = `<!doctype html><button class="go" onclick="fetch('/act?w=Live',{method:'POST'})">Go</button><button class="stop" onclick="fetch('/act?w=Off%20air',{method:'POST'})">Stop</button>
<span class="state-word">Off air</span><script>const es=new EventSource('/events');window.seq=0;
es.addEventListener('state',e=>{document.querySelector('.state-word').textContent=e.data});
es.addEventListener('meter',e=>{window.seq=JSON.parse(e.data).s});</script>`;
const bare = Bun.serve({
  hostname: '127.0.0.1',
  port: 0,
  idleTimeout: 0,
  fetch(req) {
    const u = new URL(req.url);
    if (u.pathname === '/act') {
      send('state', u.searchParams.get('w') ?? '');
      return new Response(null, { status: 204 });
    }
    if (u.pathname === '/events') {
      let me: ReadableStreamDefaultController<Uint8Array>;
      return new Response(
        new ReadableStream<Uint8Array>({ start: (c) => void clients.add((me = c)), cancel: () => void clients.delete(me) }),
        { headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-store' } },
      );
    }
    return new Response(page, { headers: { 'content-type': 'text/html' } });
  },
});
const barePage = async () => {
  const p = await (await chrome.browser.newContext()).newPage();
  await p.goto(`http://127.0.0.1:${bare.port}/`);
  await p.waitForFunction(() => (window.seq ?? 0) > 0);
  return p;
};
const [ba, bb] = [await barePage(), await barePage()];
const bareShown: number[] = [];
for (let i = 0; i < rounds; i++) {
  bareShown.push(await clickToShown(ba, bb, 'button.go', '.state-word', 'Live'));
  await clickToShown(ba, bb, 'button.stop', '.state-word', 'Off air');
}
const bareFps = await framesPerSecond(bb, 'window.seq');
clearInterval(ticker);
bare.stop(true);
await chrome.close();

const f = (x: number) => x.toFixed(0);
appendResults(
  'Admin page: a change shown on another page, and meter updates — hark vs a bare SSE page',
  `bun bench/admin-live.ts ${rounds}`,
  ['what', 'hark', 'bare SSE page', 'hark ÷ bare', 'goal'],
  [
    ['Go live clicked on page A → page B shows Live (ms, median / max)', `${f(median(harkShown))} / ${f(max(harkShown))}`, `${f(median(bareShown))} / ${f(max(bareShown))}`, (median(harkShown) / median(bareShown)).toFixed(2), '< 1000 ms'],
    [`meter frames a second on page B (over ${METER_WINDOW_MS / 1000} s)`, harkFps.toFixed(1), bareFps.toFixed(1), (harkFps / bareFps).toFixed(2), '10–20 (METER_MS = ' + METER_MS + ')'],
  ],
  `${rounds} rounds (Go live, then Stop). Times inside Chromium (Date.now() on both pages: one clock). Load average at the end: ${loadavg().map((x) => x.toFixed(1)).join(' ')}.`,
);
process.exit(0);
