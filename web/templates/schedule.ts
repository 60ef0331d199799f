/**
 * The Schedule page: the week (what starts and stops when), the form to add or change an
 * entry, and the clock the schedules wait for. Every value reaches markup through `html`.
 */
import { html, attr, type Html } from './html.ts';
import { WEEKDAYS } from '../../src/config/schema.ts';
import { DAY_NAMES, type Weekday } from '../../src/config/schedule.ts';
import type { ScheduleStatus } from '../../src/control/schedule.ts';

export interface ScheduleEntryView {
  days: readonly string[];
  start: string;
  end: string;
  action: 'live' | 'record';
}

/** The add/change form's state: which entry (null: a new one), its values as typed, errors by field (days, start, end, action, form). */
export interface ScheduleFormView {
  index: number | null;
  values: ScheduleEntryView;
  errors: Record<string, string>;
}

const WHAT: Record<ScheduleEntryView['action'], string> = { live: 'Go live', record: 'Record' };

/** "Sunday", "Saturday and Sunday", "Monday, Wednesday and Friday", "every day". */
export function daysText(days: readonly string[]): string {
  const names = WEEKDAYS.filter((d) => days.includes(d)).map((d) => DAY_NAMES[d]);
  if (names.length === 7) return 'every day';
  return names.length <= 1 ? (names[0] ?? '') : `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`;
}

/** "24:00" reads "midnight". */
export const untilText = (end: string) => (end === '24:00' ? 'midnight' : end);

const entryWords = (e: ScheduleEntryView) => `${WHAT[e.action]} ${e.start}–${untilText(e.end)}, ${daysText(e.days)}`;

/** The week, day by day, and the form (the whole panel is one htmx target). */
export function schedulePanel(v: { entries: readonly ScheduleEntryView[]; zone: string; form: ScheduleFormView; notice?: Html | string }): Html {
  const byDay = WEEKDAYS.map((d) => ({
    day: d,
    slots: v.entries
      .map((e, i) => ({ e, i }))
      .filter(({ e }) => e.days.includes(d))
      .sort((a, b) => (a.e.start < b.e.start ? -1 : 1)),
  }));
  return html`<section id="schedule" class="panel wide" hx-target="this" hx-swap="outerHTML">
  <h2>The week</h2>
  <p class="help">hark goes live, or records, by itself at these times (${v.zone}), and stops at the end. Pressing Go live, Stop or Record yourself always wins until the next time on this list.</p>
  ${v.notice ?? ''}
  <ol class="week" aria-label="The schedule, Monday to Sunday">
  ${byDay.map(
    ({ day, slots }) => html`<li class="day" data-day="${day}"><h3>${DAY_NAMES[day]}</h3>${
      slots.length === 0
        ? html`<p class="muted nothing">Nothing scheduled</p>`
        : html`<ul class="slots">${slots.map(
            ({ e, i }) => html`<li class="slot ${e.action}" data-entry="${i}"><span class="slot-time">${e.start}–${untilText(e.end)}</span> <b class="slot-what">${WHAT[e.action]}</b>
  <span class="slot-buttons"><button type="button" class="link" id="sch-edit-${i}-${day}" hx-get="/ui/schedule/${i}/edit" aria-label="Change: ${entryWords(e)}">Change</button><button type="button" class="link danger" id="sch-remove-${i}-${day}" hx-delete="/ui/schedule/${i}" hx-confirm="Remove “${entryWords(e)}” from the schedule?" aria-label="Remove: ${entryWords(e)}">Remove</button></span></li>`,
          )}</ul>`
    }</li>`,
  )}
  </ol>
  ${scheduleForm(v.form)}
</section>`;
}

