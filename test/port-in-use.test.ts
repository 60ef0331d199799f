/**
 * Two harks on one TCP port: the second refuses to start, exits non-zero and names the port,
 * and the first keeps answering. (With SO_REUSEPORT both started and split the connections.)
 */
import { afterAll, expect, test } from 'bun:test';
import { startHark, type HarkProcess } from './lib/hark.ts';

const PORT = 29310;
let first: HarkProcess | undefined;
let second: HarkProcess | undefined;

afterAll(async () => {
  await second?.stop();
  await first?.stop();
});

test('a second hark on a port in use refuses to start and says which port', async () => {
  first = await startHark('[webrtc]\nudp_port = 29311\n', { args: ['--port', String(PORT)] });
  expect(first.port).toBe(PORT);
  let error = '';
  try {
    second = await startHark('[webrtc]\nudp_port = 29312\n', { args: ['--port', String(PORT)] });
  } catch (e) {
    error = (e as Error).message;
  }
  expect(second).toBeUndefined();
  expect(error).toMatch(/hark exited with 1 before listening/);
  expect(error).toContain(`port ${PORT} is already in use`);
  // The first one still serves.
  expect((await fetch(`${first.url}/api/status`)).status).toBe(200);
}, 60_000);
