/**
 * GET /metrics in the Prometheus text exposition format (version 0.0.4): the run state,
 * listeners, bytes sent, each output's state, capture xruns and drops, levels and the time
 * spent encoding. Rendered on request from the components' own counters.
 */
import { Elysia } from 'elysia';
import type { AppContext } from '../control/context.ts';
import { VERSION } from '../version.ts';
import { outputStatuses } from '../control/outputs.ts';
import { LINK_STATES } from '../outputs/link.ts';
import type { SrtOutput } from '../outputs/srt/index.ts';
import type { RtpOutput } from '../outputs/rtp/index.ts';

type Labels = Record<string, string | number>;

/** Label values escape backslash, double quote and newline (exposition format spec). */
const esc = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
const fmt = (n: number) => (Number.isFinite(n) ? String(n) : n > 0 ? '+Inf' : n < 0 ? '-Inf' : 'NaN');

/** Collects samples by metric family: the format wants each family's lines together. */
class Exposition {
  private readonly families = new Map<string, string[]>();

  metric(name: string, type: 'gauge' | 'counter', help: string, value: number, labels: Labels = {}): void {
    let lines = this.families.get(name);
    if (!lines) this.families.set(name, (lines = [`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`]));
    const l = Object.entries(labels);
    lines.push(`${name}${l.length ? `{${l.map(([k, v]) => `${k}="${esc(String(v))}"`).join(',')}}` : ''} ${fmt(value)}`);
  }

  text(): string {
    return `${[...this.families.values()].flat().join('\n')}\n`;
  }
}

