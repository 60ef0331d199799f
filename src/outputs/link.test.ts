/**
 * The shared reconnect handler (link.ts) against a scripted connector: state transitions, the
 * backoff policy, last error, bytes across links, connected-since, terminal-ish states
 * (auth_failed, mount_in_use), a change reported on every state change, and a link that opens
 * at once with its own state names and fixed wait (the recorder).
 */
import { afterEach, describe, expect, test } from 'bun:test';
import { logger } from '../log.ts';
import { DEFAULT_BACKOFF } from './backoff.ts';
import { LinkHandler, type Connector, type Link, type LinkFailure, type OutputStatus } from './link.ts';

class FakeLink implements Link {
  bytes = 0;
  closed = 0;
  private end?: (err: unknown) => void;
  onEnd(fn: (err: unknown) => void): void {
    this.end = fn;
  }
  close(): void {
    this.closed++;
  }
  fail(err: unknown): void {
    this.end?.(err);
  }
}

class Refused extends Error {
  constructor(
    readonly kind: LinkFailure['kind'],
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

/** Each connect() takes the next scripted answer: a link, or an error thrown. */
class Script implements Connector<FakeLink> {
  answers: (FakeLink | Error)[] = [];
  calls = 0;
  pending?: { resolve: (l: FakeLink) => void };
  hold = false;
  async connect(): Promise<FakeLink> {
    this.calls++;
    if (this.hold) return new Promise((resolve) => (this.pending = { resolve }));
    const a = this.answers.shift() ?? new Refused('transient', 'no answer scripted');
    if (a instanceof Error) throw a;
    return a;
  }
  failure(err: unknown): LinkFailure {
    if (err instanceof Refused) return { kind: err.kind, message: err.message, retryAfterMs: err.retryAfterMs };
    return { kind: 'transient', message: (err as Error).message };
  }
}

const fast = { ...DEFAULT_BACKOFF, initialMs: 40, maxMs: 160, jitter: 0, authMs: 60_000, busyMs: 30_000 };
let handlers: LinkHandler<FakeLink>[] = [];
afterEach(async () => {
  await Promise.all(handlers.map((h) => h.close()));
  handlers = [];
});

/** `at`: when each change was told (Date.now(), the clock next_retry_at is on). */
function make(script: Script, changes: OutputStatus[] = [], at: number[] = []) {
  const h: LinkHandler<FakeLink> = new LinkHandler(script, {
    kind: 'test',
    id: 'one',
    log: logger('test one'),
    backoff: fast,
    random: () => 0,
    where: 'example.org:8000/live',
    authHint: 'check user and password',
    busyText: 'another source is connected to /live',
    onChange: () => {
      at.push(Date.now());
      changes.push(h.outputStatus());
    },
  });
  handlers.push(h);
  return h;
}

async function until(pred: () => boolean, ms = 3000) {
  const end = performance.now() + ms;
  while (!pred()) {
    if (performance.now() > end) throw new Error('condition not reached');
    await Bun.sleep(5);
  }
}

describe('LinkHandler', () => {
  test('stopped → connecting → live; bytes and connected-since come from the link', async () => {
    const s = new Script();
    const link = new FakeLink();
    s.answers = [link];
    const changes: OutputStatus[] = [];
    const h = make(s, changes);
    expect(h.status()).toMatchObject({ state: 'stopped', status: 'stopped', bytes: 0, connected_since: null, connects: 0, attempts: 0 });
    h.start();
    expect(h.state).toBe('connecting');
    expect(h.status().status).toBe('connecting to example.org:8000/live');
    await until(() => h.state === 'live');
    link.bytes = 1234;
    const st = h.status();
    expect(st).toMatchObject({ status: 'live', bytes: 1234, last_error: null, connects: 1, attempts: 1, retry_in_s: null });
    expect(Date.now() - Date.parse(st.connected_since!)).toBeLessThan(2000);
    expect(changes.map((c) => c.state)).toEqual(['connecting', 'live']);
    expect(changes[1]).toMatchObject({ kind: 'test', id: 'one', detail: 'live', where: 'example.org:8000/live', enabled: true, connects: 1 });
  });

  test('a lost link: retrying with the reason, the backoff delay, bytes kept, then live again', async () => {
    const s = new Script();
    const first = new FakeLink();
    const second = new FakeLink();
    s.answers = [first, second];
    const changes: OutputStatus[] = [];
    const h = make(s, changes);
    h.start();
    await until(() => h.state === 'live');
    first.bytes = 1000;
    first.fail(new Error('server closed the connection'));
    expect(h.state).toBe('retrying');
    expect(first.closed).toBe(1);
    const st = h.status();
    expect(st.status).toBe('retrying in 1 s: server closed the connection');
    expect(st.last_error).toBe('server closed the connection');
    expect(st.connected_since).toBeNull();
    expect(st.bytes).toBe(1000);
    // The first transient delay is the policy's initialMs (jitter 0 here).
    expect(Date.parse(st.next_retry_at!) - Date.now()).toBeLessThanOrEqual(fast.initialMs);
    await until(() => h.state === 'live');
    second.bytes = 24;
    expect(h.status()).toMatchObject({ bytes: 1024, connects: 2, attempts: 2, last_error: null, next_retry_at: null });
    expect(changes.map((c) => c.state)).toEqual(['connecting', 'live', 'retrying', 'connecting', 'live']);
  });

  test('transient failures back off exponentially, capped', async () => {
    const s = new Script();
    s.answers = [new Error('refused'), new Error('refused'), new Error('refused'), new Error('refused')];
    const changes: OutputStatus[] = [];
    const at: number[] = [];
    const h = make(s, changes, at);
    h.start();
    await until(() => s.calls === 4 && h.state === 'retrying');
    // The delay each failure scheduled, read when the handler said so (not when this test's
    // poll got round to it, which a loaded machine delays): 40, 80, 160, 160 ms.
    const delays = changes.flatMap((c, i) => (c.state === 'retrying' ? [Date.parse(c.retry_at!) - at[i]!] : []));
    expect(delays).toHaveLength(4);
    [40, 80, 160, 160].forEach((want, i) => expect(Math.abs(delays[i]! - want)).toBeLessThanOrEqual(1));
    expect(h.status().last_error).toBe('refused');
  });

  test('refused credentials: auth_failed, waiting the auth delay', async () => {
    const s = new Script();
    s.answers = [new Refused('auth', 'authentication failed (401)')];
    const h = make(s);
    h.start();
    await until(() => h.state === 'auth_failed');
    const st = h.status();
    expect(st.status).toBe('auth failed: check user and password (retrying in 60 s)');
    expect(st.last_error).toBe('authentication failed (401)');
    expect(st.retry_in_s).toBe(60);
  });

  test('a taken mount: mount_in_use, 30 s; right after our own drop, 5 s', async () => {
    const s = new Script();
    s.answers = [new Refused('busy', 'mount in use')];
    const h = make(s);
    h.start();
    await until(() => h.state === 'mount_in_use');
    expect(h.status().status).toBe('mount in use: another source is connected to /live (retrying in 30 s)');
    await h.close();

    const s2 = new Script();
    const link = new FakeLink();
    s2.answers = [link, new Refused('busy', 'mount in use')];
    const h2 = make(s2);
    h2.start();
    await until(() => h2.state === 'live');
    link.fail(new Error('dropped'));
    await until(() => h2.state === 'mount_in_use');
    expect(h2.status().retry_in_s).toBe(5);
  });

  test("a server's Retry-After is honoured", async () => {
    const s = new Script();
    s.answers = [new Refused('transient', 'busy (503)', 20_000)];
    const h = make(s);
    h.start();
    await until(() => h.state === 'retrying');
    expect(h.status().retry_in_s).toBe(20);
  });

  test('retryNow tries again at once, counting the attempt', async () => {
    const s = new Script();
    const link = new FakeLink();
    let first = true;
    s.failure = (err) => (first ? ((first = false), { kind: 'transient', message: String(err), retryNow: true }) : { kind: 'transient', message: String(err) });
    s.answers = [new Error('method not allowed'), link];
    const h = make(s);
    h.start();
    await until(() => h.state === 'live');
    expect(h.status()).toMatchObject({ attempts: 2, connects: 1, last_error: null });
  });

  test('close() while connecting: stopped at once, the late link is closed, no retry', async () => {
    const s = new Script();
    s.hold = true;
    const changes: OutputStatus[] = [];
    const h = make(s, changes);
    h.start();
    await until(() => s.pending !== undefined);
    await h.close();
    expect(h.state).toBe('stopped');
    const late = new FakeLink();
    s.pending!.resolve(late);
    await until(() => late.closed === 1);
    await Bun.sleep(100);
    expect(h.state).toBe('stopped');
    expect(s.calls).toBe(1);
    expect(changes.map((c) => c.state)).toEqual(['connecting', 'stopped']);
  });

  test('close() on a live link closes it; start() again connects afresh', async () => {
    const s = new Script();
    const a = new FakeLink();
    const b = new FakeLink();
    s.answers = [a, b];
    const h = make(s);
    h.start();
    await until(() => h.state === 'live');
    a.bytes = 10;
    await h.close();
    expect(a.closed).toBe(1);
    expect(h.status()).toMatchObject({ state: 'stopped', bytes: 10, connected_since: null });
    h.start();
    await until(() => h.state === 'live');
    expect(h.link).toBe(b);
  });

  test('a link that opens at once (the recorder): live within start(), its own state names, a fixed wait with its own name, retryNow', async () => {
    let room = false;
    const link = new FakeLink();
    const full = new Error('only 0 MB free');
    const instant: Connector<FakeLink> = {
      connect: () => {
        if (!room) throw full;
        return link;
      },
      failure: (e) => (e === full ? { kind: 'transient', message: full.message, waitMs: 60_000, state: 'disk_full' } : { kind: 'transient', message: String(e) }),
    };
    const changes: string[] = [];
    const h: LinkHandler<FakeLink> = new LinkHandler(instant, {
      kind: 'recording',
      id: '',
      log: logger('test instant'),
      backoff: fast,
      where: '/srv/rec',
      authHint: '',
      states: { live: 'recording' },
      onChange: () => changes.push(h.outputStatus().state),
    });
    handlers.push(h);
    h.start();
    // Waits as its own state, at the fixed period rather than the backoff's first step.
    expect(h.state).toBe('retrying');
    expect(h.stateName).toBe('disk_full');
    const st = h.outputStatus();
    expect(st).toMatchObject({ state: 'disk_full', last_error: 'only 0 MB free' });
    expect(Date.parse(st.retry_at!) - Date.now()).toBeGreaterThan(30_000);
    // Still no room: another try stays in the same state, with no new change.
    h.retryNow();
    expect(h.attempts).toBe(2);
    room = true;
    h.retryNow();
    expect(h.state).toBe('live');
    expect(h.outputStatus()).toMatchObject({ state: 'recording', last_error: null, retry_at: null });
    expect(changes).toEqual(['disk_full', 'recording']);
    // Not waiting: retryNow does nothing.
    h.retryNow();
    expect(h.attempts).toBe(3);
  });
});
