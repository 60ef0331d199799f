/**
 * The Programs page (`/programs`): a card per [[program]] with its levels before and after its
 * sound settings, its listeners, the outputs that carry it, Mute, its listen address and QR
 * code, Edit and Remove; the add/edit form (the routing matrix, "Sound"); the printable
 * scan-to-listen sheet (`/programs/sheet`) and each program's QR code (`/ui/programs/<id>/qr.svg`).
 *
 * The [[program]] list is saved through the config store, so the form is refused exactly as the
 * file would be (the schema, then checkPrograms); the key path of a refusal names the field the
 * reason is shown beside. Changes apply live (the 'programs' config component).
 */
import { Elysia } from 'elysia';
import type { Config } from '../../config/schema.ts';
import { ConfigError } from '../../config/load.ts';
import { MAIN_PROGRAM } from '../../config/programs.ts';
import { ActionError } from '../../control/control.ts';
import { html, htmlResponse, type Html } from '../../../web/templates/html.ts';
import * as C from '../../../web/templates/components.ts';
import * as P from '../../../web/templates/programs.ts';
import { QR_SHEET_STYLE_SRC, qrSheetPage } from '../../../web/templates/qr-sheet.ts';
import { programsStatus } from '../programs-status.ts';
import { stationName } from '../listen-info.ts';
import { qrSvg } from '../qr.ts';
import { CSP } from '../host-gate.ts';
import { originOf } from '../auth.ts';
import { LANGUAGES, languageWords, listenUrl, liveView, madeOfWords, outputsOf, soundWords, stageLevels } from './programs-model.ts';
import { renderPage, type AdminDeps, type Body } from './shared.ts';

type ProgramEntry = Config['program'][number];

/** The sheet's Content-Security-Policy: hark's, with the sheet's own inline stylesheet allowed by its hash. */
export const SHEET_CSP = CSP.replace("style-src 'self'", `style-src 'self' ${QR_SHEET_STYLE_SRC}`);

// ---- the form's values ------------------------------------------------------------------------

/** A form field's value: the last when a name repeats (a checkbox after its hidden twin). */
const str = (v: unknown): string => {
  const x = Array.isArray(v) ? v[v.length - 1] : v;
  return typeof x === 'string' ? x : '';
};
const every = (v: unknown): string[] => (Array.isArray(v) ? v : v === undefined ? [] : [v]).filter((x): x is string => typeof x === 'string');
const numText = (n: number, off = false) => (off && n === 0 ? '' : String(n));

/** A saved program as the form shows it. */
export function formValuesOf(p: ProgramEntry): P.ProgramFormValues {
  const mix = Object.keys(p.mix);
  return {
    id: p.id,
    name: p.name,
    language: p.language,
    use: mix.length ? mix.map(Number).sort((a, b) => a - b) : [...p.channels],
    gains: Object.fromEntries(Object.entries(p.mix).map(([c, g]) => [Number(c), String(g)])),
    mono: mix.length > 0 || p.mono,
    gain_db: numText(p.gain_db),
    highpass_hz: numText(p.highpass_hz, true),
    eq: p.eq.map((b) => ({ type: b.type, hz: String(b.hz), gain_db: String(b.gain_db), q: String(b.q) })),
    limiter_dbfs: numText(p.limiter_dbfs, true),
    delay_ms: numText(p.delay_ms),
    keep_main: false,
  };
}

const BLANK: P.ProgramFormValues = { id: '', name: '', language: '', use: [], gains: {}, mono: false, gain_db: '0', highpass_hz: '', eq: [], limiter_dbfs: '', delay_ms: '0', keep_main: true };

/** The posted form as typed (strings); a ticked channel that is no number is kept for the refusal. */
export function formValuesFrom(b: Body): P.ProgramFormValues & { badUse: string[] } {
  const use: number[] = [];
  const badUse: string[] = [];
  for (const s of every(b.ch)) {
    if (/^\d{1,3}$/.test(s.trim())) use.push(Number(s.trim()));
    else badUse.push(s);
  }
  const gains: Record<number, string> = {};
  const bands: { at: number; band: P.ProgramFormValues['eq'][number] }[] = [];
  for (const k of Object.keys(b)) {
    let m = /^gain_(\d{1,3})$/.exec(k);
    if (m) gains[Number(m[1])] = str(b[k]).trim();
    m = /^eq_type_(\d{1,2})$/.exec(k);
    if (m) {
      const i = m[1]!;
      bands.push({ at: Number(i), band: { type: str(b[k]).trim(), hz: str(b[`eq_hz_${i}`]).trim(), gain_db: str(b[`eq_gain_${i}`]).trim(), q: str(b[`eq_q_${i}`]).trim() } });
    }
  }
  bands.sort((x, y) => x.at - y.at);
  return {
    id: str(b.id).trim(),
    name: str(b.name).trim(),
    language: str(b.language).trim(),
    use,
    badUse,
    gains,
    mono: str(b.mono) === 'true' || str(b.mono) === 'on',
    gain_db: str(b.gain_db).trim(),
    highpass_hz: str(b.highpass_hz).trim(),
    eq: bands.map((x) => x.band),
    limiter_dbfs: str(b.limiter_dbfs).trim(),
    delay_ms: str(b.delay_ms).trim(),
    keep_main: str(b.keep_main) === 'true',
  };
}

