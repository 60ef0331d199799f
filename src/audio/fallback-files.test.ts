import { afterAll, expect, test } from 'bun:test';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadFallbackFiles } from './fallback-files.ts';

const dir = mkdtempSync(join(tmpdir(), 'hark-fbfiles-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test('the decode thread reports each missing, unreadable or broken file by name with its reason; the good ones load', async () => {
  const good = join(dir, 'good.ogg');
  const r = Bun.spawnSync(['ffmpeg', '-v', 'error', '-y', '-f', 'lavfi', '-i', 'sine=frequency=440:duration=1.5', '-c:a', 'libopus', good]);
  expect(r.exitCode).toBe(0);
  const wav = join(dir, 'cut.wav');
  Bun.spawnSync(['ffmpeg', '-v', 'error', '-y', '-f', 'lavfi', '-i', 'sine=frequency=440:duration=1', wav]);
  writeFileSync(wav, readFileSync(wav).subarray(0, 20_000));
  writeFileSync(join(dir, 'garbage.mp3'), new Uint8Array(30_000).map((_, i) => (i * 7919) & 0xff));
  writeFileSync(join(dir, 'text.flac'), 'not audio at all');
  mkdirSync(join(dir, 'folder.wav'));
  const names = ['missing.flac', 'folder.wav', 'garbage.mp3', 'text.flac', 'cut.wav', 'good.ogg'].map((n) => join(dir, n));
  const reports = await loadFallbackFiles(names, 2);
  expect(reports.map(({ clip: _c, ...x }) => x)).toEqual([
    { name: names[0]!, state: 'missing', message: 'no such file', seconds: 0 },
    { name: names[1]!, state: 'error', message: 'cannot read it: not a regular file', seconds: 0 },
    { name: names[2]!, state: 'error', message: 'cannot decode it: not a WAV, FLAC, Ogg/Opus or MP3 file', seconds: 0 },
    { name: names[3]!, state: 'error', message: 'cannot decode it: not a WAV, FLAC, Ogg/Opus or MP3 file', seconds: 0 },
    { name: names[4]!, state: 'error', message: expect.stringMatching(/^cannot decode it: cut short: the data chunk holds \d+ of \d+ bytes$/), seconds: 0 },
    { name: names[5]!, state: 'ok', message: '', seconds: 1.5, format: 'ogg-opus' },
  ]);
  const clip = reports[5]!.clip!;
  expect(clip).toMatchObject({ name: 'good.ogg', frames: 72_000 });
  expect(clip.pcm).toBeInstanceOf(SharedArrayBuffer);
}, 60_000);