/** Add an entry, or change one: days, start, end, what. */
export function scheduleForm(f: ScheduleFormView): Html {
  const err = (name: string) => (f.errors[name] ? html`<span class="err" id="sch-${name}-err" role="alert">${f.errors[name]}</span>` : '');
  const invalid = (name: string) => (f.errors[name] ? html` aria-invalid="true" aria-describedby="sch-${name}-err"` : '');
  const editing = f.index !== null;
  return html`<form id="schedule-form" class="schedule-form" hx-post="${editing ? `/ui/schedule/${f.index}` : '/ui/schedule'}">
  <h3>${editing ? 'Change this time' : 'Add a time'}</h3>
  ${f.errors.form ? html`<p class="notice bad" role="alert" id="sch-form-err">${f.errors.form}</p>` : ''}
  <fieldset class="days${f.errors.days ? ' invalid' : ''}"${invalid('days')}><legend>Every</legend>
    ${WEEKDAYS.map(
      (d: Weekday) => html`<label class="day-choice" for="sch-day-${d}"><input type="checkbox" id="sch-day-${d}" name="days" value="${d}" ${attr('checked', f.values.days.includes(d))}>${DAY_NAMES[d]}</label>`,
    )}
    ${err('days')}
  </fieldset>
  <div class="row">
    <div class="field${f.errors.start ? ' invalid' : ''}"><label for="sch-start">From</label><input type="time" id="sch-start" name="start" value="${f.values.start}" required${invalid('start')}>${err('start')}</div>
    <div class="field${f.errors.end ? ' invalid' : ''}"><label for="sch-end">Until</label><input type="time" id="sch-end" name="end" value="${f.values.end === '24:00' ? '00:00' : f.values.end}" required${invalid('end')}>${err('end')}</div>
  </div>
  <div class="field${f.errors.action ? ' invalid' : ''}"><label for="sch-action">What</label><select id="sch-action" name="action"${invalid('action')}>
    <option value="live" ${attr('selected', f.values.action === 'live')}>Go live</option>
    <option value="record" ${attr('selected', f.values.action === 'record')}>Record only (not on air)</option>
  </select>${err('action')}</div>
  <div class="row form-buttons"><button type="submit" id="sch-save">${editing ? 'Save the change' : 'Add to the schedule'}</button>${
    editing ? html`<button type="button" id="sch-cancel" hx-get="/ui/schedule">Cancel</button>` : ''
  }</div>
</form>`;
}

/** The clock the schedules wait for, the zone they run in, what comes next, and VOX: the same on the Schedule and System pages. */
export function clockPanel(s: ScheduleStatus & { vox: { enabled: boolean; open: boolean }; entries: number; nowText: string; voxAction: 'record' | 'live' }): Html {
  const next = s.next ? html`<p>Next: <b>${DAY_NAMES[s.next.day]} ${s.next.time}</b>, ${s.next.what}.</p>` : '';
  const clock = s.synced
    ? html`<p class="clock-ok"><span class="pill ok">Clock set</span> The box has the time from the internet. <small class="help">(${s.clockBy})</small></p>`
    : html`<p class="notice warn clock-wait" role="status"><b>Waiting for the clock.</b> The box has not had the time from the internet yet${s.entries ? ', so nothing scheduled runs until it has' : ''}. Check its network connection. <small>(${s.clockBy})</small></p>`;
  const vox = s.vox.enabled
    ? html`<p>Start on sound: <b>${s.vox.open ? (s.voxAction === 'record' ? 'hearing sound, recording' : 'hearing sound, live') : 'listening'}</b>.</p>`
    : html`<p>Start on sound: off.</p>`;
  return html`<h2>Clock and time zone</h2>
  ${clock}
  <p>Schedules run in <b>${s.zone}</b>; it is ${s.nowText} there now.</p>
  ${s.entries ? next : html`<p class="muted">Nothing is scheduled.</p>`}
  ${vox}`;
}

/** The page: the clock, the week, start on sound. */
export function schedulePage(v: { clock: Html; week: Html; vox: Html }): Html {
  return html`<div class="grid">
${v.clock}
${v.week}
${v.vox}
</div>`;
}
