import { afterEach, beforeEach, describe, expect, jest, test } from 'bun:test';
import { defaultConfig, parseConfig } from '../config/load.ts';
import { Control } from '../control/control.ts';
import { EventBus } from '../control/events.ts';
import { forceLogLevel, logTail } from '../log.ts';
import { Gpio } from './gpio.ts';
import { GpioUnavailableError, parseLine, SimLineSource } from './lines.ts';

forceLogLevel('debug');
const PI_LINES = ['GPIO17', 'GPIO27', 'GPIO24', 'GPIO25', 'GPIO23'];

function rig(toml = '', names = PI_LINES, busy: string[] = []) {
  const config = toml ? parseConfig(toml) : defaultConfig();
  const events = new EventBus();
  const control = new Control(events);
  const sim = new SimLineSource(names, busy);
  const gpio = new Gpio(config.gpio, { control, events });
  gpio.start(() => sim);
  return { gpio, sim, control, events };
}

/** Let Control.run's promises (its queue, its hooks) settle. */
async function settle() {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}

/** Log lines written since `mark`. */
function logSince(mark: number): string {
  return logTail().slice(mark).join('\n');
}

beforeEach(() => jest.useFakeTimers());
afterEach(() => jest.useRealTimers());

describe('parseLine', () => {
  test.each([
    ['GPIO17', { kind: 'name', name: 'GPIO17' }],
    ['pl061:3', { kind: 'offset', chip: 'pl061', offset: 3 }],
    ['gpiochip0:17', { kind: 'offset', chip: 'gpiochip0', offset: 17 }],
    ['/dev/gpiochip4:5', { kind: 'offset', chip: '/dev/gpiochip4', offset: 5 }],
    ['9030000.pl061:0', { kind: 'offset', chip: '9030000.pl061', offset: 0 }],
    ['12', { kind: 'offset', chip: null, offset: 12 }],
    ['ID_SDA', { kind: 'name', name: 'ID_SDA' }],
  ])('%s', (text, spec) => expect(parseLine(text)).toEqual(spec as ReturnType<typeof parseLine>));
});

describe('Gpio with the default build (2 buttons, 3 LEDs)', () => {
  test('the live button goes live through Control, by origin gpio, and the live LED follows', async () => {
    const { gpio, sim, control, events } = rig();
    const actions: string[] = [];
    events.on('action', (e) => actions.push(`${e.action} by ${e.origin}`));
    expect(gpio.state).toBe('running');
    expect(sim.level('GPIO23')).toBe(false);
    sim.set('GPIO17', true);
    await settle();
    expect(control.state).toBe('live');
    expect(actions).toEqual(['toggle_live by gpio']);
    expect(sim.level('GPIO23')).toBe(true);
    jest.advanceTimersByTime(100);
    sim.set('GPIO17', false);
    jest.advanceTimersByTime(100);
    sim.set('GPIO17', true);
    await settle();
    expect(control.state).toBe('idle');
    expect(sim.level('GPIO23')).toBe(false);
    gpio.close();
  });

  test('the mute button toggles mute; the muted LED blinks at 2 Hz until unmuted', async () => {
    const { gpio, sim, control } = rig();
    sim.set('GPIO27', true);
    await settle();
    expect(control.isMuted).toBe(true);
    const seen: boolean[] = [];
    for (let i = 0; i < 8; i++) {
      seen.push(sim.level('GPIO24')!);
      jest.advanceTimersByTime(125);
    }
    expect(seen).toEqual([true, true, false, false, true, true, false, false]);
    sim.set('GPIO27', false);
    jest.advanceTimersByTime(100);
    sim.set('GPIO27', true);
    await settle();
    expect(control.isMuted).toBe(false);
    jest.advanceTimersByTime(1000);
    expect(sim.level('GPIO24')).toBe(false);
    gpio.close();
  });

  test('an action another client runs (the web page) lights the LEDs too, mute while idle included', async () => {
    const { gpio, sim, control } = rig();
    await control.run('mute', {}, 'web');
    expect(control.state).toBe('idle');
    expect(sim.level('GPIO24')).toBe(true);
    await control.run('go_live', {}, 'web');
    expect(sim.level('GPIO23')).toBe(true);
    gpio.close();
  });

  test('flash (the first start after a factory reset): the three LEDs blink together, then show their state again', () => {
    const { gpio, sim } = rig();
    gpio.flash(1000);
    const leds = ['GPIO23', 'GPIO24', 'GPIO25'];
    expect(leds.map((n) => sim.level(n))).toEqual([true, true, true]);
    jest.advanceTimersByTime(125);
    expect(leds.map((n) => sim.level(n))).toEqual([false, false, false]);
    jest.advanceTimersByTime(125);
    expect(leds.map((n) => sim.level(n))).toEqual([true, true, true]);
    jest.advanceTimersByTime(1000);
    // Off air, not muted, no signal: all dark again.
    expect(leds.map((n) => sim.level(n))).toEqual([false, false, false]);
    gpio.close();
  });

  test('close() turns the LEDs off and releases every line', async () => {
    const { gpio, sim, control } = rig();
    await control.run('go_live', {}, 'api');
    expect(sim.level('GPIO23')).toBe(true);
    gpio.close();
    gpio.close();
    expect(sim.writes.get('GPIO23')).toEqual([false, true, false]);
    for (const n of PI_LINES) expect(sim.isRequested(n)).toBe(false);
    expect(gpio.state).toBe('closed');
  });
});

