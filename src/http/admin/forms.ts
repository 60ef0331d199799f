/**
 * Config forms: rendered from the schema, read back into config values, and checked by the
 * same validator the file and the API use. A refused value comes back as the same form with
 * the reason next to the field (ConfigError's key path names it).
 */
import { TypeGuard, type TSchema } from '@sinclair/typebox';
import { ConfigSchema, type Config } from '../../config/schema.ts';
import { ConfigError } from '../../config/load.ts';
import { coerce } from '../../config/store.ts';
import { html, type Html } from '../../../web/templates/html.ts';
import { fieldsFor, saveNotice, stateClass } from '../../../web/templates/components.ts';
import type { AppContext } from '../../control/context.ts';
import { entryName } from './model.ts';
import { ENTRY_TEXT, SECTION_TEXT, type FieldText } from './labels.ts';
import { CaFileError, readCaFile } from '../../outputs/icecast/tls.ts';
import { urlWithoutPassword, userInfo } from '../../config/notify-url.ts';
import { MAIN_PROGRAM, resolveProgramId, resolvePrograms } from '../../config/programs.ts';
import { takePassphrase } from '../../config/srt-url.ts';
import type { Devices } from '../../audio/devices.ts';
import type { SrtOutput } from '../../outputs/srt/index.ts';

type Body = Record<string, unknown>;

/**
 * The sections with a settings form: the title and help the page shows, the keys the form
 * leaves out, and a word for the "Advanced" fold. Field words are in labels.ts.
 */
export const SECTION_FORMS: Record<string, { title: string; skip?: string[]; page: string; help?: string; advancedNote?: string }> = {
  input: { title: 'Capture', skip: ['device', 'gain_db'], page: '/input' },
  tone: { title: 'Test tone', page: '/input' },
  webrtc: {
    title: 'Listen page',
    skip: ['ice_servers'],
    page: '/outputs',
    advancedNote: 'STUN and TURN servers, for listeners outside this network, are set in the configuration file (hark config edit).',
  },
  recording: { title: 'Recording', page: '/outputs' },
  mp3: { title: 'MP3 stream', page: '/outputs', help: 'For radio apps, VLC and other players: the address is this box’s address followed by /stream.mp3.' },
  stream: { title: 'MP3 stream listeners', page: '/outputs' },
  opus: { title: 'Listen page sound', page: '/outputs' },
  metadata: { title: 'Title', page: '/outputs' },
  silence: { title: 'Silence alert', page: '/input' },
  access: { title: 'Access', page: '/system' },
  control: { title: 'Start-up', page: '/system', skip: ['state_dir', 'socket'] },
  log: { title: 'Log settings', page: '/system' },
  http: { title: 'Web server', page: '/system' },
  vox: {
    title: 'Start on sound',
    page: '/schedule',
    help: 'Record (or go live) by itself when there is sound, and stop after a quiet while. The recording begins a few seconds before the sound did.',
  },
};

/** The config sections that are lists of entries ([[icecast]], [[whip]], [[srt]], [[rtp]], [[notify]]), each with its own form. */
export type EntryKind = 'icecast' | 'whip' | 'srt' | 'rtp' | 'notify';
/** The entry kinds that are outputs (a live state from the broadcast). */
export type OutputEntryKind = 'icecast' | 'whip' | 'srt' | 'rtp';

