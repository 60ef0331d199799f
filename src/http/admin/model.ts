/**
 * What the admin page shows, read from the running daemon: rows for the output and listener
 * tables, system facts. Shared by the pages, the fragments and the SSE hub.
 */
import { hostname, loadavg, networkInterfaces, uptime } from 'node:os';
import { mdnsName } from '../../control/mdns-name.ts';
import { readFileSync, statfsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { AppContext } from '../../control/context.ts';
import type { ListenerRow, OutputRow } from '../../../web/templates/components.ts';
import { VERSION } from '../../version.ts';
import { entryId as icecastEntryId } from '../../config/icecast-target.ts';
import { resolveTarget } from '../../config/icecast-target.ts';
import { whipEntryId } from '../../outputs/whip/index.ts';
import type { Config } from '../../config/schema.ts';
import { logger } from '../../log.ts';
import { outputStatuses } from '../../control/outputs.ts';
import { connectionQuality, describeAgent } from './agents.ts';
import { duration, spaceText } from './local-time.ts';
import { notifyWhere } from '../../config/notify-url.ts';
import { srtEntryId, type SrtOutput } from '../../outputs/srt/index.ts';
import { srtTarget } from '../../config/srt-url.ts';
import { rtpEntryId } from '../../config/rtp-check.ts';

const KIND_LABEL = { icecast: 'Icecast', whip: 'WHIP' } as const;
const NOTIFY_LABEL = { webhook: 'Web address', email: 'E-mail', mqtt: 'MQTT broker' } as const;

/**
 * The one name of an [[icecast]] / [[whip]] entry, wherever a page shows it (the "Now" table,
 * the entry list): its kind and its id ("Icecast" "live.mp3"), and where it sends.
 */
export function entryName(kind: 'icecast' | 'whip' | 'srt' | 'rtp' | 'notify', config: Config, i: number): { kind: string; id: string; where: string } {
  if (kind === 'notify') {
    const n = config.notify[i]!;
    return { kind: NOTIFY_LABEL[n.type], id: n.name || (n.type === 'email' ? n.to.join(', ') : ''), where: notifyWhere(n.type, n.url) };
  }
  if (kind === 'srt') {
    const e = config.srt[i]!;
    const format = e.payload === 'pcm' ? 'uncompressed' : `${e.payload === 'opus' ? 'Opus' : e.payload.toUpperCase()} ${e.bitrate_kbps} kbit/s`;
    let where: string;
    try {
      const t = srtTarget(e);
      const host = t.host.includes(':') ? `[${t.host}]` : t.host;
      where = t.mode === 'caller' ? `calls ${host}:${t.port}` : `waits for a call on port ${t.port}`;
      if (t.passphrase) where += ', encrypted';
    } catch {
      where = 'address not valid';
    }
    return { kind: 'SRT link', id: srtEntryId(e, i), where: `${where} · ${format}` };
  }
  if (kind === 'rtp') {
    const r = config.rtp[i]!;
    return { kind: 'RTP', id: rtpEntryId(r, i), where: `${r.address.includes(':') ? `[${r.address}]` : r.address}:${r.port} ${r.payload.toUpperCase()}` };
  }
  if (kind === 'whip') {
    const w = config.whip[i]!;
    return { kind: KIND_LABEL.whip, id: whipEntryId(w, i), where: w.url };
  }
  const e = config.icecast[i]!;
  let where: string;
  try {
    const t = resolveTarget(e);
    where = `${t.host.includes(':') ? `[${t.host}]` : t.host}:${t.port}${t.mount}`;
  } catch {
    where = e.url ? e.url.replace(/\/\/[^@/]*@/, '//') : `${e.host}:${e.port}${e.mount}`;
  }
  return { kind: KIND_LABEL.icecast, id: icecastEntryId(e, i), where };
}

/** What the page calls each kind of output. */
const OUTPUT_LABEL: Record<string, string> = { http_mp3: 'Stream MP3', webrtc: 'WebRTC', recording: 'Recording', srt: 'SRT', rtp: 'RTP', ...KIND_LABEL };

/** An SRT link's numbers in a few words: "RTT 12 ms · 3 lost, 3 resent · 0 ms buffered". */
function srtLinkText(ctx: AppContext, id: string): string | undefined {
  const out = (ctx.broadcast.outputs('srt') as readonly SrtOutput[]).find((o) => o.id === id);
  const s = out?.status();
  if (!s) return undefined;
  if (!s.link || s.state !== 'live') return s.url;
  const l = s.link;
  return `${s.url} · RTT ${l.rtt_ms} ms · ${l.packets_lost} lost, ${l.packets_retransmitted} resent · ${l.send_buffer_ms} ms buffered · ${Math.round(l.send_rate_kbps)} kbit/s`;
}

/** The "Now" table: one row per output, from the shared status records. */
export function outputRows(ctx: AppContext): OutputRow[] {
  const rows: OutputRow[] = [];
  const index = new Map<string, number>();
  for (const o of outputStatuses(ctx)) {
    const label = OUTPUT_LABEL[o.kind] ?? o.kind;
    if (o.kind === 'icecast' || o.kind === 'whip' || o.kind === 'rtp') {
      const i = index.get(o.kind) ?? 0;
      index.set(o.kind, i + 1);
      const n = i < ctx.config[o.kind].length ? entryName(o.kind, ctx.config, i) : { kind: label, id: o.id, where: o.where };
      rows.push({ kind: n.kind, id: n.id, state: o.state, detail: o.detail, extra: n.where });
    } else if (o.kind === 'recording') {
      if (!o.enabled && o.state === 'stopped') rows.push({ kind: label, id: '', state: 'disabled', detail: 'Turned off in the settings' });
      else {
        const free = ctx.broadcast.recorder.status().free_mb;
        rows.push({ kind: label, id: '', state: o.state, detail: o.detail, extra: free !== null ? `${spaceText(free * 1048576)} free` : undefined });
      }
    } else if (o.kind === 'srt') rows.push({ kind: label, id: o.id, state: o.state, detail: o.detail, extra: srtLinkText(ctx, o.id) });
    else rows.push({ kind: label, id: o.id, state: o.state, detail: o.detail, extra: o.where || undefined });
  }
  return rows;
}

export function listenerRows(ctx: AppContext, now = Date.now()): ListenerRow[] {
  // "Just joined" for the first minute: the row then changes once a minute, not every second.
  const listening = (since: string) => {
    const s = (now - Date.parse(since)) / 1000;
    return s < 60 ? 'just joined' : `listening ${duration(s)}`;
  };
  // Each program's /stream/<id>.mp3 (main's is /stream.mp3): one list, the program named when there are several.
  const several = ctx.config.program.length > 0;
  const rows: ListenerRow[] = ctx.streams.all(ctx.config).flatMap(({ id, out }) => {
    const path = out === ctx.mp3 ? '/stream.mp3' : `/stream/${id}.mp3`;
    const name = several ? (ctx.config.program.find((p) => p.id === id)?.name || id) : '';
    return out.listenerInfo().map((l) => ({
      via: 'MP3',
      id: out === ctx.mp3 ? String(l.id) : `${id}-${l.id}`,
      remote: l.remote,
      since: l.connectedSince,
      agent: l.userAgent,
      detail: `${Math.round(l.bytes / 1024)} kB sent${l.queuedBytes ? `, ${Math.round(l.queuedBytes / 1024)} kB queued` : ''}`,
      who: describeAgent(l.userAgent),
      how: name ? `MP3 stream of ${name}` : 'MP3 stream',
      listening: listening(l.connectedSince),
      quality: l.queuedBytes > 64 * 1024 ? 'falling behind' : '',
      qualityClass: l.queuedBytes > 64 * 1024 ? 'poor' : '',
      tech: `MP3 ${ctx.config.mp3.bitrate_kbps} kbit/s (${path})`,
    }));
  });
  for (const l of ctx.webrtc?.listeners() ?? []) {
    const q = connectionQuality(l.rtt_ms, l.fraction_lost);
    const since = l.connected_since ?? l.created_at;
    rows.push({
      via: `WebRTC ${l.codec}`,
      id: l.id,
      remote: l.remote,
      since,
      agent: l.user_agent,
      detail: `${l.state}${l.rtt_ms !== null ? `, RTT ${l.rtt_ms} ms` : ''}${l.fraction_lost !== null ? `, loss ${(l.fraction_lost * 100).toFixed(1)}%` : ''}`,
      who: describeAgent(l.user_agent),
      how: several ? `Listen page: ${ctx.config.program.find((p) => p.id === l.program)?.name || (l.program === 'main' ? ctx.config.program.find((p) => p.id === 'main')?.name || ctx.config.program[0]?.name || 'Main' : l.program)}` : 'Listen page',
      listening: l.connected_since ? listening(l.connected_since) : 'connecting',
      quality: l.state !== 'connected' || q === 'unknown' ? '' : `${q} connection`,
      qualityClass: q === 'unknown' ? '' : q,
      tech: `WebRTC ${l.codec}`,
      // The admin ends a session by its id (whep.ts: an admin's DELETE needs no secret).
      disconnect: `/whep/${encodeURIComponent(l.id)}`,
    });
  }
  return rows;
}

export function listenerTotal(ctx: AppContext): number {
  return ctx.mp3.listenerCount + (ctx.webrtc?.listenerCount ?? 0);
}

export interface SystemInfo {
  hostname: string;
  /** The name the box answers to on the network (what avahi announces): `studio.local`, `studio-2.local` after a clash. */
  mdns_name: string;
  addresses: string[];
  uptime_s: number;
  hark_uptime_s: number;
  cpu_temp_c: number | null;
  load: number[];
  disk: { path: string; free_mb: number; total_mb: number } | null;
  version: string;
  bun: string;
}

function cpuTemp(): number | null {
  try {
    return Math.round(Number(readFileSync('/sys/class/thermal/thermal_zone0/temp', 'utf8')) / 100) / 10;
  } catch {
    return null;
  }
}

export function systemInfo(ctx: AppContext): SystemInfo {
  const addresses: string[] = [];
  for (const [name, list] of Object.entries(networkInterfaces())) {
    for (const a of list ?? []) if (!a.internal) addresses.push(`${a.address} (${name})`);
  }
  let disk: SystemInfo['disk'] = null;
  const path = resolve(ctx.config.recording.dir);
  for (const p of [path, ctx.plane.stateDir]) {
    try {
      const s = statfsSync(p);
      disk = { path: p, free_mb: Math.floor((s.bavail * s.bsize) / 1048576), total_mb: Math.floor((s.blocks * s.bsize) / 1048576) };
      break;
    } catch {
      // The recordings directory may not exist yet.
    }
  }
  return {
    hostname: hostname(),
    mdns_name: mdnsName(),
    addresses,
    uptime_s: Math.round(uptime()),
    hark_uptime_s: Math.round((Date.now() - ctx.startedAt) / 1000),
    cpu_temp_c: cpuTemp(),
    load: loadavg().map((x) => Math.round(x * 100) / 100),
    disk,
    version: VERSION,
    bun: Bun.version,
  };
}