describe('Gpio: the LIVE button held while hark starts (factory reset)', () => {
  function held(heldLines: string[]) {
    const events = new EventBus();
    const control = new Control(events);
    const sim = new SimLineSource(PI_LINES, [], heldLines);
    let resets = 0;
    const gpio = new Gpio(defaultConfig().gpio, { control, events, onFactoryReset: () => resets++ });
    gpio.start(() => sim);
    return { gpio, sim, control, resets: () => resets };
  }

  test('held 10 s from the start: the reset runs once, and the release after it does not go live', async () => {
    const mark = logTail().length;
    const { gpio, sim, control, resets } = held(['GPIO17']);
    expect(logSince(mark)).toContain('keep holding it 10 s to reset this box to its factory settings');
    jest.advanceTimersByTime(9_999);
    expect(resets()).toBe(0);
    jest.advanceTimersByTime(1);
    expect(resets()).toBe(1);
    sim.set('GPIO17', false);
    jest.advanceTimersByTime(1000);
    await settle();
    expect(control.snapshot().live).toBe(false);
    expect(resets()).toBe(1);
    gpio.close();
  });

  test('let go before 10 s: no reset, and the button works as usual afterwards', async () => {
    const { gpio, sim, control, resets } = held(['GPIO17']);
    jest.advanceTimersByTime(4000);
    sim.set('GPIO17', false);
    jest.advanceTimersByTime(20_000);
    expect(resets()).toBe(0);
    sim.set('GPIO17', true);
    jest.advanceTimersByTime(100);
    sim.set('GPIO17', false);
    jest.advanceTimersByTime(100);
    await settle();
    expect(control.snapshot().live).toBe(true);
    gpio.close();
  });

  test('only the LIVE button counts, only when held at the start; close() cancels a hold', () => {
    const mute = held(['GPIO27']);
    jest.advanceTimersByTime(20_000);
    expect(mute.resets()).toBe(0);
    mute.gpio.close();
    const later = held([]);
    later.sim.set('GPIO17', true);
    jest.advanceTimersByTime(20_000);
    expect(later.resets()).toBe(0);
    later.gpio.close();
    const closed = held(['GPIO17']);
    closed.gpio.close();
    jest.advanceTimersByTime(20_000);
    expect(closed.resets()).toBe(0);
  });
});

describe('Gpio: an interpreter\'s cough button (one program muted alone)', () => {
  test('toggle_mute with program = "es" mutes that program, not the box', async () => {
    const config = parseConfig('[input]\nchannels = 4\n[[program]]\nid = "floor"\nchannels = [1, 2]\n[[program]]\nid = "es"\nchannels = [3]\n[[gpio.button]]\nline = "GPIO27"\naction = "toggle_mute"\nprogram = "es"\n');
    const events = new EventBus();
    const muted = new Set<string>();
    const control = new Control(events, {
      setProgramMuted: (p, m) => (m ? muted.add(p) : muted.delete(p)),
      isProgramMuted: (p) => muted.has(p),
    });
    const sim = new SimLineSource(PI_LINES);
    const gpio = new Gpio(config.gpio, { control, events });
    gpio.start(() => sim);
    sim.set('GPIO27', true);
    jest.advanceTimersByTime(100);
    sim.set('GPIO27', false);
    await settle();
    expect([...muted]).toEqual(['es']);
    expect(control.isMuted).toBe(false);
    sim.set('GPIO27', true);
    jest.advanceTimersByTime(100);
    sim.set('GPIO27', false);
    await settle();
    expect([...muted]).toEqual([]);
    gpio.close();
  });
});

