import { describe, expect, test } from 'bun:test';
import { ConfigError, validateConfig } from '../../config/load.ts';
import { entryFrom, fieldOfPath, formValuesFrom, formValuesOf } from './programs-page.ts';
import { madeOfWords, soundWords } from './programs-model.ts';

const base = { id: 'es', name: 'Español', language: 'es', mono: 'false', gain_db: '0', highpass_hz: '', limiter_dbfs: '', delay_ms: '0' };

describe('the program form → a [[program]] entry', () => {
  test.each([
    ['one channel', { ch: '3' }, { channels: [3], mix: {}, mono: false }],
    ['two channels: stereo', { ch: ['2', '1'] }, { channels: [1, 2], mix: {}, mono: false }],
    ['two channels, mono', { ch: ['1', '2'], mono: 'true' }, { channels: [1, 2], mix: {}, mono: true }],
    ['a gain makes a mix', { ch: ['1', '3'], mono: 'true', gain_3: '−6' }, { channels: [], mix: { '1': 0, '3': -6 }, mono: false }],
    ['gains of 0 are no mix', { ch: ['1', '3'], mono: 'true', gain_1: '0', gain_3: '' }, { channels: [1, 3], mix: {}, mono: true }],
  ] as const)('%s', (_name, fields, route) => {
    const e = entryFrom(formValuesFrom({ ...base, ...fields }), 'program.0');
    expect({ channels: e.channels, mix: e.mix, mono: e.mono }).toEqual(route as never);
    // What the form makes, the schema and checkPrograms take.
    expect(() => validateConfig({ input: { channels: 4 }, program: [e] })).not.toThrow();
  });

  test('numbers as people type them: empty is off, a real minus and a decimal comma read; words stay for the refusal', () => {
    const e = entryFrom(formValuesFrom({ ...base, ch: '1', gain_db: '+3', limiter_dbfs: '−1,5', highpass_hz: '', eq_type_1: 'peak', eq_hz_1: '2500', eq_gain_1: '-2', eq_q_1: '', eq_type_0: 'highpass', eq_hz_0: '80', eq_gain_0: '', eq_q_0: '0.7' }), 'program.0');
    expect([e.gain_db, e.limiter_dbfs, e.highpass_hz, e.delay_ms]).toEqual([3, -1.5, 0, 0]);
    // Bands in the order of their rows, each with its defaults.
    expect(e.eq).toEqual([{ type: 'highpass', hz: 80, gain_db: 0, q: 0.7 }, { type: 'peak', hz: 2500, gain_db: -2, q: 1 }]);
    expect(entryFrom(formValuesFrom({ ...base, ch: '1', delay_ms: 'soon' }), 'program.0').delay_ms).toBe('soon');
  });

  test('what only the form knows is refused by key path: a channel in words, a gain without mono, seven bands', () => {
    const refusal = (fields: Record<string, unknown>) => {
      try {
        entryFrom(formValuesFrom({ ...base, ...fields }), 'program.2');
      } catch (e) {
        if (e instanceof ConfigError) return e.path;
      }
      return 'accepted';
    };
    expect(refusal({ ch: 'x' })).toBe('program.2.channels');
    expect(refusal({ ch: ['1', '2'], gain_2: '-3' })).toBe('program.2.mix.2');
    expect(refusal({ ch: ['1'], mono: 'true', gain_1: 'loud' })).toBe('program.2.mix.1');
    expect(refusal({ ch: '1', ...Object.fromEntries(Array.from({ length: 7 }, (_, i) => [`eq_type_${i}`, 'peak'])) })).toBe('program.2.eq');
  });

  test('a saved entry comes back into the form as it was', () => {
    const entry = validateConfig({ input: { channels: 4 }, program: [{ id: 'es', mix: { '1': 0, '4': -6 }, limiter_dbfs: -1, eq: [{ type: 'lowshelf', hz: 120, gain_db: -4, q: 0.7 }] }] }).program[0]!;
    const v = formValuesOf(entry);
    expect([v.use, v.gains, v.mono, v.limiter_dbfs, v.highpass_hz, v.eq]).toEqual([[1, 4], { 1: '0', 4: '-6' }, true, '-1', '', [{ type: 'lowshelf', hz: '120', gain_db: '-4', q: '0.7' }]]);
    expect(entryFrom(v, 'program.0')).toMatchObject({ mix: { '1': 0, '4': -6 }, channels: [], limiter_dbfs: -1 });
  });
});

describe('a refusal\'s key path → the field beside which it shows', () => {
  test.each([
    ['program.1.id', 'id'],
    ['program.1.language', 'language'],
    ['program.1.channels.0', 'routing'],
    ['program.1.channels', 'routing'],
    ['program.1.mix.3', 'gain_3'],
    ['program.1.mix.5', 'routing'],
    ['program.1.mix', 'routing'],
    ['program.1.mono', 'mono'],
    ['program.1.eq', 'eq'],
    ['program.1.eq.2.gain_db', 'eq_gain_2'],
    ['program.1.eq.0.hz', 'eq_hz_0'],
    ['program.1.limiter_dbfs', 'limiter_dbfs'],
    ['program.0.id', ''],
    ['icecast.0.program', ''],
  ])('%s → "%s"', (path, field) => {
    expect(fieldOfPath(path, 'program.1', 4)).toBe(field);
  });
});

describe('words for a program', () => {
  const p = (o: object) => validateConfig({ input: { channels: 4 }, program: [{ id: 'x', ...o }] }).program[0]!;
  test.each([
    [{ channels: [3] }, 'Input channel 3 (mono).'],
    [{ channels: [1, 2] }, 'Input channels 1 and 2 (stereo).'],
    [{ channels: [1, 2, 3], mono: true }, 'Input channels 1, 2 and 3, mixed to mono.'],
    [{ mix: { '1': 0, '3': -6 } }, 'A mono mix of input channels 1 (0 dB) and 3 (−6 dB).'],
  ])('made of %j', (o, words) => {
    expect(madeOfWords(p(o))).toBe(words);
  });

  test('sound', () => {
    expect(soundWords(p({ channels: [1] }))).toBe('as it comes in.');
    expect(soundWords(p({ channels: [1], gain_db: -3, highpass_hz: 80, eq: [{ hz: 100 }, { hz: 200 }], limiter_dbfs: -1, delay_ms: 40 }))).toBe('3 dB quieter, rumble cut below 80 Hz, 2 tone bands, peaks kept under −1 dB, 40 ms delay.');
  });
});
