/**
 * N WebRTC listeners in a process of their own, for bench/webrtc-cpu.ts: node-datachannel
 * peers of hark (WHEP) or of Janus's streaming plugin, counting the RTP they receive.
 *
 *   bun bench/webrtc-listeners.ts --kind hark --url http://127.0.0.1:8080/whep --n 10
 *   bun bench/webrtc-listeners.ts --kind janus --url http://127.0.0.1:8088/janus --n 10
 *
 * Prints {"connected": n} once all are playing; on SIGTERM prints {"packets": [...]} and exits.
 */
import { parseArgs } from 'node:util';
import { WhepClient } from '../test/lib/whep-client.ts';
import { JanusListener } from './lib/janus.ts';

const { values: args } = parseArgs({ options: { kind: { type: 'string' }, url: { type: 'string' }, n: { type: 'string', default: '1' } } });
const n = Number(args.n);
const url = args.url!;

interface Listener {
  packets(): number;
  close(): Promise<unknown>;
}

const listeners: Listener[] = [];
const once = async (): Promise<Listener> => {
  if (args.kind === 'janus') {
    const j = new JanusListener(url, 1);
    await j.connect();
    return { packets: () => j.packets, close: () => j.close() };
  }
  const c = new WhepClient({ url, record: false });
  try {
    await c.connect();
    await c.waitFor('connected');
  } catch (e) {
    await c.close();
    throw e;
  }
  return { packets: () => c.packetCount, close: () => c.close() };
};
/** libdatachannel offerers sometimes lose the answer-vs-DTLS race on a loaded machine: retry. */
const make = async (): Promise<Listener> => {
  for (let attempt = 0; ; attempt++) {
    try {
      return await once();
    } catch (e) {
      if (attempt >= 2) throw e;
    }
  }
};

for (let i = 0; i < n; i += 10) {
  const batch = await Promise.all(Array.from({ length: Math.min(10, n - i) }, () => make()));
  listeners.push(...batch);
}
// Wait for media on every listener.
const t0 = Date.now();
while (listeners.some((l) => l.packets() === 0) && Date.now() - t0 < 10_000) await Bun.sleep(100);
console.log(JSON.stringify({ connected: listeners.filter((l) => l.packets() > 0).length }));

process.on('SIGTERM', async () => {
  console.log(JSON.stringify({ packets: listeners.map((l) => l.packets()) }));
  await Promise.all(listeners.map((l) => l.close().catch(() => {})));
  process.exit(0);
});
setInterval(() => {}, 1000);
