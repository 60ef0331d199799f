/**
 * The Schedule page: the week's [[schedule]] entries (add, change, remove; checked by the same
 * schema and checks as the file), start on sound ([vox]), and the clock the schedules wait for.
 */
import { Elysia } from 'elysia';
import { htmlResponse } from '../../../web/templates/html.ts';
import * as C from '../../../web/templates/components.ts';
import * as S from '../../../web/templates/schedule.ts';
import { ConfigError } from '../../config/load.ts';
import type { Config } from '../../config/schema.ts';
import { renderPage, str, type AdminDeps, type Body } from './shared.ts';
import { sectionForm } from './forms.ts';
import * as W from './widgets.ts';
import { scheduleZone } from '../../config/schedule.ts';

type Entry = Config['schedule'][number];

const EMPTY: S.ScheduleEntryView = { days: [], start: '10:00', end: '11:30', action: 'live' };

/** The entry as the form sent it: checkboxes may come as one value or many; "00:00" as the end is midnight. */
function entryFrom(b: Body): S.ScheduleEntryView {
  const raw = b.days;
  const days = (Array.isArray(raw) ? raw : raw === undefined || raw === '' ? [] : [raw]).map(String);
  const end = str(b.end).slice(0, 5);
  const action = str(b.action);
  return { days, start: str(b.start).slice(0, 5), end: end === '00:00' ? '24:00' : end, action: action === 'record' ? 'record' : action === 'live' ? 'live' : (action as 'live') };
}

/** A refusal of the schedule as errors on the form's fields: schedule.N.start → start; an overlap → the form. */
function errorsOf(e: ConfigError, index: number): Record<string, string> {
  const m = /^schedule\.(\d+)(?:\.(\w+))?/.exec(e.path);
  if (m && Number(m[1]) === index && m[2] && ['days', 'start', 'end', 'action'].includes(m[2])) return { [m[2]]: e.reason };
  if (m && e.reason.startsWith('overlaps ')) return { form: `${e.reason.replace(/^overlaps schedule\.\d+ on /, 'It overlaps the time on ').replace(/; entries may not overlap$/, '')}: two times may not overlap.` };
  return { form: `${e.path}: ${e.reason}` };
}

export const scheduleRoutes = ({ ctx, hub }: AdminDeps) => {
  const entries = () => ctx.config.schedule as readonly Entry[];
  const panel = (form: S.ScheduleFormView = { index: null, values: EMPTY, errors: {} }, notice = '' as ReturnType<typeof C.saveNotice> | '') =>
    S.schedulePanel({ entries: entries(), zone: scheduleZone(ctx.config), form, notice });

  /** Save the list with `entry` at `index` (null: added; undefined entry: removed); a refusal is the form with its errors. */
  async function save(index: number | null, entry: S.ScheduleEntryView | undefined, okText: string): Promise<Response> {
    const list = [...entries()] as Entry[];
    const at = index ?? list.length;
    if (entry === undefined) list.splice(at, 1);
    else list[at] = entry as Entry;
    try {
      await ctx.store.update((draft) => {
        (draft as { schedule: Entry[] }).schedule = list;
      });
      return htmlResponse(panel(undefined, C.saveNotice({ ok: true, message: okText })));
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      return htmlResponse(panel({ index, values: entry ?? EMPTY, errors: errorsOf(e, at) }), 422);
    }
  }

  const indexOf = (s: string) => (/^\d{1,3}$/.test(s) && Number(s) < entries().length ? Number(s) : null);
  const gone = () => htmlResponse(panel(undefined, C.saveNotice({ ok: false, message: 'That time is no longer on the schedule (changed elsewhere?): here is the schedule as it is now.' })), 404);

  return new Elysia({ name: 'admin-schedule' })
    .get('/schedule', ({ request }) =>
      renderPage(
        ctx,
        request,
        '/schedule',
        'Schedule',
        'schedule',
        S.schedulePage({ clock: W.slot(hub.env, 'clock'), week: panel(), vox: sectionForm('vox', ctx.config) }),
      ),
    )
    .get('/ui/schedule', () => htmlResponse(panel()))
    .get('/ui/schedule/:i/edit', ({ params }) => {
      const i = indexOf(params.i);
      if (i === null) return gone();
      const e = entries()[i]!;
      return htmlResponse(panel({ index: i, values: { days: e.days, start: e.start, end: e.end, action: e.action }, errors: {} }));
    })
    .post('/ui/schedule', ({ body }) => {
      const e = entryFrom((body ?? {}) as Body);
      return save(null, e, `Added: ${e.action === 'live' ? 'go live' : 'record'} ${e.start}–${S.untilText(e.end)}, ${S.daysText(e.days)}.`);
    })
    .post('/ui/schedule/:i', ({ params, body }) => {
      const i = indexOf(params.i);
      if (i === null) return gone();
      return save(i, entryFrom((body ?? {}) as Body), 'Saved.');
    })
    .delete('/ui/schedule/:i', ({ params }) => {
      const i = indexOf(params.i);
      if (i === null) return gone();
      return save(i, undefined, 'Removed.');
    });
};