describe('Gpio: long press and refused actions', () => {
  test('a long press runs its long action (mark), a short one the action', async () => {
    const { gpio, sim, control } = rig(`
[[gpio.button]]
line = "GPIO17"
action = "toggle_mute"
long_press_ms = 1000
long_action = "mark"
`);
    sim.set('GPIO17', true);
    jest.advanceTimersByTime(1200);
    await settle();
    expect(control.marks).toHaveLength(1);
    expect(control.isMuted).toBe(false);
    sim.set('GPIO17', false);
    jest.advanceTimersByTime(100);
    sim.set('GPIO17', true);
    jest.advanceTimersByTime(200);
    sim.set('GPIO17', false);
    await settle();
    expect(control.isMuted).toBe(true);
    expect(control.marks).toHaveLength(1);
    gpio.close();
  });

  test('a refused action is logged with the line and the reason, and the button keeps working', async () => {
    const config = parseConfig('[[gpio.button]]\nline = "GPIO17"\naction = "mark"\n');
    const events = new EventBus();
    const sim = new SimLineSource(PI_LINES);
    let calls = 0;
    const control = {
      run: async () => {
        calls++;
        throw new Error('not now');
      },
    };
    const gpio = new Gpio(config.gpio, { control, events });
    gpio.start(() => sim);
    const mark = logTail().length;
    sim.set('GPIO17', true);
    await settle();
    expect(logSince(mark)).toContain('[gpio GPIO17] press: mark refused: not now');
    jest.advanceTimersByTime(100);
    sim.set('GPIO17', false);
    jest.advanceTimersByTime(100);
    sim.set('GPIO17', true);
    await settle();
    expect(calls).toBe(2);
    gpio.close();
  });
});

describe('Gpio: missing GPIO warns and hark runs on', () => {
  test('a missing line is warned about by name; the other lines work', async () => {
    const mark = logTail().length;
    const { gpio, sim, control } = rig('', ['GPIO17', 'GPIO23']);
    const log = logSince(mark);
    expect(log).toContain('line "GPIO27"');
    expect(log).toContain('line "GPIO24"');
    expect(log).toContain('line "GPIO25"');
    expect(log).toContain('hark runs on without it');
    expect(gpio.state).toBe('degraded');
    expect(gpio.problems.map((p) => p.line)).toEqual(['GPIO27', 'GPIO24', 'GPIO25']);
    sim.set('GPIO17', true);
    await settle();
    expect(control.state).toBe('live');
    expect(sim.level('GPIO23')).toBe(true);
    gpio.close();
  });

  test('a line in use elsewhere is warned about; the others are still requested', () => {
    const mark = logTail().length;
    const { gpio, sim } = rig('', PI_LINES, ['GPIO24']);
    expect(logSince(mark)).toMatch(/line "GPIO24".*EBUSY/);
    expect(sim.isRequested('GPIO24')).toBe(false);
    expect(sim.isRequested('GPIO25')).toBe(true);
    expect(gpio.state).toBe('degraded');
    gpio.close();
  });

  test('the default [gpio] on a machine with no chip (not a Pi): no warning, one debug line', () => {
    const mark = logTail().length;
    const gpio = new Gpio(defaultConfig().gpio, { control: new Control(new EventBus()), events: new EventBus(), chipPresent: () => false });
    gpio.start(() => {
      throw new GpioUnavailableError('no usable GPIO chip (no /dev/gpiochip* device)');
    });
    expect(gpio.state).toBe('unavailable');
    expect(logSince(mark)).not.toMatch(/\b(warn|error)\b/);
    gpio.close();
  });

  test('GPIO set up in the config, and no chip: one warning naming the reason and the lines', () => {
    const mark = logTail().length;
    const gpio = new Gpio({ ...defaultConfig().gpio, debounce_ms: 25 }, { control: new Control(new EventBus()), events: new EventBus(), chipPresent: () => false });
    gpio.start(() => {
      throw new GpioUnavailableError('no usable GPIO chip (no /dev/gpiochip* device)');
    });
    expect(gpio.state).toBe('unavailable');
    expect(logSince(mark)).toContain(
      'no usable GPIO chip (no /dev/gpiochip* device); hark runs on without buttons and LEDs (GPIO17, GPIO27, GPIO23, GPIO24, GPIO25)',
    );
    gpio.close();
  });

  test('enabled = false opens nothing', () => {
    let opened = false;
    const gpio = new Gpio(parseConfig('[gpio]\nenabled = false\n').gpio, { control: new Control(new EventBus()), events: new EventBus() });
    gpio.start(() => {
      opened = true;
      return new SimLineSource([]);
    });
    expect(opened).toBe(false);
    expect(gpio.state).toBe('off');
  });
});
