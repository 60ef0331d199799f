/**
 * `type = "email"`: SMTP through nodemailer (loaded at the first send, so a box without an
 * e-mail entry never carries it). smtps:// is TLS from the first byte (port 465); smtp:// uses
 * STARTTLS when the server offers it, and insists on it when the URL carries a password, so a
 * login never crosses the network in clear. The clip of a silence or input-loss alert is
 * attached when its file is there at send time (waited for up to CLIP_WAIT_MS after the alert) and smaller than
 * MAX_ATTACHMENT_BYTES; the link is in the text either way.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Notice } from './notice.ts';
import { headline, noticeText } from './notice.ts';
import { DeliveryError, Outbox } from './outbox.ts';
import { baseStatus, hostPort, type Notifier, type NotifierEnv, type NotifyEntry } from './types.ts';
import { isEmailAddress } from '../config/notify-check.ts';

/** The clip ring writes the 15 s before the alert within a second of it (clip-name.ts): wait this long after the alert was told. */
export const CLIP_WAIT_MS = 1200;
export const MAX_ATTACHMENT_BYTES = 5 * 1024 * 1024;
const TIMEOUT_MS = 10_000;

type Transport = { sendMail(m: Record<string, unknown>): Promise<unknown>; close(): void };

export class EmailNotifier implements Notifier {
  private readonly outbox: Outbox;
  private readonly url: URL;
  private transport?: Transport;
  readonly label: string;

  constructor(
    readonly index: number,
    readonly entry: NotifyEntry,
    private readonly env: NotifierEnv,
  ) {
    this.url = new URL(entry.url);
    this.label = entry.name || `E-mail to ${entry.to.join(', ')}`;
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
    this.transport?.close();
  }

  private get server(): string {
    return hostPort(this.url, this.url.protocol === 'smtps:' ? 465 : 587);
  }

  private async transportNow(): Promise<Transport> {
    if (this.transport) return this.transport;
    const nodemailer = (await import('nodemailer')).default;
    const secure = this.url.protocol === 'smtps:';
    const user = decodeURIComponent(this.url.username);
    const pass = decodeURIComponent(this.url.password);
    this.transport = nodemailer.createTransport({
      host: this.url.hostname.replace(/^\[|\]$/g, ''),
      port: Number(this.url.port) || (secure ? 465 : 587),
      secure,
      requireTLS: !secure && !!pass,
      auth: user ? { user, pass } : undefined,
      tls: { rejectUnauthorized: this.entry.tls_verify },
      connectionTimeout: TIMEOUT_MS,
      greetingTimeout: TIMEOUT_MS,
      socketTimeout: 3 * TIMEOUT_MS,
      name: hostname(),
    }) as unknown as Transport; // nodemailer's SMTPTransport type: only sendMail and close are used
    return this.transport;
  }

  private from(): string {
    if (this.entry.from) return this.entry.from;
    const user = decodeURIComponent(this.url.username);
    if (isEmailAddress(user)) return user;
    const host = hostname().toLowerCase().replace(/[^a-z0-9.-]/g, '') || 'hark';
    return `hark@${host.includes('.') ? host : `${host}.local`}`;
  }

  /** The clip's bytes when its file appears within CLIP_WAIT_MS and is small enough. */
  private async clip(n: Notice): Promise<Buffer | null> {
    if (!n.clipFile) return null;
    const until = Date.parse(n.at) + CLIP_WAIT_MS;
    while (!existsSync(n.clipFile) && Date.now() < until) await Bun.sleep(100);
    try {
      if (statSync(n.clipFile).size > MAX_ATTACHMENT_BYTES) return null;
      return readFileSync(n.clipFile);
    } catch {
      return null;
    }
  }

  private async send(n: Notice): Promise<void> {
    const t = await this.transportNow();
    const box = this.env.box();
    const clip = await this.clip(n);
    try {
      await t.sendMail({
        from: `hark ${box.name} <${this.from()}>`,
        to: this.entry.to,
        subject: headline(n, box).slice(0, 200),
        text: noticeText(n, box, !!clip),
        attachments: clip ? [{ filename: n.clipFile!.split('/').pop(), content: clip, contentType: 'audio/ogg' }] : [],
      });
    } catch (e) {
      throw smtpError(e as Error & { code?: string; responseCode?: number; response?: string }, this.server);
    }
  }
}

/** nodemailer's error codes in words, and whether retrying soon can help. */
export function smtpError(e: Error & { code?: string; responseCode?: number; response?: string }, server: string): DeliveryError {
  const said = (e.response ?? e.message).split('\n')[0]!.slice(0, 200);
  // 530: "Authentication required" (RFC 4954 §6) before MAIL FROM.
  if (e.responseCode === 530) return new DeliveryError(`the mail server ${server} needs a login: put user:password in the URL (${said})`, 'auth');
  switch (e.code) {
    case 'EAUTH':
      return new DeliveryError(`login refused by the mail server ${server}: ${said}`, 'auth');
    case 'ENOAUTH':
      return new DeliveryError(`the mail server ${server} needs a login: put user:password in the URL`, 'auth');
    case 'EENVELOPE':
    case 'EMESSAGE':
      return new DeliveryError(`the mail server ${server} refused the message: ${said}`, e.responseCode && e.responseCode < 500 ? 'transient' : 'busy');
    case 'ETLS':
      return new DeliveryError(`no secure connection with the mail server ${server}: ${said}`, 'busy');
    case 'ECONNECTION':
    case 'ESOCKET':
    case 'ETIMEDOUT':
    case 'EDNS':
    case 'ECONNREFUSED':
      return new DeliveryError(`cannot reach the mail server ${server}: ${said}`);
    default:
      return new DeliveryError(`sending to ${server} failed: ${said}`);
  }
}
