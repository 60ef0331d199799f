/**
 * `type = "webhook"`: each notice is POSTed as JSON (notice.ts noticeDocument) to the URL, with
 * the entry's headers. A 2xx answer is delivered; 401/403 wait in the slow lane; 429 and 5xx,
 * timeouts and refused connections are retried with the backoff.
 */
import type { Notice } from './notice.ts';
import { noticeDocument } from './notice.ts';
import { DeliveryError, Outbox } from './outbox.ts';
import { baseStatus, hostPort, type Notifier, type NotifierEnv, type NotifyEntry } from './types.ts';
import { VERSION } from '../version.ts';

/** A webhook that has not answered in this long is retried. */
export const WEBHOOK_TIMEOUT_MS = 10_000;

export class WebhookNotifier implements Notifier {
  private readonly outbox: Outbox;
  private readonly url: URL;
  readonly label: string;

  constructor(
    readonly index: number,
    readonly entry: NotifyEntry,
    private readonly env: NotifierEnv,
  ) {
    this.url = new URL(entry.url);
    this.label = entry.name || `Webhook to ${this.url.hostname}`;
    this.outbox = new Outbox((n) => this.send(n), env.changed);
  }

  deliver(n: Notice) {
    return this.outbox.push(n);
  }

  status() {
    return baseStatus(this.index, this.entry, this.label, this.outbox.status());
  }

  async close() {
    this.outbox.close();
  }

  private async send(n: Notice): Promise<void> {
    const where = hostPort(this.url, this.url.protocol === 'https:' ? 443 : 80);
    let res: Response;
    try {
      res = await fetch(this.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': `hark/${VERSION}`, ...this.entry.headers },
        body: JSON.stringify(noticeDocument(n, this.env.box())),
        signal: AbortSignal.timeout(WEBHOOK_TIMEOUT_MS),
        // A redirect is not followed: it could carry the headers (a token) somewhere else.
        redirect: 'manual',
        ...(this.url.protocol === 'https:' && !this.entry.tls_verify ? { tls: { rejectUnauthorized: false } } : {}),
      } as RequestInit);
    } catch (e) {
      const err = e as Error & { code?: string };
      const why = err.name === 'TimeoutError' ? `no answer within ${WEBHOOK_TIMEOUT_MS / 1000} s` : err.code ? `${err.code}: ${err.message}` : err.message;
      throw new DeliveryError(`cannot reach ${where}: ${why}`);
    }
    // The body is not needed, and a hostile server could send it without end.
    await res.body?.cancel().catch(() => undefined);
    if (res.ok) return;
    const text = `${where} answered ${res.status} ${res.statusText}`.trim();
    if (res.status === 401 || res.status === 403) throw new DeliveryError(`${text}: the server refused hark's credentials (check headers)`, 'auth');
    if (res.status === 429 || res.status >= 500 || res.status === 408) throw new DeliveryError(text);
    if (res.status >= 300 && res.status < 400) throw new DeliveryError(`${text} (a redirect to ${res.headers.get('location')?.slice(0, 200) ?? 'nowhere'}): give that address as the url`, 'busy');
    throw new DeliveryError(`${text}: check the URL`, 'busy');
  }
}
