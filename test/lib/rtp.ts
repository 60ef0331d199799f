/**
 * Helpers for the RTP output's tests: a free even UDP port pair, and ffmpeg opening an SDP
 * (saved from /rtp/<id>.sdp) and decoding what arrives to float samples.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** An even UDP port whose odd neighbour (RTCP's) is free too, on 0.0.0.0. */
export async function freeRtpPort(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const s = await Bun.udpSocket({ port: 0 });
    const p = s.port;
    s.close();
    const even = p % 2 === 0 ? p : p - 1;
    if (even < 1024) continue;
    try {
      const a = await Bun.udpSocket({ port: even });
      const b = await Bun.udpSocket({ port: even + 1 });
      a.close();
      b.close();
      return even;
    } catch {
      // taken: try another
    }
  }
  throw new Error('no free even UDP port pair');
}

/**
 * Save `sdp` in `dir` and let ffmpeg receive `seconds` of the stream it describes, decoded to
 * interleaved float at 48 kHz with `channels` channels.
 */
export async function receiveWithFfmpeg(sdp: string, dir: string, name: string, seconds: number, channels: 1 | 2 = 1): Promise<{ samples: Float32Array; log: string }> {
  const file = join(dir, `${name}.sdp`);
  writeFileSync(file, sdp);
  const p = Bun.spawn(
    ['ffmpeg', '-hide_banner', '-nostdin', '-loglevel', 'warning', '-protocol_whitelist', 'file,udp,rtp', '-i', file, '-t', String(seconds), '-f', 'f32le', '-ac', String(channels), '-ar', '48000', 'pipe:1'],
    { stdout: 'pipe', stderr: 'pipe' },
  );
  const killer = setTimeout(() => p.kill('SIGKILL'), (seconds + 15) * 1000);
  const [out, log] = await Promise.all([new Response(p.stdout).arrayBuffer(), new Response(p.stderr).text(), p.exited]);
  clearTimeout(killer);
  return { samples: new Float32Array(out, 0, Math.floor(out.byteLength / 4)), log };
}
