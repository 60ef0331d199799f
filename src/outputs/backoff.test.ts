import { describe, expect, test } from 'bun:test';
import { Backoff, DEFAULT_BACKOFF } from './backoff.ts';

describe('Backoff', () => {
  test('transient: 1, 2, 4 … s, jittered down by at most half, capped at 30 s', () => {
    for (const r of [0, 0.5, 0.999]) {
      const b = new Backoff(DEFAULT_BACKOFF, () => r);
      const delays = Array.from({ length: 8 }, () => b.next('transient'));
      const bases = [1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000];
      delays.forEach((d, i) => {
        expect(d).toBeLessThanOrEqual(bases[i]!);
        expect(d).toBeGreaterThanOrEqual(bases[i]! / 2);
      });
    }
  });

  test('jitter spreads a fleet: 100 outputs do not retry at the same moment', () => {
    const first = new Set(Array.from({ length: 100 }, () => new Backoff().next('transient')));
    expect(first.size).toBeGreaterThan(50);
  });

  test('auth and busy refusals never retry sooner than 30 s, and grow', () => {
    for (const r of [0, 0.999]) {
      const b = new Backoff(DEFAULT_BACKOFF, () => r);
      const auth = [b.next('auth'), b.next('auth'), b.next('auth')];
      expect(auth[0]!).toBeGreaterThanOrEqual(60_000);
      expect(auth[2]!).toBeGreaterThan(auth[0]!);
      expect(Math.max(...auth)).toBeLessThanOrEqual(DEFAULT_BACKOFF.authMaxMs);
      b.reset();
      expect(b.next('busy')).toBeGreaterThanOrEqual(30_000);
    }
  });

  test('a connection that stayed up restarts the sequence; a flapping one does not', () => {
    const b = new Backoff(DEFAULT_BACKOFF, () => 0);
    b.next('transient');
    b.next('transient');
    b.connectionEnded(500);
    expect(b.next('transient')).toBe(4000);
    b.connectionEnded(DEFAULT_BACKOFF.stableMs);
    expect(b.next('transient')).toBe(1000);
  });
});
