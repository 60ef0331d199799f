import { describe, expect, test } from 'bun:test';
import { NetRing } from './ring.ts';

describe('NetRing packetFrames (what the reader of an SRT link must hold at least; a burst is remembered for 5–10 s)', () => {
  test('writes in one burst add up; writes apart count one by one; a restart forgets', async () => {
    const r = NetRing.create(4096, 2);
    const pkt = new Float32Array(192 * 2);
    expect(r.packetFrames).toBe(0);
    r.write(0, pkt, 192);
    expect(r.packetFrames).toBe(192);
    // three more at once (a late wake of the receiver): one burst of 4 packets
    r.write(192, pkt, 192);
    r.write(384, pkt, 192);
    r.write(576, pkt, 192);
    expect(r.packetFrames).toBe(768);
    // one more after a pause: the most stays
    await Bun.sleep(10);
    r.write(768, pkt, 192);
    expect(r.packetFrames).toBe(768);
    r.restart(2000);
    expect(r.packetFrames).toBe(0);
    await Bun.sleep(10);
    r.write(2000, pkt, 192);
    expect(r.packetFrames).toBe(192);
  });
});
