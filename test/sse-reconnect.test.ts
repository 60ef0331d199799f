/**
 * The admin pages' live connection (/events) after pages came and went: a page opened later
 * still gets every change. (The hub once remembered what it last sent to pages that had since
 * closed, and kept a change back from a new page when the state went back to that value: mute,
 * close the page, unmute, open a page, mute again — and the new page still said "Live".)
 */
import { afterAll, beforeAll, expect, test } from 'bun:test';
import { join } from 'node:path';
import { startHark, type HarkProcess } from './lib/hark.ts';

let hark: HarkProcess;
beforeAll(async () => {
  hark = await startHark('[input]\nsource = "tone"\n[webrtc]\nenabled = false\n');
}, 60_000);
afterAll(async () => {
  expect(await hark?.stop()).toBe(0);
});

const sock = (path: string, init: RequestInit = {}) => fetch(`http://localhost${path}`, { ...init, unix: join(hark.dir, 'hark.sock') } as RequestInit);
const action = async (name: string) => expect((await sock(`/api/actions/${name}`, { method: 'POST' })).status).toBe(200);

/** An open dashboard: the latest `state-badge` fragment it was sent. */
async function openPage() {
  const ac = new AbortController();
  const res = await sock('/events?page=dashboard', { signal: ac.signal });
  expect(res.status).toBe(200);
  let badge = '';
  let buf = '';
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  const pump = (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buf += value;
        let i: number;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const msg = buf.slice(0, i);
          buf = buf.slice(i + 2);
          if (msg.startsWith('event: state-badge\n')) badge = msg.split('\n').slice(1).map((l) => l.replace(/^data: /, '')).join('\n');
        }
      }
    } catch {}
  })();
  return {
    badge: () => badge,
    async waitFor(word: string, ms = 3000) {
      const end = Date.now() + ms;
      while (Date.now() < end && !badge.includes(`>${word}<`)) await Bun.sleep(25);
      return badge;
    },
    async close() {
      ac.abort();
      await pump;
    },
  };
}

test('mute, close the page, unmute, open a page, mute again: the new page says "Muted"', async () => {
  const a = await openPage();
  expect(await a.waitFor('Live')).toContain('>Live<');
  await action('mute');
  expect(await a.waitFor('Muted')).toContain('>Muted<');
  await a.close();
  await action('unmute');
  // Let the hub notice the page has gone.
  await Bun.sleep(300);
  const b = await openPage();
  expect(await b.waitFor('Live')).toContain('>Live<');
  await action('mute');
  expect(await b.waitFor('Muted')).toContain('>Muted<');
  await action('unmute');
  expect(await b.waitFor('Live')).toContain('>Live<');
  await b.close();
}, 30_000);

test('two pages open: each change reaches both, and one closing does not hold changes back from the other', async () => {
  const a = await openPage();
  const b = await openPage();
  await action('mute');
  expect(await a.waitFor('Muted')).toContain('>Muted<');
  expect(await b.waitFor('Muted')).toContain('>Muted<');
  await a.close();
  await action('unmute');
  expect(await b.waitFor('Live')).toContain('>Live<');
  await b.close();
}, 30_000);

test('a widget only one kind of page shows: that page closing while another stays open holds nothing back', async () => {
  // The Listeners page's table is not on the dashboard: the dashboard staying open keeps the hub
  // running, and the table's last value must not outlive the last Listeners page.
  const dash = await openPage();
  const open = async () => {
    const ac = new AbortController();
    const res = await sock('/events?page=system', { signal: ac.signal });
    const r = res.body!.getReader();
    await r.read();
    return () => ac.abort();
  };
  const closeSystem = await open();
  await action('mute');
  expect(await dash.waitFor('Muted')).toContain('>Muted<');
  closeSystem();
  await action('unmute');
  expect(await dash.waitFor('Live')).toContain('>Live<');
  await dash.close();
}, 30_000);