export const ENTRY_FORMS: Record<EntryKind, {
  title: string;
  noun: string;
  a: string;
  help?: string;
  /** The words of the "Add" button (default: "Add <noun>"). */
  addWords?: string;
  /** The section's element id (default: `<kind>-section`). */
  id?: string;
  /** Keys the form leaves out (kept as they are in the file). */
  skip?: string[];
  /** Also spans the page's grid (a panel of its own on the page). */
  wide?: boolean;
}> = {
  icecast: { title: 'Icecast servers', noun: 'Icecast server', a: 'an', help: 'Send the broadcast to an Icecast server, for listeners anywhere.' },
  whip: { title: 'WHIP servers', noun: 'WHIP server', a: 'a', help: 'Send the broadcast to a streaming platform that takes WebRTC (WHIP).' },
  srt: {
    title: 'Links to a studio or transmitter (SRT)',
    noun: 'SRT link',
    a: 'an',
    help: 'Send the broadcast over the Internet to a studio, a transmitter site or another hark. Lost packets are sent again, so a poor line still sounds clean. One end calls, the other waits for the call.',
  },
  rtp: {
    title: 'Network audio (RTP, AES67)',
    noun: 'RTP stream',
    a: 'an',
    help: 'Send the broadcast over this network to an AES67 or RTP receiver: a mixing desk, a transmitter’s input, a computer with VLC. Receivers open its description at /rtp/<short name>.sdp.',
  },
  notify: {
    title: 'Alerts to people',
    noun: 'alert',
    a: 'an',
    addWords: 'Add someone to tell',
    help: 'Who is told, by e-mail, a message to a web address or an MQTT broker (Home Assistant), when the sound stops or something fails. A server that cannot be reached never stops the stream.',
    id: 'notify',
    // Extra request headers may carry tokens: they stay in the settings file, never on the page.
    skip: ['headers'],
    wide: true,
  },
};

/** The element id of an entry kind's section (the target of its forms and buttons). */
export function entrySectionId(kind: EntryKind): string {
  return ENTRY_FORMS[kind].id ?? `${kind}-section`;
}

/** What the "Advanced" fold says about the configuration file (for the engineer who looks there). */
function configNote(section: string, extra?: string, entries = false): string {
  return `${extra ? `${extra} ` : ''}In the configuration file ${entries ? `each is an [[${section}]] entry` : `these are the [${section}] settings`}.`;
}

export function sectionSchema(section: string): TSchema {
  const s = ConfigSchema.properties[section as keyof Config] as TSchema | undefined;
  if (!s) throw new ConfigError(section, 'unknown section');
  return TypeGuard.IsArray(s) ? (s.items as TSchema) : s;
}

/** The values of a union of literals (a choice), or null. */
function literalsOf(s: TSchema): (string | number)[] | null {
  return TypeGuard.IsUnion(s) && s.anyOf.every((x) => TypeGuard.IsLiteral(x)) ? s.anyOf.map((x) => (x as { const: string | number }).const) : null;
}

/** The last value of a form field (a checkbox sends "false" from its hidden twin, then "true"). */
function last(v: unknown): unknown {
  return Array.isArray(v) ? v[v.length - 1] : v;
}

/**
 * Form fields → typed values for the keys of `schema` (as a section or an entry). Lists are
 * comma-separated; a secret left empty with `keep` keeps the old value (unless `<key>__clear`
 * says to remove it).
 */
export function formValues(schema: TSchema, body: Body, prefix: string, keep: Record<string, unknown> = {}, skip: string[] = []): Record<string, unknown> {
  if (!TypeGuard.IsObject(schema)) return {};
  const out: Record<string, unknown> = {};
  for (const [k, s] of Object.entries(schema.properties)) {
    if (skip.includes(k) || !(k in body)) continue;
    if (TypeGuard.IsArray(s) && TypeGuard.IsObject(s.items)) continue;
    if (TypeGuard.IsArray(s) && literalsOf(s.items)) {
      // A group of checkboxes: every ticked value (an empty hidden twin says the group was sent).
      const all = Array.isArray(body[k]) ? (body[k] as unknown[]) : [body[k]];
      out[k] = all.filter((x): x is string => typeof x === 'string' && x !== '');
      continue;
    }
    let v = last(body[k]);
    if (typeof v !== 'string') continue;
    if (/password|token|credential|passphrase/.test(k) && v === '') {
      // Empty keeps the saved secret (the form never shows it), unless its "remove" box is ticked.
      if (last(body[`${k}__clear`]) === 'true') {
        out[k] = '';
        continue;
      }
      if (typeof keep[k] === 'string' && keep[k] !== '') {
        out[k] = keep[k];
        continue;
      }
    }
    if (TypeGuard.IsArray(s)) {
      out[k] = v
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean);
      continue;
    }
    if ((TypeGuard.IsInteger(s) || TypeGuard.IsNumber(s)) && v.trim() === '') {
      out[k] = v; // refused by the validator with the field named
      continue;
    }
    out[k] = coerce(`${prefix}.${k}`, v);
  }
  return out;
}