/** A number as typed ("−6" and "1,5" too); '' → `empty`; anything else stays text, for the validator to refuse by its key. */
function num(s: string, empty: number): number | string {
  const t = s.replace(/\u2212/g, '-').replace(',', '.').trim();
  if (t === '') return empty;
  return /^[-+]?(\d+(\.\d*)?|\.\d+)$/.test(t) ? Number(t) : s;
}

/** The field a refusal's key path names on this form ('' for the form as a whole). */
export function fieldOfPath(path: string, prefix: string, inputChannels: number): string {
  if (!path.startsWith(`${prefix}.`)) return '';
  const [key, a, b] = path.slice(prefix.length + 1).split('.');
  switch (key) {
    case 'id':
    case 'name':
    case 'language':
    case 'mono':
    case 'gain_db':
    case 'highpass_hz':
    case 'limiter_dbfs':
    case 'delay_ms':
      return key;
    case 'channels':
      return 'routing';
    case 'mix':
      return a && /^\d+$/.test(a) && Number(a) >= 1 && Number(a) <= inputChannels ? `gain_${a}` : 'routing';
    case 'eq':
      if (a === undefined || b === undefined) return 'eq';
      return `eq_${b === 'gain_db' ? 'gain' : b}_${a}`;
    default:
      return '';
  }
}

/** Refusals worded for the file, worded for this form (the key path still decides the field). */
function formReason(field: string, reason: string, value: P.ProgramFormValues): string {
  const pattern = reason.startsWith('expected string to match');
  if (field === 'id' && pattern) return `use lower-case letters, digits, - and _ only (up to 32, starting with a letter or a digit), e.g. floor or es; got "${value.id}"`;
  if (field === 'id' && reason.startsWith('must be a string')) return 'give it a short name, e.g. floor or es';
  if (field === 'language' && pattern) return `a language code, e.g. en, es or pt-BR; got "${value.language}"`;
  if (reason.startsWith('give the input channels that make this program')) return 'tick at least one input channel';
  if (/channels make no stereo pair/.test(reason)) return `${value.use.length} channels make no stereo pair: tick “Mono (sum to one channel)”, or use one or two channels`;
  if (/^gain_\d+$/.test(field)) return `channel ${field.slice(5)}: ${reason}`;
  return reason;
}

/** The [[program]] entry the form describes; throws ConfigError (by key path) for what only the form knows. */
export function entryFrom(v: P.ProgramFormValues & { badUse?: string[] }, prefix: string): Record<string, unknown> {
  const used = [...new Set(v.use)].sort((a, b) => a - b);
  if (v.badUse?.length) throw new ConfigError(`${prefix}.channels`, `not an input channel: "${v.badUse[0]}"`);
  if (v.eq.length > P.MAX_BANDS) throw new ConfigError(`${prefix}.eq`, `at most ${P.MAX_BANDS} bands, got ${v.eq.length}`);
  // A gain for a channel makes a mix (summed to mono): the channels with their dB instead of a list.
  const gains = new Map<number, number | string>();
  for (const c of used) gains.set(c, num(v.gains[c] ?? '', 0));
  for (const [c, g] of gains) if (typeof g === 'string') throw new ConfigError(`${prefix}.mix.${c}`, `must be a number of dB, got "${g}"`);
  const mixed = [...gains.values()].some((g) => g !== 0);
  if (mixed && !v.mono) {
    const c = used.find((x) => gains.get(x) !== 0)!;
    throw new ConfigError(`${prefix}.mix.${c}`, 'a gain mixes the channels to one: tick “Mono (sum to one channel)” to use it, or leave it at 0');
  }
  const route = mixed
    ? { channels: [], mix: Object.fromEntries(used.map((c) => [String(c), gains.get(c)])), mono: false }
    : { channels: used, mix: {}, mono: v.mono && used.length > 1 };
  return {
    id: v.id,
    name: v.name,
    language: v.language,
    ...route,
    gain_db: num(v.gain_db, 0),
    highpass_hz: num(v.highpass_hz, 0),
    eq: v.eq.map((b) => ({ type: b.type, hz: num(b.hz, 1000), gain_db: num(b.gain_db, 0), q: num(b.q, 1) })),
    limiter_dbfs: num(v.limiter_dbfs, 0),
    delay_ms: num(v.delay_ms, 0),
  };
}

