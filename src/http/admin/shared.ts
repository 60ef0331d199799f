/**
 * What the admin pages share: the page frame, the body-field reader, and the save handlers of
 * the schema-driven forms (sections and the Icecast/WHIP/notify entry lists). One module per page
 * (dashboard.ts, input-page.ts, …) composes these into its routes; index.ts composes the pages.
 */
import { Value } from '@sinclair/typebox/value';
import type { AppContext } from '../../control/context.ts';
import { html, htmlResponse, type Html } from '../../../web/templates/html.ts';
import * as C from '../../../web/templates/components.ts';
import { layout } from '../../../web/templates/pages.ts';
import { ConfigError } from '../../config/load.ts';
import type { Config } from '../../config/schema.ts';
import { principalOf } from '../auth.ts';
import { ENTRY_FORMS, SECTION_FORMS, type EntryKind, entryForm, entrySection, entryStatuses, entryValues, errorsFrom, savedNotice, sectionForm, sectionSchema, sectionValues } from './forms.ts';
import * as W from './widgets.ts';
import { notifyLive } from '../../../web/templates/notify.ts';
import type { SseHub } from '../sse.ts';
import type { Devices } from '../../audio/devices.ts';

export type Body = Record<string, unknown>;

/** What every admin page module is built from. */
export interface AdminDeps {
  ctx: AppContext;
  hub: SseHub;
  devices: Devices;
}

/** A form field's value: the last one when a name repeats (hidden + checkbox), '' when absent. */
export const str = (v: unknown) => (typeof (Array.isArray(v) ? v[v.length - 1] : v) === 'string' ? String(Array.isArray(v) ? v[v.length - 1] : v) : '');

/** The CSRF token the page embeds: the session's, or '' for the socket/token callers. */
export function csrfOf(request: Request): string {
  const p = principalOf(request);
  return p.kind === 'session' ? p.session.csrf : '';
}

/** A whole admin page: the layout (header, nav, alerts, the SSE connection) around `body`. */
export function renderPage(ctx: AppContext, request: Request, path: string, title: string, events: string | undefined, body: Html): Response {
  return htmlResponse(
    layout({ title, path, csrf: csrfOf(request), state: ctx.control.state, stateBadge: W.layoutSlot(ctx, 'state-badge'), alerts: W.layoutSlot(ctx, 'alerts'), events }, body),
  );
}

export function isEntryKind(k: string): k is EntryKind {
  return Object.hasOwn(ENTRY_FORMS, k);
}

export function notFound(): Response {
  return htmlResponse(html`<p class="notice bad">Not found.</p>`, 404);
}

/**
 * The schema-driven forms' handlers, bound to the running daemon. `devices`: for the input's
 * choice of where a network feed plays (the form that saves it is answered with it).
 */
export function configForms(ctx: AppContext, devices?: Devices) {
  const statuses = (kind: EntryKind) => (kind === 'notify' ? [] : entryStatuses(ctx, kind));
  // The notifiers' list is their live one (deliveries, Send a test, Edit, Remove), the System page's SSE slot.
  const section = (kind: EntryKind, extra: Html | string = '', notice: Html | string = '') =>
    entrySection(kind, ctx.config, statuses(kind), extra, notice, kind === 'notify' ? notifyLive(W.layoutSlot(ctx, 'notifiers')) : undefined);

  /** Save an entry (index null: add); refusals come back as the form with inline errors. */
  async function saveEntry(kind: EntryKind, index: number | null, body: Body): Promise<Response> {
    const schema = sectionSchema(kind);
    // entries read by field name, as the schema-driven form does (the entry types have no index signature).
    const list = ctx.config[kind] as unknown as Record<string, unknown>[];
    if (index !== null && !(index >= 0 && index < list.length)) return htmlResponse(section(kind, '', C.saveNotice({ ok: false, message: `There is no entry ${index + 1} any more.` })), 404);
    const old = index === null ? {} : list[index]!;
    const i = index ?? list.length;
    const prefix = `${kind}.${i}`;
    let values: Record<string, unknown> = {};
    try {
      values = entryValues(kind, body, prefix, old);
      const entry = Value.Default(schema, { ...old, ...values });
      const r = await ctx.store.update((draft) => {
        // entries written by field name (the entry types have no index signature); the entry is validated by the store.
        const arr = draft[kind] as unknown as Record<string, unknown>[];
        if (index === null) arr.push(entry as Record<string, unknown>);
        else arr[index] = entry as Record<string, unknown>;
      });
      return htmlResponse(section(kind, '', savedNotice(r)));
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      // TypeBox's TSchema does not declare `properties` (this one is a T.Object).
      const names = Object.keys((schema as unknown as { properties: object }).properties);
      const { fields, form } = errorsFrom(e, prefix, names);
      return htmlResponse(section(kind, entryForm(kind, index, { ...old, ...values, ...rawStrings(body, names, fields) }, fields, form, undefined, ctx.config)), 422);
    }
  }

  /** For refused fields, show what the user typed rather than the coerced value. */
  function rawStrings(body: Body, names: string[], fields: Record<string, string>): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const n of names) if (fields[n] && n in body) out[n] = str(body[n]);
    return out;
  }

  async function saveSection(name: string, body: Body): Promise<Response> {
    const meta = SECTION_FORMS[name];
    if (!meta) return htmlResponse(html`<p class="notice bad">No such settings form.</p>`, 404);
    const schema = sectionSchema(name);
    const current = ctx.config[name as keyof Config] as Record<string, unknown>;
    let values: Record<string, unknown> = {};
    try {
      values = sectionValues(name, body, current);
      const r = await ctx.store.update((draft) => {
        (draft as Record<string, unknown>)[name] = { ...current, ...values };
      });
      return htmlResponse(sectionForm(name, ctx.config, {}, savedNotice(r), undefined, devices));
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      // TypeBox's TSchema does not declare `properties` (this one is a T.Object).
      const names = Object.keys((schema as unknown as { properties: object }).properties);
      const { fields, form } = errorsFrom(e, name, names);
      return htmlResponse(sectionForm(name, ctx.config, fields, form ? C.saveNotice({ ok: false, message: form }) : '', { ...current, ...values, ...rawStrings(body, names, fields) }, devices), 422);
    }
  }

  return { statuses, section, saveEntry, saveSection };
}
