/**
 * Janus (Debian package `janus`) as a benchmark peer: its streaming plugin with one RTP
 * mountpoint fed Opus over RTP, and a listener made of node-datachannel that watches it through
 * Janus's HTTP API (create → attach → watch → answer → start).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Subprocess } from 'bun';
import nd from 'node-datachannel';
import type * as ND from 'node-datachannel';

const LIB = '/usr/lib/x86_64-linux-gnu/janus';

export interface JanusProcess {
  proc: Subprocess;
  /** HTTP API base, e.g. http://127.0.0.1:18088/janus */
  url: string;
  /** UDP port the mountpoint takes RTP Opus on (payload type 111). */
  rtpPort: number;
  mountpointId: number;
  stop(): Promise<void>;
}

export async function startJanus(opts: { httpPort: number; rtpPort: number; rtpRange: string }): Promise<JanusProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'hark-janus-'));
  const arch = process.arch === 'arm64' ? 'aarch64-linux-gnu' : 'x86_64-linux-gnu';
  const lib = LIB.replace('x86_64-linux-gnu', arch);
  writeFileSync(
    join(dir, 'janus.jcfg'),
    `general: {
  configs_folder = "${dir}"
  plugins_folder = "${lib}/plugins"
  transports_folder = "${lib}/transports"
  events_folder = "${lib}/events"
  loggers_folder = "${lib}/loggers"
  log_to_stdout = true
  debug_level = 3
  session_timeout = 0
}
media: {
  rtp_port_range = "${opts.rtpRange}"
}
nat: {
  nice_debug = false
}
plugins: {
  disable = "libjanus_audiobridge.so,libjanus_duktape.so,libjanus_echotest.so,libjanus_lua.so,libjanus_nosip.so,libjanus_recordplay.so,libjanus_sip.so,libjanus_textroom.so,libjanus_videocall.so,libjanus_videoroom.so,libjanus_voicemail.so"
}
transports: {
  disable = "libjanus_websockets.so,libjanus_pfunix.so,libjanus_mqtt.so,libjanus_nanomsg.so,libjanus_rabbitmq.so"
}
events: {
  broadcast = false
}
loggers: {
  disable = "libjanus_jsonlog.so"
}
`,
  );
  writeFileSync(
    join(dir, 'janus.transport.http.jcfg'),
    `general: {
  json = "compact"
  base_path = "/janus"
  http = true
  port = ${opts.httpPort}
  ip = "127.0.0.1"
  https = false
}
admin: {
  admin_http = false
}
`,
  );
  writeFileSync(
    join(dir, 'janus.plugin.streaming.jcfg'),
    `general: {
}
hark: {
  type = "rtp"
  id = 1
  description = "the same Opus hark sends"
  audio = true
  video = false
  audioport = ${opts.rtpPort}
  audiopt = 111
  audiocodec = "opus"
  audiofmtp = "minptime=10;useinbandfec=1;stereo=1;sprop-stereo=1"
}
`,
  );
  const proc = Bun.spawn(['janus', '--configs-folder', dir, '-F', dir], { stdout: 'pipe', stderr: 'pipe' });
  let out = '';
  void (async () => {
    for await (const c of proc.stdout as ReadableStream<Uint8Array>) out += new TextDecoder().decode(c);
  })();
  const url = `http://127.0.0.1:${opts.httpPort}/janus`;
  const t0 = Date.now();
  for (;;) {
    try {
      const r = await fetch(`${url}/info`);
      if (r.ok) break;
    } catch {}
    if (proc.exitCode !== null || Date.now() - t0 > 20_000) throw new Error(`janus did not start:\n${out.slice(-3000)}`);
    await Bun.sleep(200);
  }
  return {
    proc,
    url,
    rtpPort: opts.rtpPort,
    mountpointId: 1,
    async stop() {
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 3000);
      await proc.exited;
      clearTimeout(t);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

let tx = 0;
async function janus(url: string, body: Record<string, unknown>): Promise<Record<string, any>> {
  const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...body, transaction: `t${++tx}` }) });
  const j = (await r.json()) as Record<string, any>;
  if (j.janus === 'error') throw new Error(`janus: ${JSON.stringify(j.error)}`);
  return j;
}

/** One listener on a Janus streaming mountpoint, node-datachannel on our side. */
export class JanusListener {
  readonly pc = new nd.PeerConnection('janus-listener', { iceServers: [] });
  private tracks: ND.Track[] = [];
  private sessionUrl = '';
  private handleUrl = '';
  packets = 0;
  state = 'new';

  constructor(
    readonly url: string,
    readonly mountpointId: number,
  ) {
    this.pc.onStateChange((s) => (this.state = s));
    this.pc.onTrack((t) => {
      this.tracks.push(t);
      t.onMessage(() => {
        this.packets++;
      });
    });
  }

  async connect(timeoutMs = 15_000): Promise<void> {
    const session = await janus(this.url, { janus: 'create' });
    this.sessionUrl = `${this.url}/${session.data.id}`;
    const handle = await janus(this.sessionUrl, { janus: 'attach', plugin: 'janus.plugin.streaming' });
    this.handleUrl = `${this.sessionUrl}/${handle.data.id}`;
    await janus(this.handleUrl, { janus: 'message', body: { request: 'watch', id: this.mountpointId } });
    // The offer comes as an event on the session's long poll.
    const deadline = Date.now() + timeoutMs;
    let offer: string | undefined;
    while (!offer && Date.now() < deadline) {
      const evs = (await (await fetch(`${this.sessionUrl}?maxev=5&rid=${Date.now()}`)).json()) as Record<string, any> | Record<string, any>[];
      for (const ev of Array.isArray(evs) ? evs : [evs]) if (ev.jsep?.type === 'offer') offer = ev.jsep.sdp;
    }
    if (!offer) throw new Error('janus sent no offer');
    const gathered = new Promise<void>((res) => {
      this.pc.onGatheringStateChange((s) => s === 'complete' && res());
      setTimeout(res, 3000);
    });
    this.pc.setRemoteDescription(offer, 'offer');
    await gathered;
    const answer = this.pc.localDescription()!;
    await janus(this.handleUrl, { janus: 'message', body: { request: 'start' }, jsep: { type: 'answer', sdp: answer.sdp } });
  }

  async close(): Promise<void> {
    try {
      if (this.sessionUrl) await janus(this.sessionUrl, { janus: 'destroy' });
    } catch {}
    this.pc.close();
    this.tracks = [];
  }
}
