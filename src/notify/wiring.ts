/**
 * The daemon's parts as the notifiers need them: the box's name and address for links, its live
 * state for MQTT, the control actions (origin `mqtt`) and the bus events that say what changed.
 */
import { hostname, networkInterfaces } from 'node:os';
import type { AppContext } from '../control/context.ts';
import { listenerCount, outputStatuses } from '../control/outputs.ts';
import type { BoxInfo } from './notice.ts';
import type { NotifyDeps } from './index.ts';

type Parts = Pick<AppContext, 'config' | 'pipeline' | 'broadcast' | 'mp3' | 'webrtc' | 'events' | 'control' | 'store' | 'tls'>;

/** The box's first LAN address (IPv4 first; loopback when there is nothing else). */
export function lanAddress(): string {
  let v6 = '';
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) {
      if (a.internal) continue;
      if (a.family === 'IPv4') return a.address;
      if (!v6 && !a.address.toLowerCase().startsWith('fe80')) v6 = `[${a.address}]`;
    }
  }
  return v6 || '127.0.0.1';
}

export function notifyDeps(p: Parts & { stateDir: string; port: () => number }): NotifyDeps {
  const box = (): BoxInfo => {
    const address = lanAddress();
    // Links open the admin pages: over HTTPS when it serves them.
    const https = p.tls.port > 0;
    const port = https ? p.tls.port : p.port() || p.store.config.http.port;
    const shown = (https && port === 443) || (!https && port === 80) ? '' : `:${port}`;
    return { name: hostname(), address, url: `${https ? 'https' : 'http'}://${address}${shown}/` };
  };
  return {
    config: () => p.store.config,
    alerts: p.broadcast.alerts,
    box,
    stateDir: p.stateDir,
    changed: () => p.events.emit({ type: 'notify' }),
    state: {
      control: () => p.control.snapshot(),
      levels: () => p.pipeline.currentLevels(),
      listeners: () => listenerCount(p),
      alerts: () => p.broadcast.alerts.list(),
      outputs: () => outputStatuses(p),
      run: (action, args) => p.control.run(action, args, 'mqtt'),
      onChange: (fn) => {
        const offs = [
          p.events.on('state', () => fn('state')),
          p.events.on('listeners', () => fn('listeners')),
          p.events.on('alert', () => fn('alerts')),
          p.events.on('output', (e) => fn('output', e.output)),
        ];
        return () => offs.forEach((f) => f());
      },
    },
  };
}
