/**
 * The clip ring with a fake packet source: the 15 s before are written at once (bounded by the
 * ring), the 15 s after appended, one clip per alert moment, only the clip alerts, names served
 * strictly, and old clips removed past the bound.
 */
import { afterEach, describe, expect, test } from 'bun:test';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EncodedPacket } from '../codecs/encoder.ts';
import { parseOggPages } from '../codecs/ogg.ts';
import { Alerts } from './alerts.ts';
import { clipName } from './clip-name.ts';
import { ClipRing, MAX_CLIPS } from './clip-ring.ts';

class FakeSource {
  listener?: (p: EncodedPacket) => void;
  subscribe(_spec: unknown, l: (p: EncodedPacket) => void) {
    this.listener = l;
    return () => (this.listener = undefined);
  }
  /** `n` 20 ms packets (a CELT 20 ms TOC byte, then `fill`). */
  push(fill: number, n: number) {
    for (let i = 0; i < n; i++) this.listener?.({ data: new Uint8Array([0xfc, fill, fill]), pts: 0, frames: 960 });
  }
}

let ring: ClipRing | undefined;
afterEach(async () => {
  await ring?.close();
});

function make(clipS = 1) {
  const src = new FakeSource();
  const alerts = new Alerts();
  const dir = mkdtempSync(join(tmpdir(), 'hark-clips-unit-'));
  ring = new ClipRing(src, { dir, spec: { codec: 'opus', channels: 2, bitrateKbps: 48, frameMs: 20, application: 'audio', fec: false, dtx: false, cbr: false, complexity: 3 }, channels: 2, alerts, clipS });
  ring.start();
  return { src, alerts, dir, ring };
}

/** The audio packets' fill bytes in an Ogg file, in order. */
function fills(path: string): number[] {
  const out: number[] = [];
  for (const p of parseOggPages(readFileSync(path))) for (const s of p.segments) if (s.complete && s.data[0] === 0xfc) out.push(s.data[1]!);
  return out;
}

describe('ClipRing', () => {
  test('the second before is on disk at once, the second after follows; nothing is written before an alert', async () => {
    const { src, alerts, dir, ring } = make(1);
    src.push(1, 200); // 4 s of "tone": the ring keeps the last 1 s (+ pre-roll and slack)
    expect(readdirSync(dir)).toEqual([]);
    alerts.raise('silence', 'warning', 'The input has been silent for 1 s');
    const since = alerts.list()[0]!.since;
    const path = join(dir, 'clips', clipName('silence', since));
    // The same alert again (a new message, the same moment): still one clip.
    alerts.raise('silence', 'warning', 'The input has been silent for 2 s');
    for (let i = 0; i < 100 && fills(path).length < 54; i++) await Bun.sleep(20);
    expect(fills(path).length).toBe(54); // 1 s + 80 ms of 20 ms packets
    expect(ring.list()).toMatchObject([{ name: clipName('silence', since), active: true, since: new Date(Math.floor(Date.parse(since) / 1000) * 1000).toISOString() }]);
    src.push(2, 60);
    // Written from the thread pool: wait (bounded) for the end-of-stream page.
    const ended = () => parseOggPages(readFileSync(path)).at(-1)?.eos === true;
    for (let i = 0; i < 100 && !ended(); i++) await Bun.sleep(20);
    const all = fills(path);
    expect(all.length).toBe(54 + 50);
    expect(all.slice(0, 54).every((f) => f === 1)).toBe(true);
    expect(all.slice(54).every((f) => f === 2)).toBe(true);
    // Whole and ended: the last page carries EOS.
    expect(parseOggPages(readFileSync(path)).at(-1)!.eos).toBe(true);
    expect(ring.list()[0]!.active).toBe(false);
    expect(readdirSync(join(dir, 'clips'))).toHaveLength(1);
  });

  test('only silence and input.lost get a clip', async () => {
    const { src, alerts, dir } = make(1);
    src.push(1, 10);
    alerts.raise('recording.disk', 'critical', 'full');
    alerts.raise('input.clock', 'warning', 'drift');
    alerts.raise('input.lost', 'critical', 'Input lost: device lost.');
    await Bun.sleep(20);
    expect(readdirSync(join(dir, 'clips'))).toEqual([clipName('input.lost', alerts.list().find((a) => a.id === 'input.lost')!.since)]);
  });

  test('names are served strictly; past the bound the oldest clips go', async () => {
    const { src, alerts, dir, ring } = make(1);
    mkdirSync(join(dir, 'clips'));
    writeFileSync(join(dir, 'hark.toml'), 'secret');
    for (const bad of ['../hark.toml', '..', 'hark.toml', 'silence-20261203-164005.opus.tmp', '/etc/passwd', 'silence-2026.opus', '']) expect(ring.pathOf(bad)).toBeNull();
    for (let i = 0; i < MAX_CLIPS; i++) writeFileSync(join(dir, 'clips', `silence-2026010${1 + Math.floor(i / 60)}-0000${String(i % 60).padStart(2, '0')}.opus`), 'x');
    src.push(1, 10);
    alerts.raise('silence', 'warning', 'quiet');
    await Bun.sleep(20);
    const left = readdirSync(join(dir, 'clips')).sort();
    expect(left).toHaveLength(MAX_CLIPS);
    expect(left).not.toContain('silence-20260101-000000.opus');
    expect(left).toContain(clipName('silence', alerts.list()[0]!.since));
    expect(ring.pathOf(clipName('silence', alerts.list()[0]!.since))).toBe(join(dir, 'clips', clipName('silence', alerts.list()[0]!.since)));
  });
});