/** Which field of a form a key path points at ('' for the form as a whole). */
export function fieldOf(path: string, prefix: string): string {
  if (path === prefix) return '';
  if (!path.startsWith(`${prefix}.`)) return '';
  return path.slice(prefix.length + 1).split('.')[0]!;
}

/** Refusals worded for the file, worded for the form. */
const FORM_REASONS: Record<string, string> = {
  'give url or host': 'give the server address, or paste the URL your host gave you',
  'is only used over TLS; use an https:// url or set tls = true': 'only for a secure connection: tick “Secure connection (https)”, or leave this empty',
  'an email entry needs at least one address to write to, e.g. to = ["ops@example.org"]': 'write at least one e-mail address to send to, e.g. ops@example.org',
};

/** An [[srt]] address that is no URL (said without quoting it: it may hold a passphrase). */
const NOT_AN_SRT_URL = 'not an SRT address: it should look like srt://studio.example.org:9000 (this box calls) or srt://:9000?mode=listener (this box waits for the call)';

const NOT_A_URL = 'not a web address: it should look like https://example.org/hook, smtp://user:password@mail.example.org:587 or mqtt://broker.local:1883';

export function errorsFrom(e: ConfigError, prefix: string, fieldNames: string[]): { fields: Record<string, string>; form: string } {
  const f = fieldOf(e.path, prefix);
  // "not a URL: <what was typed>" would print a password typed into it back on the page.
  // A value quoted back in a reason loses any password it holds (user:password@ → user@).
  const notUrl = prefix.startsWith('srt.') ? NOT_AN_SRT_URL : NOT_A_URL;
  const reason = e.reason.startsWith('not a URL: ') ? notUrl : (FORM_REASONS[e.reason] ?? e.reason).replace(/([a-z][a-z0-9+.-]*:\/\/[^\s:@/"]*):[^\s"]*@/gi, '$1@');
  if (f && fieldNames.includes(f)) return { fields: { [f]: reason }, form: '' };
  return { fields: {}, form: reason };
}

/**
 * The "Program" field's choices: the programs by name, the default one (what `main` means)
 * first and saying so; null with one program only (the field is left out, the value kept).
 * The default program's value is `main` (it follows whichever program is the default),
 * unless the entry names it by its own id already.
 */
export function programChoices(config: Config | undefined, current: unknown): (readonly [string, string])[] | null {
  if (!config) return null;
  const programs = resolvePrograms(config);
  if (programs.length <= 1) return null;
  const def = resolveProgramId(config, MAIN_PROGRAM);
  return programs.map((p) => {
    const isDefault = p.id === def;
    const value = isDefault && current !== p.id ? MAIN_PROGRAM : p.id;
    return [value, isDefault ? `${p.name} (the default)` : p.name] as const;
  });
}

/** A form's words and left-out keys with its `program` field: a choice of the programs, or left out. */
function withPrograms(text: Record<string, FieldText>, skip: string[] | undefined, config: Config | undefined, value: Record<string, unknown>): { text: Record<string, FieldText>; skip: string[] | undefined } {
  if (!text.program) return { text, skip };
  const choices = programChoices(config, value.program);
  if (!choices) return { text, skip: [...(skip ?? []), 'program'] };
  return { text: { ...text, program: { ...text.program, choices } }, skip };
}

/** The text of one form field as a string ('' when absent; the last when a name repeats). */
const bodyText = (v: unknown): string => {
  const x = last(v);
  return typeof x === 'string' ? x : '';
};

/**
 * A passphrase typed into a refused form is not sent back (components.ts): its field says to
 * type it again. `saved`: the one saved now ('' for none).
 */
function retypeNote(text: Record<string, FieldText>, typed: unknown, saved: string): Record<string, FieldText> {
  if (typeof typed !== 'string' || typed === '' || typed === saved || !text.passphrase) return text;
  return { ...text, passphrase: { ...text.passphrase, help: `Type it again: a passphrase is never sent back to this page. ${text.passphrase.help ?? ''}` } };
}

/**
 * A passphrase in an SRT address (`?passphrase=`) moved into its own key, so an address the
 * page shows never carries it: one typed into the address (it wins over the field for [[srt]],
 * as the output reads them; the field wins for the input, as the receiver reads them), or the
 * saved address's, when the form sent the address without it (the form shows it without) and
 * left the field empty and the "remove" box unticked.
 */
function movePassphrase(values: Record<string, unknown>, body: Body, old: Record<string, unknown>, urlWins: boolean): Record<string, unknown> {
  if (typeof values.url !== 'string') return values;
  const out = { ...values };
  const now = takePassphrase(values.url);
  const was = takePassphrase(typeof old.url === 'string' ? old.url : '');
  out.url = now.url;
  const typed = bodyText(body.passphrase) !== '';
  const cleared = bodyText(body.passphrase__clear) === 'true';
  if (now.passphrase !== null) {
    if (urlWins || !typed) out.passphrase = now.passphrase;
  } else if (was.passphrase !== null && !typed && !cleared) {
    out.passphrase = urlWins ? was.passphrase : (typeof old.passphrase === 'string' && old.passphrase) || was.passphrase;
  }
  return out;
}

/** The passphrase an entry or the input has now: its key, or its address's (which wins for [[srt]]). */
function savedPassphrase(e: Record<string, unknown> | undefined, urlWins: boolean): string {
  if (!e) return '';
  const key = typeof e.passphrase === 'string' ? e.passphrase : '';
  const inUrl = takePassphrase(typeof e.url === 'string' ? e.url : '').passphrase;
  return (urlWins ? (inUrl ?? key) : key || inUrl) ?? '';
}

/** A settings section's form fields → its new values (the input's passphrase kept out of its address). */
export function sectionValues(name: string, body: Body, current: Record<string, unknown>): Record<string, unknown> {
  const values = formValues(sectionSchema(name), body, name, current, SECTION_FORMS[name]?.skip);
  return name === 'input' ? movePassphrase(values, body, current, false) : values;
}

/** Where a network input also plays: the box's default output, each output PipeWire knows, or nowhere. */
export function playbackChoices(devices: Devices | undefined): (readonly [string, string])[] {
  const sinks = devices?.list().devices.filter((d) => d.kind === 'monitor') ?? [];
  return [['', 'The default output of this box'], ...sinks.map((d) => [d.name, d.description.replace(/^Monitor of /, '')] as const), ['none', 'Nowhere: not played on this box']];
}

/**
 * A settings section (e.g. [recording]) as a form that saves itself; the notice sits beside its
 * Save button. `devices`: for the input's choice of where a feed plays (a text box without).
 */
export function sectionForm(section: string, config: Config, errors: Record<string, string> = {}, notice: Html | string = '', values?: Record<string, unknown>, devices?: Devices): Html {
  const meta = SECTION_FORMS[section]!;
  const schema = sectionSchema(section);
  let value = values ?? (config[section as keyof Config] as Record<string, unknown>);
  let words = SECTION_TEXT[section] ?? {};
  if (section === 'input') {
    // the section read by field name, as the schema-driven form does (its type has no index signature).
    const saved = savedPassphrase(config.input as unknown as Record<string, unknown>, false);
    words = retypeNote(words, value.passphrase, saved);
    // The address without its passphrase; the field knows one is saved (its "remove" box).
    value = { ...value, url: takePassphrase(String(value.url ?? '')).url, passphrase: saved };
    if (devices && words.output_device) words = { ...words, output_device: { ...words.output_device, choices: playbackChoices(devices) } };
  }
  const { text, skip } = withPrograms(words, meta.skip, config, value);
  return html`<form id="form-${section}" class="panel settings" novalidate hx-post="/ui/config/${section}" hx-target="this" hx-swap="outerHTML">
  <h2>${meta.title}</h2>
  ${meta.help ? html`<p class="help">${meta.help}</p>` : ''}
  ${fieldsFor(schema, value, errors, { skip, keepSecrets: true, text, idPrefix: section, advancedNote: configNote(section, meta.advancedNote) })}
  <div class="actions"><button type="submit" id="save-${section}">Save</button>${notice}</div>
</form>`;
}

/**
 * An [[icecast]] entry with its `url` folded into host, port, mount, user and password, as
 * the output reads it (resolveTarget: the URL's host, port and mount; user and password from
 * their own keys when set, else from the URL). Anything not a URL is left as it is.
 */
export function splitIcecastUrl(e: Record<string, unknown>): Record<string, unknown> {
  const url = typeof e.url === 'string' ? e.url.trim() : '';
  if (!url) return e;
  const parts = parseServerUrl(url);
  if (!parts) return e;
  return {
    ...e,
    url: '',
    host: parts.host,
    port: parts.port,
    mount: parts.mount,
    user: e.user || parts.user || '',
    password: e.password || parts.password || '',
    ...(parts.tls !== undefined ? { tls: parts.tls || e.tls === true } : {}),
  };
}

/**
 * The address an Icecast host hands out: icecast://user:password@host:port/mount,
 * http(s)://host:port/mount, or host:port/mount without a scheme. Null when it is none of
 * these. `tls` says what the scheme says: true for https, false for http, else undefined.
 */
export function parseServerUrl(text: string): { host: string; port: number; mount: string; user?: string; password?: string; tls?: boolean } | null {
  const t = text.trim();
  let u: URL;
  try {
    u = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(t) ? t : `http://${t}`);
  } catch {
    return null;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:' && u.protocol !== 'icecast:') return null;
  if (!u.hostname) return null;
  const explicit = /^https?:\/\//i.test(t);
  const port = u.port ? Number(u.port) : u.protocol === 'https:' ? 443 : u.protocol === 'http:' && explicit ? 80 : 8000;
  let mount: string, user: string | undefined, password: string | undefined;
  try {
    mount = decodeURIComponent(u.pathname);
    user = u.username ? decodeURIComponent(u.username) : undefined;
    password = u.password ? decodeURIComponent(u.password) : undefined;
  } catch {
    return null; // a malformed %-escape
  }
  return {
    host: u.hostname.replace(/^\[|\]$/g, ''),
    port,
    mount: mount === '/' ? '' : mount,
    user,
    password,
    tls: u.protocol === 'https:' ? true : u.protocol === 'http:' && explicit ? false : undefined,
  };
}

/**
 * An entry form's fields → the entry's new values. For Icecast, a pasted server URL (the
 * `url` field) fills host, port, mount and, when it holds them, user and password: the
 * pasted address wins over those fields. The entry is kept without `url`.
 */
export function entryValues(kind: EntryKind, body: Record<string, unknown>, prefix: string, old: Record<string, unknown>): Record<string, unknown> {
  const schema = sectionSchema(kind);
  if (kind === 'notify') return notifyValues(formValues(schema, body, prefix, old, ENTRY_FORMS.notify.skip), old);
  if (kind === 'srt') return movePassphrase(formValues(schema, body, prefix, old), body, old, true);
  if (kind !== 'icecast') return formValues(schema, body, prefix, old);
  const base = splitIcecastUrl(old);
  const values = formValues(schema, body, prefix, base);
  const pasted = typeof values.url === 'string' ? values.url.trim() : '';
  values.url = '';
  if (pasted) {
    const p = parseServerUrl(pasted);
    if (!p) {
      const why = 'not a server address: it should look like https://radio.example.org:8443/live or http://radio.example.org:8000/live';
      throw new ConfigError(`${prefix}.url`, why);
    }
    values.host = p.host;
    values.port = p.port;
    if (p.mount) values.mount = p.mount;
    if (p.user) values.user = p.user;
    if (p.password) values.password = p.password;
    if (p.tls !== undefined) values.tls = p.tls;
  }
  const entry = { ...base, ...values };
  // A CA file typed on the form is read now, so a wrong path is refused beside its field (the
  // file and the API are checked when the output connects: a file missing at boot is no reason
  // not to start).
  if (typeof entry.ca_file === 'string' && entry.ca_file !== '' && entry.ca_file !== old.ca_file) {
    try {
      readCaFile(entry.ca_file);
    } catch (e) {
      if (e instanceof CaFileError) throw new ConfigError(`${prefix}.ca_file`, e.message);
      throw e;
    }
  }
  return entry;
}

/**
 * A [[notify]] entry's new values: the saved password is put back into an address typed
 * without one for the same user (the form never shows it), and the keys of another type are
 * cleared (the form hides them for the chosen type: left as they were, the check would refuse
 * them).
 */
function notifyValues(values: Record<string, unknown>, old: Record<string, unknown>): Record<string, unknown> {
  const out = { ...values };
  if (typeof out.url === 'string' && typeof old.url === 'string') {
    const was = userInfo(old.url);
    const now = userInfo(out.url) ?? { scheme: '', user: '', password: null, rest: '' };
    if (was?.password && now.password === null && now.user === was.user) {
      const m = /^([a-z][a-z0-9+.-]*:\/\/)(.*)$/is.exec(out.url.trim());
      if (m) out.url = `${m[1]}${was.user}:${was.password}@${userInfo(out.url)?.rest ?? m[2]}`;
    }
  }
  const type = out.type ?? old.type;
  if (type !== 'email') Object.assign(out, { to: [], from: '' });
  if (type !== 'mqtt') out.topic = '';
  if (type !== 'webhook') out.headers = {};
  return out;
}

/**
 * An entry of [[icecast]], [[whip]] or [[notify]] as an edit (index) or add (null) form; a
 * test's result sits beside its button. `config`: the running one, for the choice of program
 * (left out without it, or with one program only).
 */
export function entryForm(kind: EntryKind, index: number | null, value: Record<string, unknown>, errors: Record<string, string> = {}, formError = '', testResult?: { ok: boolean; message: string }, config?: Config): Html {
  const schema = sectionSchema(kind);
  const { noun, a, addWords } = ENTRY_FORMS[kind];
  let words = ENTRY_TEXT[kind];
  let shown = kind === 'icecast' ? splitIcecastUrl(value) : kind === 'notify' && typeof value.url === 'string' ? { ...value, url: urlWithoutPassword(value.url) } : value;
  if (kind === 'srt') {
    // The address without its passphrase; the passphrase field is never filled in (components.ts).
    const saved = index === null ? '' : savedPassphrase((config?.srt as unknown as Record<string, unknown>[] | undefined)?.[index], true);
    const typed = savedPassphrase(value, true);
    words = retypeNote(words, typed, saved);
    shown = { ...value, url: urlWithoutPassword(takePassphrase(String(value.url ?? '')).url), passphrase: index === null ? typed : saved };
  }
  const { text, skip } = withPrograms(words, ENTRY_FORMS[kind].skip, config, shown);
  // A refusal of a key the form leaves out (a program when there is one) is said above the fields.
  const hidden = Object.keys(errors).filter((k) => skip?.includes(k));
  if (hidden.length && !formError) formError = hidden.map((k) => `${text[k]?.label ?? k}: ${errors[k]}`).join('; ');
  const action = index === null ? `/ui/${kind}` : `/ui/${kind}/${index}`;
  const key = `${kind}-${index ?? 'new'}`;
  const target = `#${entrySectionId(kind)}`;
  return html`<form class="panel entry-form ${kind}-form" id="${kind}-form-${index ?? 'new'}" novalidate hx-post="${action}" hx-target="${target}" hx-swap="outerHTML">
  <h3>${index === null ? (addWords ?? `Add ${a} ${noun}`) : `Edit ${noun} ${index + 1}`}</h3>
  ${formError ? html`<p class="notice bad" role="alert" data-notice="bad">${formError}</p>` : ''}
  ${fieldsFor(schema, shown, errors, { skip, keepSecrets: index !== null, text, idPrefix: key, advancedNote: configNote(kind, undefined, true) })}
  <div class="actions">
    <button type="submit" id="save-${key}">${index === null ? 'Add' : 'Save'}</button>
    ${kind === 'icecast' ? html`<button type="button" id="test-${key}" hx-post="/ui/icecast/test${index === null ? '' : `?index=${index}`}" hx-target="closest form" hx-swap="outerHTML">Test connection</button>` : ''}
    <button type="button" class="link" hx-get="/ui/${kind}" hx-target="${target}" hx-swap="outerHTML">Cancel</button>
  </div>
  ${testResult ? html`<p class="notice ${testResult.ok ? 'ok' : 'bad'} test-result" role="status" data-notice="${testResult.ok ? 'ok' : 'bad'}" data-test-result="${testResult.ok ? 'ok' : 'failed'}">${testResult.message}</p>` : ''}
</form>`;
}

export interface EntryStatus {
  state: string;
  status: string;
  /** The link's numbers in words (an SRT link's round trip, losses, buffer), when it has them. */
  facts?: string;
}

/** One entry's live state (a pill, the status line, the link's numbers); `oob`: as an SSE update of the one on the page. */
export function entryState(kind: OutputEntryKind, i: number, st: EntryStatus | undefined, oob = false): Html {
  return html`<span class="entry-state" id="${kind}-state-${i}" ${oob ? html`hx-swap-oob="true"` : ''}>${
    st
      ? html`<span class="pill ${stateClass(st.state)}" data-state="${st.state}">${st.state.replaceAll('_', ' ')}</span> <small>${st.status}</small>${
          st.facts ? html`<small class="entry-facts" data-facts="${kind}">${st.facts}</small>` : ''
        }`
      : ''
  }</span>`;
}

const kB = (bytes: number) => (bytes >= 1e6 ? `${(bytes / 1e6).toFixed(1)} MB` : `${Math.round(bytes / 1e3)} kB`);

/**
 * An SRT link's numbers as a person reads them, from GET /api/status's record: who receives,
 * the round trip, what was lost and sent again, what waits in the send buffer, the rate.
 * Nothing while it is not live.
 */
export function srtLinkFacts(s: ReturnType<SrtOutput['status']>): string | undefined {
  const l = s.link;
  if (s.state !== 'live' || !l) return undefined;
  return [
    s.peer ? `to ${s.peer}` : '',
    `round trip ${l.rtt_ms < 10 ? l.rtt_ms.toFixed(1) : Math.round(l.rtt_ms)} ms`,
    `${l.packets_lost} lost, ${l.packets_retransmitted} sent again`,
    `${l.send_buffer_ms} ms waiting to go out`,
    `${Math.round(l.send_rate_kbps)} kbit/s`,
    `${kB(s.bytes)} sent`,
    s.dropped_messages ? `${s.dropped_messages} packets dropped (the line was too slow)` : '',
  ]
    .filter(Boolean)
    .join(' · ');
}

/** The live state of every entry of a kind, from the running outputs. */
export function entryStatuses(ctx: AppContext, kind: OutputEntryKind): EntryStatus[] {
  if (kind === 'srt') {
    return (ctx.broadcast.outputs('srt') as readonly SrtOutput[]).map((o) => {
      const st = o.outputStatus();
      return { state: st.state, status: st.detail, facts: srtLinkFacts(o.status()) };
    });
  }
  return ctx.broadcast.outputs(kind).map((o) => o.outputStatus()).map((o) => ({ state: o.state, status: o.detail }));
}

/** The SSE event `<kind>-entries`: every entry's state, swapped in place (out of band). */
export function entryStatesUpdate(ctx: AppContext, kind: OutputEntryKind): Html {
  const st = entryStatuses(ctx, kind);
  return html`${ctx.config[kind].map((_, i) => entryState(kind, i, st[i], true))}`;
}

/** An Icecast entry that talks TLS without checking the certificate (`tls_verify = false`). */
function insecureTls(e: Record<string, unknown>): boolean {
  if (e.tls_verify !== false) return false;
  return e.tls === true || (typeof e.url === 'string' && /^https:/i.test(e.url.trim()));
}

const UNCHECKED_WORDS = 'This server’s certificate is not checked: an impostor at this address would get the source password. Turn “Check the server’s certificate” back on under Advanced once the server’s certificate is fixed.';

/**
 * The list of [[icecast]] / [[whip]] / [[notify]] entries with their live state, and the add
 * form. `live`, when given, is the list itself (the notifiers: each one's deliveries, its test,
 * Edit and Remove; an SSE slot of its own).
 */
export function entrySection(kind: EntryKind, config: Config, statuses: (EntryStatus | undefined)[], extra: Html | string = '', notice: Html | string = '', live?: Html): Html {
  // entries read by field name, as the schema-driven form does (the entry types have no index signature).
  const entries = config[kind] as unknown as Record<string, unknown>[];
  const meta = ENTRY_FORMS[kind];
  const id = entrySectionId(kind);
  const output = kind !== 'notify' ? kind : null;
  // With several programs, each output entry says which one it carries.
  const programs = resolvePrograms(config);
  const several = programs.length > 1;
  return html`<section id="${id}" class="panel entries${meta.wide ? ' wide' : ''}">
  <h2>${meta.title}</h2>
  ${meta.help ? html`<p class="help">${meta.help}</p>` : ''}
  ${output ? html`<div hidden sse-swap="${kind}-entries" hx-target="this" hx-swap="none"></div>` : ''}
  ${live ?? html`${entries.length === 0 ? html`<p class="empty">None yet.</p>` : ''}
  <ul class="entries">${entries.map((e, i) => {
    const n = entryName(kind, config, i);
    const unchecked = kind === 'icecast' && insecureTls(e);
    const carries = output && several ? programs.find((p) => p.id === resolveProgramId(config, String(e.program ?? MAIN_PROGRAM))) : undefined;
    return html`<li data-entry="${i}"><div><span class="entry-name">${n.kind} <b>${n.id}</b></span> <span class="where">${n.where}</span>${carries ? html` <span class="entry-program">· ${carries.name}</span>` : ''}${e.enabled === false ? html` <span class="pill off">disabled</span>` : ''}${
      unchecked ? html` <span class="pill warn" data-tls="unverified">certificate not checked</span>` : ''
    }
      ${output ? entryState(output, i, statuses[i]) : ''}${unchecked ? html`<p class="notice warn" role="note" id="${kind}-tls-warning-${i}">${UNCHECKED_WORDS}</p>` : ''}</div>
      ${entryButtons(kind, i)}</li>`;
  })}</ul>`}
  ${notice}
  ${extra || html`<button type="button" id="${kind}-add" hx-get="/ui/${kind}/new" hx-target="#${id}" hx-swap="outerHTML">${meta.addWords ?? `Add ${meta.noun}`}</button>`}
</section>`;
}

/** An entry's Edit and Remove buttons (the list's, or the notifiers' live list). */
export function entryButtons(kind: EntryKind, i: number): Html {
  const id = entrySectionId(kind);
  return html`<div class="row entry-buttons"><button type="button" class="link" id="${kind}-edit-${i}" hx-get="/ui/${kind}/${i}/edit" hx-target="#${id}" hx-swap="outerHTML">Edit</button>
      <button type="button" class="link danger" id="${kind}-remove-${i}" hx-delete="/ui/${kind}/${i}" hx-target="#${id}" hx-swap="outerHTML" hx-confirm="Remove this ${ENTRY_FORMS[kind].noun}?">Remove</button></div>`;
}

export function savedNotice(r: { changed: string[]; restart_required: string[]; comments_preserved: boolean }): Html {
  if (!r.changed.length) return saveNotice({ ok: true, message: 'No change.' });
  return saveNotice({ ok: true, message: `Saved${r.comments_preserved ? '' : ' (the file was rewritten; comments were not kept)'}.`, restart: r.restart_required });
}
