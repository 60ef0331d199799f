/**
 * Muting while off air is a state of its own: it is published, saved to state.json and
 * still there after a restart (control.on_boot = "last"): `/api/status` and the dashboard's
 * state panel (its Unmute button) say so.
 */
import { afterAll, expect, test } from 'bun:test';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { startHark, type HarkProcess } from './lib/hark.ts';
import { login } from './lib/session.ts';

const CLI = resolve(import.meta.dir, '../src/cli/main.ts');
const PASSWORD = 'correct horse battery';
/** This test's fixed WebRTC port (c2's range 31200-31299). */
const UDP_PORT = 31200 + Math.floor(Math.random() * 50);
let hark: HarkProcess | undefined;

afterAll(async () => {
  await hark?.stop();
});

async function cli(...args: string[]): Promise<string> {
  const p = Bun.spawn([process.execPath, CLI, '--socket', join(hark!.dir, 'hark.sock'), ...args], { stdout: 'pipe', stderr: 'pipe' });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  expect({ code, err }).toEqual({ code: 0, err: '' });
  return out;
}

const control = async () => ((await (await fetch(`${hark!.url}/api/status`)).json()) as { control: { state: string; live: boolean; muted: boolean } }).control;

test('muted while off air, hark restarts still muted and off air (API and dashboard)', async () => {
  hark = await startHark(`[input]\nsource = "tone"\n[control]\non_boot = "last"\n[webrtc]\nudp_port = ${UDP_PORT}\n[admin]\npassword = "${PASSWORD}"\n`);
  // A fresh box with on_boot = "last" starts live: stop first, then mute while off air.
  expect(await cli('stop')).toBe('stopped (now idle)\n');
  expect(await cli('mute')).toBe('muted (now idle)\n');
  expect(await control()).toMatchObject({ state: 'idle', live: false, muted: true });
  expect(JSON.parse(readFileSync(join(hark.dir, 'state.json'), 'utf8'))).toMatchObject({ live: false, muted: true });

  const dir = hark.dir;
  expect(await hark.stop()).toBe(0);
  hark = await startHark('', { dir });
  expect(await control()).toMatchObject({ state: 'idle', live: false, muted: true });
  const session = await login(hark.url, PASSWORD);
  const page = await (await fetch(`${hark.url}/`, { headers: { cookie: session }, redirect: 'manual' })).text();
  const panel = page.match(/<section id="state-panel"[\s\S]*?<\/section>/)?.[0] ?? '';
  expect(panel).toContain('hx-post="/ui/action/unmute"');
  expect(panel).toContain('>Unmute</button>');
  expect(panel).toContain('hx-post="/ui/action/go_live"');
}, 90_000);
