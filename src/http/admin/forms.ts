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
import type { AppContext } from '../context.ts';
import { entryName } from './model.ts';

type Body = Record<string, unknown>;

/** The sections with a settings form, with the keys the form leaves out. */
export const SECTION_FORMS: Record<string, { title: string; skip?: string[]; page: string; help?: string }> = {
  input: { title: 'Capture', skip: ['device', 'gain_db'], page: '/input' },
  tone: { title: 'Test tone', page: '/input' },
  webrtc: { title: 'WebRTC listeners', skip: ['ice_servers'], page: '/outputs', help: 'STUN/TURN servers: `hark config edit` ([[webrtc.ice_servers]]).' },
  recording: { title: 'Recording', page: '/outputs' },
  mp3: { title: 'MP3 stream', page: '/outputs' },
  stream: { title: 'MP3 stream listeners', page: '/outputs' },
  opus: { title: 'Opus', page: '/outputs' },
  metadata: { title: 'Title', page: '/outputs' },
  silence: { title: 'Silence alert', page: '/input' },
  access: { title: 'Access', page: '/system' },
  control: { title: 'Start-up', page: '/system', skip: ['state_dir', 'socket'] },
  log: { title: 'Logging', page: '/system' },
  http: { title: 'HTTP', page: '/system' },
};

export const ENTRY_FORMS: Record<string, { title: string; noun: string; a: string }> = {
  icecast: { title: 'Icecast servers', noun: 'Icecast server', a: 'an' },
  whip: { title: 'WHIP servers', noun: 'WHIP server', a: 'a' },
};

export function sectionSchema(section: string): TSchema {
  const s = ConfigSchema.properties[section as keyof Config] as TSchema | undefined;
  if (!s) throw new ConfigError(section, 'unknown section');
  return TypeGuard.IsArray(s) ? (s.items as TSchema) : s;
}

/** The last value of a form field (a checkbox sends "false" from its hidden twin, then "true"). */
function last(v: unknown): unknown {
  return Array.isArray(v) ? v[v.length - 1] : v;
}

/**
 * Form fields → typed values for the keys of `schema` (as a section or an entry). Lists are
 * comma-separated; a secret left empty with `keep` keeps the old value.
 */