export function renderMetrics(ctx: AppContext): string {
  const m = new Exposition();
  const g = (name: string, help: string, v: number, l?: Labels) => m.metric(name, 'gauge', help, v, l);
  const c = (name: string, help: string, v: number, l?: Labels) => m.metric(name, 'counter', help, v, l);

  g('hark_info', 'hark version', 1, { version: VERSION, bun: Bun.version });
  g('hark_uptime_seconds', 'Seconds since hark started', (Date.now() - ctx.startedAt) / 1000);
  for (const s of ['idle', 'live', 'muted']) g('hark_state', 'The run state (1 for the current one)', ctx.control.state === s ? 1 : 0, { state: s });

  // Every output, from its shared status record (outputs/link.ts): listeners, bytes, state
  const outputs = outputStatuses(ctx);
  for (const o of outputs) if (o.listeners !== null) g('hark_listeners', 'Listeners connected now', o.listeners, { output: o.kind });
  const mp3 = ctx.mp3.status();
  c('hark_listeners_served_total', 'Listeners that connected since start', mp3.listeners_served, { output: 'http_mp3' });
  c('hark_listeners_refused_total', 'Listeners refused (limit reached)', mp3.refused, { output: 'http_mp3' });
  c('hark_listeners_slow_disconnects_total', 'Listeners disconnected for falling behind', mp3.slow_disconnects, { output: 'http_mp3' });
  if (ctx.webrtc) {
    const w = ctx.webrtc.status();
    c('hark_listeners_served_total', 'Listeners that connected since start', w.listeners_served, { output: 'webrtc' });
    c('hark_listeners_refused_total', 'Listeners refused (limit reached)', w.refused, { output: 'webrtc' });
  }
  for (const o of outputs) {
    // WebRTC's bytes are its sessions' now (they come and go): a gauge, not a counter.
    if (o.kind === 'webrtc') g('hark_webrtc_session_bytes', 'Bytes sent to the WebRTC listeners connected now', o.bytes);
    else c('hark_output_bytes_total', 'Bytes sent by an output', o.bytes, { output: o.kind, id: o.id });
    if (o.connects !== undefined) c('hark_output_connects_total', 'Successful connections of an output', o.connects, { output: o.kind, id: o.id });
    // An output under the reconnect handler lists every state it can be in; the others their current one.
    // A kind's own waiting state (the recorder's disk_full, SRT's refused) is listed while it is current.
    const states: readonly string[] = o.connects !== undefined ? [...new Set([...LINK_STATES, o.state])] : [o.state];
    for (const s of states) g('hark_output_up', 'Output state (1 for the current one)', o.state === s ? 1 : 0, { output: o.kind, id: o.id, state: s });
  }
  // SRT links: what libsrt measures of each connection (the last one's while it is down).
  for (const o of ctx.broadcast.outputs('srt') as readonly SrtOutput[]) {
    const st = o.status();
    const l = { id: o.id };
    c('hark_srt_reconnects_total', 'Times an SRT destination connected again after a loss', st.reconnects, l);
    c('hark_srt_dropped_messages_total', 'TS messages the SRT send buffer had no room for', st.dropped_messages, l);
    if (!st.link) continue;
    g('hark_srt_rtt_ms', 'SRT round-trip time, ms', st.link.rtt_ms, l);
    g('hark_srt_send_rate_kbps', 'SRT sending rate, kbit/s', st.link.send_rate_kbps, l);
    g('hark_srt_bandwidth_kbps', 'SRT estimated link bandwidth, kbit/s', st.link.bandwidth_kbps, l);
    g('hark_srt_send_buffer_ms', 'Unacknowledged audio in the SRT send buffer, ms', st.link.send_buffer_ms, l);
    c('hark_srt_packets_sent_total', 'SRT data packets sent on the current connection', st.link.packets_sent, l);
    c('hark_srt_packets_lost_total', 'SRT packets the receiver reported lost on the current connection', st.link.packets_lost, l);
    c('hark_srt_packets_retransmitted_total', 'SRT packets sent again on the current connection', st.link.packets_retransmitted, l);
    c('hark_srt_packets_dropped_total', 'SRT packets dropped as too late on the current connection', st.link.packets_dropped, l);
  }
  // [[rtp]] streams: packets sent, packets the socket refused, SAP announcements.
  for (const o of ctx.broadcast.outputs('rtp') as readonly RtpOutput[]) {
    const r = o.status();
    c('hark_rtp_packets_total', 'RTP packets an [[rtp]] stream sent', r.packets, { id: r.id });
    c('hark_rtp_send_failures_total', 'RTP packets the socket did not take (buffer full, no route, no receiver on a unicast port)', r.send_failures, { id: r.id });
    c('hark_rtp_sap_announcements_total', 'SAP announcements an [[rtp]] stream sent', r.sap_announcements, { id: r.id });
  }
  g('hark_alerts', 'Alerts active now', ctx.broadcast.alerts.list().length);
  // The [[notify]] entries, by index and type only (their addresses are not public).
  for (const n of ctx.notify.statuses()) {
    const l = { index: n.index, type: n.type };
    g('hark_notify_ok', 'Whether a notifier\'s last delivery (or its broker connection) worked', n.state === 'ok' ? 1 : 0, l);
    c('hark_notify_sent_total', 'Notices a notifier delivered', n.sent, l);
    g('hark_notify_queued', 'Notices waiting for a notifier\'s server', n.queued, l);
    c('hark_notify_dropped_total', 'Notices a notifier gave up (queue full, or a day old)', n.dropped, l);
  }
  const fb = ctx.broadcast.fallback.status();
  g('hark_fallback_enabled', 'Whether [fallback] is on', fb.enabled ? 1 : 0);
  g('hark_fallback_active', 'Whether the outputs carry the fallback now (1) or the input (0)', fb.active ? 1 : 0);
  c('hark_fallback_engaged_total', 'Times the fallback engaged since start', fb.engaged_count);
  g('hark_fallback_files_unplayable', 'Fallback files missing or undecodable', fb.files.filter((f) => f.state === 'missing' || f.state === 'error').length);

  // Capture and engine
  const st = ctx.pipeline.stats();
  if (st) {
    c('hark_audio_frames_total', 'Frames that reached the bus (the sample clock, 48 kHz)', st.frames);
    c('hark_audio_silence_frames_total', 'Frames of silence filled in while the source delivered nothing', st.silenceFrames);
    c('hark_audio_discarded_frames_total', 'Input frames dropped because the source ran faster than real time', st.discardedFrames);
    c('hark_audio_stalls_total', 'Times a running source delivered nothing for 0.5 s', st.stalls);
    const s = st.source.stats;
    for (const [key, name, help] of [
      ['xruns', 'hark_capture_xruns_total', 'PipeWire xruns reported for the capture stream'],
      ['ringOverruns', 'hark_capture_ring_overruns_total', 'Times the capture ring overflowed (frames lost before the bus)'],
      ['droppedFrames', 'hark_capture_dropped_frames_total', 'Frames the capture ring dropped'],
    ] as const) {
      // A source without the counter (the test tone) has none of these: 0.
      c(name, help, typeof s[key] === 'number' ? (s[key] as number) : 0);
    }
    // A network input (input.source srt|rtp): its link and its PipeWire output. Only the rows
    // its status carries (a capture device has none of these).
    if (st.source.kind === 'srt' || st.source.kind === 'rtp') {
      const num = (k: string) => (typeof s[k] === 'number' ? (s[k] as number) : undefined);
      const link = { protocol: st.source.kind };
      g('hark_netin_receiving', 'Whether the network input receives packets now', s.link === 'receiving' ? 1 : 0, link);
      for (const [key, name, help, kind] of [
        ['packets', 'hark_netin_packets_total', 'Packets (RTP) the network input took', 'c'],
        ['messages', 'hark_netin_packets_total', 'SRT messages the network input took', 'c'],
        ['bytes', 'hark_netin_bytes_total', 'Bytes the network input received', 'c'],
        ['lost', 'hark_netin_lost_packets_total', 'RTP packets never received (by sequence number)', 'c'],
        ['late', 'hark_netin_late_packets_total', 'RTP packets that came after their time was played', 'c'],
        ['malformed', 'hark_netin_malformed_packets_total', 'Datagrams that were not RTP, or undecodable', 'c'],
        ['foreign', 'hark_netin_foreign_packets_total', 'Packets of another sender or payload type, dropped', 'c'],
        ['concealedFrames', 'hark_netin_concealed_frames_total', 'Frames of Opus loss concealment', 'c'],
        ['underrunFrames', 'hark_netin_underrun_frames_total', 'Frames played before they arrived (silence)', 'c'],
        ['linkLosses', 'hark_netin_link_losses_total', 'Times the link went quiet for a second', 'c'],
        ['bufferFillMs', 'hark_netin_buffer_ms', 'Audio held in the jitter buffer, ms', 'g'],
        ['clockPpm', 'hark_netin_clock_ppm', "How far the pacing follows the sender's clock, ppm", 'g'],
        ['srt_rttMs', 'hark_netin_srt_rtt_ms', 'SRT round-trip time, ms', 'g'],
        ['srt_pktRcvLoss', 'hark_netin_srt_lost_packets_total', 'SRT packets found missing (then asked again)', 'c'],
        ['srt_pktRcvDrop', 'hark_netin_srt_dropped_packets_total', 'SRT packets given up on (too late)', 'c'],
        ['srt_pktRcvRetrans', 'hark_netin_srt_retransmitted_packets_total', 'SRT packets received again', 'c'],
        ['holdMs', 'hark_netin_hold_ms', 'How far behind the newest received audio the input plays, ms', 'g'],
        ['playbackFillMs', 'hark_netin_playback_buffer_ms', 'Audio queued for the PipeWire output, ms', 'g'],
        ['playbackMarginMs', 'hark_netin_playback_margin_ms', 'The least the PipeWire output queue is kept at (grows with each underrun), ms', 'g'],
        ['playbackUnderrunFrames', 'hark_netin_playback_underrun_frames_total', 'Frames the PipeWire output played as silence (it ran dry)', 'c'],
        ['playbackDroppedFrames', 'hark_netin_playback_dropped_frames_total', 'Frames cut from the PipeWire output (it ran over)', 'c'],
      ] as const) {
        const v = num(key);
        if (v !== undefined) (kind === 'c' ? c : g)(name, help, v, link);
      }
    }
    for (const k of st.consumers) {
      c('hark_bus_dropped_frames_total', 'Frames a bus consumer lost by falling behind', k.dropped, { consumer: k.name });
      c('hark_bus_overruns_total', 'Times a bus consumer was overrun', k.overruns, { consumer: k.name });
      if (k.encodeMsTotal !== undefined) c('hark_encoder_seconds_total', 'Time the audio worker spent in the encoder and its packet hand-off (wall clock: on a loaded box it includes waiting for the CPU)', k.encodeMsTotal / 1000, { encoder: k.name });
      if (k.packets !== undefined) c('hark_encoder_packets_total', 'Packets an encoder produced', k.packets, { encoder: k.name });
    }
  }
  const lv = ctx.pipeline.currentLevels();
  lv.peak_dbfs.forEach((v, ch) => g('hark_input_peak_dbfs', 'Input peak level over the last meter window, dBFS', v, { channel: ch }));
  lv.rms_dbfs.forEach((v, ch) => g('hark_input_rms_dbfs', 'Input RMS level over the last meter window, dBFS', v, { channel: ch }));
  lv.clips.forEach((v, ch) => c('hark_input_clips_total', 'Meter windows with a sample at full scale', v, { channel: ch }));
  // Each [[program]] after its processing (none without [[program]] entries: the input's are main's).
  for (const id of ctx.pipeline.programIds()) {
    const pl = ctx.pipeline.programLevels(id);
    if (!pl) continue;
    pl.post.peak_dbfs.forEach((v, ch) => g('hark_program_peak_dbfs', 'A program\'s peak level after its processing, dBFS', v, { program: id, channel: ch }));
    pl.post.rms_dbfs.forEach((v, ch) => g('hark_program_rms_dbfs', 'A program\'s RMS level after its processing, dBFS', v, { program: id, channel: ch }));
    g('hark_program_muted', 'Whether a program alone is muted', ctx.pipeline.programMuted(id) ? 1 : 0, { program: id });
  }
  g('hark_input_running', 'Whether the capture source delivers audio', st?.source.state === 'running' ? 1 : 0, { source: st?.source.kind ?? ctx.config.input.source });
  return m.text();
}

export const metricsRoutes = (ctx: AppContext) =>
  new Elysia({ name: 'metrics' }).get('/metrics', () => new Response(renderMetrics(ctx), { headers: { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'cache-control': 'no-store' } }));