// ---- routes -----------------------------------------------------------------------------------

export const programsRoutes = ({ ctx }: AdminDeps) => {
  const inputChannels = () => ctx.config.input.channels;

  function cards(request: Request): P.ProgramCardView[] {
    const c = ctx.config;
    const levels = stageLevels(ctx);
    return programsStatus(ctx).map((s) => {
      const e = c.program.find((x) => x.id === s.id)!;
      const url = listenUrl(ctx, request, s.urls.listen);
      return {
        id: s.id,
        name: s.name,
        language: s.language,
        languageWords: languageWords(s.language),
        main: s.main,
        madeOf: madeOfWords(e),
        sound: soundWords(e),
        levels: levels.get(s.id) ?? { pre: [-120, -120], post: [-120, -120] },
        live: liveView(ctx, s),
        listenUrl: url,
        // The address in the query: another host, port or token is another image, not a cached one.
        qrSrc: `/ui/programs/${s.id}/qr.svg?v=${Bun.hash(url).toString(36)}`,
        usedBy: outputsOf(c, s.id),
      };
    });
  }

  const section = (request: Request, o: { form?: Html; notice?: Html | string } = {}) =>
    P.programsSection({ cards: ctx.config.program.length ? cards(request) : [], inputChannels: inputChannels(), ...o });

  /** What is streamed now, in words, while no [[program]] exists (the "keep Main" choice). */
  const keepMainWords = () => (ctx.config.program.length ? undefined : inputChannels() >= 2 ? 'Input channels 1 and 2' : 'The input');

  const form = (editing: string | null, values: P.ProgramFormValues, errors: Record<string, string> = {}, formError = '') =>
    P.programForm({ editing, values, inputChannels: inputChannels(), errors, formError, keepMain: editing === null ? keepMainWords() : undefined, languages: LANGUAGES });

  const gone = (request: Request) => htmlResponse(section(request, { notice: C.saveNotice({ ok: false, message: 'That program is gone: it was removed meanwhile.' }) }), 404);
  const known = (id: string) => ctx.config.program.find((p) => p.id === id);

  /** Add (editing null) or save a program; `op` adds or removes an EQ band's row without saving. */
  async function save(request: Request, editing: string | null, body: Body, op: string): Promise<Response> {
    const list = ctx.config.program;
    const index = editing === null ? list.length : list.findIndex((p) => p.id === editing);
    if (index < 0) return gone(request);
    const values = formValuesFrom(body);
    if (editing !== null) values.id = editing;
    if (op === 'add-band' || /^remove-band-\d{1,2}$/.test(op)) {
      if (op === 'add-band') {
        if (values.eq.length < P.MAX_BANDS) values.eq.push({ type: 'peak', hz: '1000', gain_db: '0', q: '1' });
      } else values.eq.splice(Number(op.slice('remove-band-'.length)), 1);
      return htmlResponse(section(request, { form: form(editing, values) }));
    }
    if (editing === null && list.length >= P.MAX_PROGRAMS) {
      return htmlResponse(section(request, { form: form(editing, values, {}, `hark takes up to ${P.MAX_PROGRAMS} programs: remove one to add another.`) }), 422);
    }
    const keepMain = editing === null && list.length === 0 && values.keep_main;
    const prefix = `program.${keepMain ? 1 : index}`;
    try {
      const entry = entryFrom(values, prefix);
      const r = await ctx.store.update((draft) => {
        // Plain tables: the store validates the whole config (the schema, then checkPrograms).
        const arr = draft.program as unknown as Record<string, unknown>[];
        if (keepMain) arr.push({ id: MAIN_PROGRAM, name: 'Main', channels: inputChannels() >= 2 ? [1, 2] : [1] });
        if (editing === null) arr.push(entry);
        else arr[index] = entry;
      });
      const name = values.name || values.id;
      const message = !r.changed.length ? 'No change.' : editing === null ? `Added “${name}”${keepMain ? ', and “Main”, what was streamed before' : ''}.` : `Saved “${name}”.`;
      return htmlResponse(section(request, { notice: C.saveNotice({ ok: true, message, restart: r.restart_required }) }));
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      const field = fieldOfPath(e.path, prefix, inputChannels());
      // A refusal of another entry (an output's program, the "Main" kept): the whole form's.
      const formError = field ? '' : keepMain && e.path.startsWith('program.0') ? `The program “Main”: ${e.reason}` : e.message;
      return htmlResponse(section(request, { form: form(editing, values, field ? { [field]: formReason(field, e.reason, values) } : {}, formError) }), 422);
    }
  }

  return new Elysia({ name: 'admin-programs' })
    .get('/programs', ({ request }) => renderPage(ctx, request, '/programs', 'Programs', 'programs', P.programsPage({ section: section(request) })))
    .get('/programs/sheet', ({ request, query, set }) => {
      const wifi = String(query.wifi ?? '')
        // eslint-disable-next-line no-control-regex
        .replace(/[\0-\x1f\x7f]/g, ' ')
        .trim()
        .slice(0, 120);
      const programs = programsStatus(ctx).map((s) => ({ id: s.id, name: s.name, language: s.language, url: listenUrl(ctx, request, s.urls.listen) }));
      // The host gate put hark's policy on every answer; this one adds the sheet's style hash.
      set.headers['content-security-policy'] = SHEET_CSP;
      return new Response(qrSheetPage({ boxName: stationName(ctx), wifiHint: wifi, programs }), {
        headers: { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'content-security-policy': SHEET_CSP },
      });
    })
    .get('/ui/programs', ({ request }) => htmlResponse(section(request)))
    .get('/ui/programs/new', ({ request }) => htmlResponse(section(request, { form: form(null, { ...BLANK, keep_main: ctx.config.program.length === 0 }) })))
    .get('/ui/programs/:id/edit', ({ params, request }) => {
      const p = known(params.id);
      return p ? htmlResponse(section(request, { form: form(p.id, formValuesOf(p)) })) : gone(request);
    })
    .get('/ui/programs/:id/qr.svg', ({ params, request }) => {
      const s = known(params.id) && programsStatus(ctx).find((x) => x.id === params.id);
      if (!s) return new Response('no such program\n', { status: 404, headers: { 'content-type': 'text/plain; charset=utf-8' } });
      const url = listenUrl(ctx, request, s.urls.listen);
      return new Response(qrSvg(url, { ecl: 'M', moduleSize: 8, label: `QR code for ${s.name}: ${url}` }), {
        headers: { 'content-type': 'image/svg+xml; charset=utf-8', 'cache-control': 'private, max-age=3600' },
      });
    })
    .post('/ui/programs/:id/mute', async ({ params, request }) => {
      if (!known(params.id)) return gone(request);
      try {
        await ctx.control.run('toggle_mute', { program: params.id }, originOf(request));
      } catch (e) {
        if (!(e instanceof ActionError)) throw e;
        return htmlResponse(html`<p class="notice bad" role="alert">${e.message}</p>`, 422);
      }
      const s = programsStatus(ctx).find((x) => x.id === params.id)!;
      return htmlResponse(P.programLive(liveView(ctx, s)));
    })
    .post('/ui/programs', ({ request, body, query }) => save(request, null, (body ?? {}) as Body, String(query.op ?? '')))
    .post('/ui/programs/:id', ({ request, body, params, query }) => save(request, params.id, (body ?? {}) as Body, String(query.op ?? '')))
    .delete('/ui/programs/:id', async ({ params, request }) => {
      const i = ctx.config.program.findIndex((p) => p.id === params.id);
      if (i < 0) return gone(request);
      const name = ctx.config.program[i]!.name || params.id;
      const usedBy = outputsOf(ctx.config, params.id);
      try {
        await ctx.store.update((draft) => {
          draft.program.splice(i, 1);
        });
        return htmlResponse(section(request, { notice: C.saveNotice({ ok: true, message: `Removed “${name}”.` }) }));
      } catch (e) {
        if (!(e instanceof ConfigError)) throw e;
        const who = usedBy.length ? `${P.wordList(usedBy)} ${usedBy.length === 1 ? 'carries' : 'carry'} it: choose another program for ${usedBy.length === 1 ? 'it' : 'them'} on the Outputs page first` : 'something still uses it';
        return htmlResponse(section(request, { notice: C.saveNotice({ ok: false, message: `Not removed: ${who} (${e.message}).` }) }), 409);
      }
    });
};