export function formValues(schema: TSchema, body: Body, prefix: string, keep: Record<string, unknown> = {}, skip: string[] = []): Record<string, unknown> {
  if (!TypeGuard.IsObject(schema)) return {};
  const out: Record<string, unknown> = {};
  for (const [k, s] of Object.entries(schema.properties)) {
    if (skip.includes(k) || !(k in body)) continue;
    if (TypeGuard.IsArray(s) && TypeGuard.IsObject(s.items)) continue;
    let v = last(body[k]);
    if (typeof v !== 'string') continue;
    if (/password|token|credential/.test(k) && v === '' && typeof keep[k] === 'string' && keep[k] !== '') {
      out[k] = keep[k];
      continue;
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

export function errorsFrom(e: ConfigError, prefix: string, fieldNames: string[]): { fields: Record<string, string>; form: string } {
  const f = fieldOf(e.path, prefix);
  if (f && fieldNames.includes(f)) return { fields: { [f]: e.reason }, form: '' };
  return { fields: {}, form: e.path ? `${e.path}: ${e.reason}` : e.reason };
}

/** A settings section (e.g. [recording]) as a form that saves itself. */
export function sectionForm(section: string, config: Config, errors: Record<string, string> = {}, notice: Html | string = '', values?: Record<string, unknown>): Html {
  const meta = SECTION_FORMS[section]!;
  const schema = sectionSchema(section);
  const value = values ?? (config[section as keyof Config] as Record<string, unknown>);
  return html`<form id="form-${section}" class="panel settings" novalidate hx-post="/ui/config/${section}" hx-target="this" hx-swap="outerHTML">
  <h2>${meta.title} <code>[${section}]</code></h2>
  ${notice}
  ${meta.help ? html`<p class="help">${meta.help}</p>` : ''}
  ${fieldsFor(schema, value, errors, { skip: meta.skip, keepSecrets: true, idPrefix: section })}
  <button type="submit">Save</button>
</form>`;
}

/**
 * An entry of [[icecast]] or [[whip]] as an edit (index) or add (null) form. A connection
 * test's result goes under the button that asked for it (admin.js scrolls it into view).
 */
export function entryForm(kind: 'icecast' | 'whip', index: number | null, value: Record<string, unknown>, errors: Record<string, string> = {}, formError = '', testResult?: { ok: boolean; message: string }): Html {
  const schema = sectionSchema(kind);
  const { noun, a } = ENTRY_FORMS[kind]!;
  const action = index === null ? `/ui/${kind}` : `/ui/${kind}/${index}`;
  return html`<form class="panel entry-form" id="${kind}-form-${index ?? 'new'}" novalidate hx-post="${action}" hx-target="#${kind}-section" hx-swap="outerHTML">
  <h3>${index === null ? `Add ${a} ${noun}` : `Edit ${noun} ${index + 1}`}</h3>
  ${formError ? html`<p class="notice bad" role="alert">${formError}</p>` : ''}
  ${fieldsFor(schema, value, errors, { keepSecrets: index !== null, idPrefix: `${kind}-${index ?? 'new'}` })}
  <div class="row">
    <button type="submit">${index === null ? 'Add' : 'Save'}</button>
    ${kind === 'icecast' ? html`<button type="button" hx-post="/ui/icecast/test${index === null ? '' : `?index=${index}`}" hx-target="closest form" hx-swap="outerHTML">Test connection</button>` : ''}
    <button type="button" class="link" hx-get="/ui/${kind}" hx-target="#${kind}-section" hx-swap="outerHTML">Cancel</button>
  </div>
  ${testResult ? html`<p class="notice ${testResult.ok ? 'ok' : 'bad'} test-result" role="status" data-test-result="${testResult.ok ? 'ok' : 'failed'}">${testResult.message}</p>` : ''}
</form>`;
}

export interface EntryStatus {
  state: string;
  status: string;
}

/** One entry's live state (a pill and the status line); `oob`: as an SSE update of the one on the page. */
export function entryState(kind: 'icecast' | 'whip', i: number, st: EntryStatus | undefined, oob = false): Html {
  return html`<span class="entry-state" id="${kind}-state-${i}" ${oob ? html`hx-swap-oob="true"` : ''}>${
    st ? html`<span class="pill ${stateClass(st.state)}" data-state="${st.state}">${st.state.replaceAll('_', ' ')}</span> <small>${st.status}</small>` : ''
  }</span>`;
}

/** The live state of every entry of a kind, from the running outputs. */
export function entryStatuses(ctx: AppContext, kind: 'icecast' | 'whip'): EntryStatus[] {
  const s = ctx.broadcast.status();
  const list = (kind === 'icecast' ? s.icecast : s.whip) as unknown as { state: string; status?: string }[];
  return list.map((o) => ({ state: o.state, status: o.status ?? o.state }));
}

/** The SSE event `<kind>-entries`: every entry's state, swapped in place (out of band). */
export function entryStatesUpdate(ctx: AppContext, kind: 'icecast' | 'whip'): Html {
  const st = entryStatuses(ctx, kind);
  return html`${ctx.config[kind].map((_, i) => entryState(kind, i, st[i], true))}`;
}

/** The list of [[icecast]] / [[whip]] entries with their live state, and the add form. */
export function entrySection(kind: 'icecast' | 'whip', config: Config, statuses: (EntryStatus | undefined)[], extra: Html | string = '', notice: Html | string = ''): Html {
  const entries = config[kind] as unknown as Record<string, unknown>[];
  const meta = ENTRY_FORMS[kind]!;
  return html`<section id="${kind}-section" class="panel entries">
  <h2>${meta.title} <code>[[${kind}]]</code></h2>
  <div hidden sse-swap="${kind}-entries" hx-target="this" hx-swap="none"></div>
  ${notice}
  ${entries.length === 0 ? html`<p class="empty">None yet.</p>` : ''}
  <ul class="entries">${entries.map((e, i) => {
    const n = entryName(kind, config, i);
    return html`<li data-entry="${i}"><div><span class="entry-name">${n.kind} <b>${n.id}</b></span> <span class="where">${n.where}</span>${e.enabled === false ? html` <span class="pill off">disabled</span>` : ''}
      ${entryState(kind, i, statuses[i])}</div>
      <div class="row"><button type="button" class="link" hx-get="/ui/${kind}/${i}/edit" hx-target="#${kind}-section" hx-swap="outerHTML">Edit</button>
      <button type="button" class="link danger" hx-delete="/ui/${kind}/${i}" hx-target="#${kind}-section" hx-swap="outerHTML" hx-confirm="Remove this ${meta.noun}?">Remove</button></div></li>`;
  })}</ul>
  ${extra || html`<button type="button" hx-get="/ui/${kind}/new" hx-target="#${kind}-section" hx-swap="outerHTML">Add ${meta.noun}</button>`}
</section>`;
}

export function savedNotice(r: { changed: string[]; restart_required: string[]; comments_preserved: boolean }): Html {
  if (!r.changed.length) return saveNotice({ ok: true, message: 'No change.' });
  return saveNotice({ ok: true, message: `Saved${r.comments_preserved ? '' : ' (the file was rewritten; comments were not kept)'}.`, restart: r.restart_required });
}
