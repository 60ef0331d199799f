import { afterEach, beforeEach, describe, expect, jest, test } from 'bun:test';
import { Button, type ButtonOptions } from './button.ts';

const base: ButtonOptions = { action: 'toggle_live', longAction: '', longPressMs: 1500, debounceMs: 30 };

function make(o: Partial<ButtonOptions> = {}, initiallyPressed = false) {
  const ran: string[] = [];
  const b = new Button({ ...base, ...o }, (action, kind) => ran.push(`${kind}:${action}`), initiallyPressed);
  return { b, ran };
}

/** A contact that bounces: `levels` edges 1 ms apart, starting now. */
function bounce(b: Button, levels: boolean[]) {
  for (const l of levels) {
    b.edge(l);
    jest.advanceTimersByTime(1);
  }
}

beforeEach(() => jest.useFakeTimers());
afterEach(() => jest.useRealTimers());

describe('Button: debounce', () => {
  test('a press that bounces 6 times within 5 ms runs the action once, at the first edge', () => {
    const { b, ran } = make();
    b.edge(true);
    expect(ran).toEqual(['press:toggle_live']);
    bounce(b, [false, true, false, true, false, true]);
    jest.advanceTimersByTime(100);
    expect(ran).toEqual(['press:toggle_live']);
    expect(b.state).toBe('pressed');
  });

  test('press, release and press again 100 ms apart: two actions', () => {
    const { b, ran } = make();
    b.edge(true);
    jest.advanceTimersByTime(100);
    b.edge(false);
    jest.advanceTimersByTime(100);
    b.edge(true);
    expect(ran).toEqual(['press:toggle_live', 'press:toggle_live']);
  });

  test('a release bounce that settles pressed, inside the window, is no new press', () => {
    const { b, ran } = make();
    b.edge(true);
    jest.advanceTimersByTime(5);
    bounce(b, [false, true]);
    jest.advanceTimersByTime(100);
    expect(ran).toEqual(['press:toggle_live']);
    expect(b.state).toBe('pressed');
  });

  test('a release within the debounce window is taken when the window ends', () => {
    const { b, ran } = make({ longAction: 'mark' });
    b.edge(true);
    jest.advanceTimersByTime(10);
    b.edge(false); // ignored for now: inside the 30 ms window
    expect(b.state).toBe('pressed');
    jest.advanceTimersByTime(25);
    expect(b.state).toBe('released');
    expect(ran).toEqual(['press:toggle_live']);
  });

  test('debounce 0 takes every edge', () => {
    const { b, ran } = make({ debounceMs: 0 });
    for (let i = 0; i < 3; i++) {
      b.edge(true);
      b.edge(false);
    }
    expect(ran).toHaveLength(3);
  });
});

describe('Button: long press', () => {
  test('held past long_press_ms: the long action runs at that moment, and the release runs nothing', () => {
    const { b, ran } = make({ longAction: 'mark', longPressMs: 1500 });
    b.edge(true);
    jest.advanceTimersByTime(1499);
    expect(ran).toEqual([]);
    jest.advanceTimersByTime(1);
    expect(ran).toEqual(['long press:mark']);
    expect(b.state).toBe('held');
    jest.advanceTimersByTime(3000);
    b.edge(false);
    jest.advanceTimersByTime(100);
    expect(ran).toEqual(['long press:mark']);
  });

  test('released before long_press_ms: the short action runs on release', () => {
    const { b, ran } = make({ longAction: 'mark', longPressMs: 1500 });
    b.edge(true);
    jest.advanceTimersByTime(400);
    expect(ran).toEqual([]);
    b.edge(false);
    expect(ran).toEqual(['press:toggle_live']);
    jest.advanceTimersByTime(5000);
    expect(ran).toEqual(['press:toggle_live']);
  });

  test('a bouncing long press still makes exactly one long action', () => {
    const { b, ran } = make({ longAction: 'stop', longPressMs: 800 });
    b.edge(true);
    bounce(b, [false, true, false, true]);
    jest.advanceTimersByTime(1000);
    b.edge(false);
    bounce(b, [true, false]);
    jest.advanceTimersByTime(100);
    expect(ran).toEqual(['long press:stop']);
  });
});

describe('Button: lifecycle', () => {
  test('held when hark starts: nothing runs until it has been released once', () => {
    const { b, ran } = make({}, true);
    jest.advanceTimersByTime(5000);
    b.edge(false);
    jest.advanceTimersByTime(100);
    expect(ran).toEqual([]);
    b.edge(true);
    expect(ran).toEqual(['press:toggle_live']);
  });

  test('after close(), edges and pending long presses do nothing; close() twice is fine', () => {
    const { b, ran } = make({ longAction: 'mark' });
    b.edge(true);
    b.close();
    b.close();
    jest.advanceTimersByTime(5000);
    b.edge(false);
    b.edge(true);
    expect(ran).toEqual([]);
    expect(b.state).toBe('closed');
  });
});
