/**
 * A box fresh out of the card, claimed from another computer as the image serves it (HTTPS on,
 * no password): the setup code from hark-setup.txt claims it once, over HTTPS; a wrong code
 * does not; afterwards the file says the password is set. The same helper
 * (test/lib/session.ts) claims the QEMU guest in the image's boot test.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test';
import { mkdtempSync, readFileSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHark, type HarkProcess } from './lib/hark.ts';
import { claimWithSetupCode } from './lib/session.ts';

/** This machine's own non-loopback IPv4 address: requests to it are not from loopback. */
const LAN_IP = Object.values(networkInterfaces())
  .flat()
  .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
if (!LAN_IP) throw new Error('this test needs a non-loopback IPv4 address on the machine (the test harness has eth0)');

let hark: HarkProcess;
const codeFile = join(mkdtempSync(join(tmpdir(), 'hark-claim-')), 'hark-setup.txt');
let tlsPort = 0;

beforeAll(async () => {
  const s = Bun.listen({ hostname: '0.0.0.0', port: 0, socket: { data() {} } });
  tlsPort = s.port;
  s.stop(true);
  hark = await startHark(`[tls]\nenabled = true\nport = ${tlsPort}\n[webrtc]\nenabled = false\n`, { env: { HARK_SETUP_CODE_FILE: codeFile, RUNTIME_DIRECTORY: '' }, timeoutMs: 60_000 });
  // HTTPS comes up beside HTTP (its certificate is made at start).
  for (let i = 0; i < 100; i++) {
    if (await fetch(`https://${LAN_IP}:${tlsPort}/ca.crt`, { tls: { rejectUnauthorized: false } } as RequestInit).then((r) => r.ok, () => false)) break;
    await Bun.sleep(100);
  }
}, 90_000);
afterAll(async () => {
  expect(await hark?.stop()).toBe(0);
});

test('the code in hark-setup.txt claims the box from another computer over HTTPS, once; a wrong one does not', async () => {
  const text = readFileSync(codeFile, 'utf8');
  const code = text.match(/\b([A-HJ-KM-NP-Z2-9]{4}-[A-HJ-KM-NP-Z2-9]{4})\b/)?.[1];
  expect(code).toBeDefined();
  const base = `https://${LAN_IP}:${tlsPort}`;
  const wrong = await claimWithSetupCode(base, 'AAAA-AAAA', 'a long enough password');
  expect(wrong.askedForCode).toBe(true);
  expect(wrong.postStatus).not.toBe(303);
  const ok = await claimWithSetupCode(base, code!, 'a long enough password');
  expect(ok.askedForCode).toBe(true);
  expect(`${ok.postStatus} ${ok.location}`).toBe('303 /');
  const again = await claimWithSetupCode(base, code!, 'another long password');
  expect(again.getStatus).toBe(404);
  expect(readFileSync(codeFile, 'utf8')).toContain('password is set');
  expect(readFileSync(codeFile, 'utf8')).not.toContain(code!);
}, 60_000);
