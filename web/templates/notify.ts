/**
 * The System page's "Alerts to people" panel: each `[[notify]]` entry with how its last
 * delivery went, in words, a "Send a test" button, and its Edit and Remove buttons. The test's
 * routes are in src/http/notify.ts; the panel around it, the add and edit forms and their
 * routes are the entry forms' (src/http/admin/forms.ts, outputs-page.ts).
 */
import { html, type Html } from './html.ts';
import type { NotifierStatus } from '../../src/notify/types.ts';
import type { Config } from '../../src/config/schema.ts';
import { notifyWhere } from '../../src/config/notify-url.ts';

const STATE_WORDS: Record<NotifierStatus['state'], { label: string; cls: string }> = {
  ok: { label: 'Working', cls: 'ok' },
  failing: { label: 'Problem', cls: 'bad' },
  waiting: { label: 'Nothing sent yet', cls: 'off' },
  off: { label: 'Turned off', cls: 'off' },
};

const EVENT_WORDS: Record<string, string> = { test: 'a test' };

/**
 * The list (the `notifiers` widget): `when` formats a time for the box's zone; `entries` are the
 * settings (the address, without its password, under the name); `buttons`: an entry's Edit and Remove.
 */
export function notifierList(list: readonly NotifierStatus[], when: (iso: string) => Html | string, entries: Config['notify'] = [], buttons: (i: number) => Html | string = () => ''): Html {
  if (!list.length) {
    return html`<p class="empty">Nobody is told when the sound stops or something fails. To get an e-mail, a message on your phone or an entry in Home Assistant, press “Add someone to tell”.</p>`;
  }
  return html`<ul class="notifiers">${list.map((n) => {
    const s = STATE_WORDS[n.state];
    const last = n.last_ok_at ? html`Last sent ${when(n.last_ok_at)}${n.last_ok_event ? ` (${EVENT_WORDS[n.last_ok_event] ?? n.last_ok_event})` : ''}.` : '';
    return html`<li class="notifier" data-notifier="${n.index}" data-state="${n.state}">
  <p><b>${n.label}</b> <span class="pill ${s.cls}">${s.label}</span></p>
  ${entries[n.index] ? html`<p class="where" data-where>${notifyWhere(entries[n.index]!.type, entries[n.index]!.url)}</p>` : ''}
  ${n.state === 'failing' ? html`<p class="err" data-error>${n.connection && n.connection !== 'connected' ? n.connection : n.last_error}</p>` : n.connection ? html`<p class="help">${n.connection === 'connected' ? 'Connected to the broker.' : n.connection}</p>` : ''}
  ${last ? html`<p class="help">${last}</p>` : ''}
  ${n.retry_at || n.queued ? html`<p class="help">${n.queued ? `${n.queued} waiting to be sent. ` : ''}${n.retry_at ? html`Trying again ${when(n.retry_at)}.` : ''}</p>` : ''}
  ${n.dropped ? html`<p class="help">${n.dropped} could not be sent and were given up.</p>` : ''}
  <button type="button" id="notify-test-${n.index}" hx-post="/ui/notify/${n.index}/test" hx-target="#notify-result" hx-swap="innerHTML" hx-disabled-elt="this">Send a test</button>
  ${buttons(n.index)}
</li>`;
  })}</ul>`;
}

/** The panel's live part: the list (its slot) and where a test's result shows. */
export function notifyLive(list: Html): Html {
  return html`${list}
<div id="notify-result" aria-live="polite"></div>`;
}
