/**
 * The reconnect policy every output that sends on its own shares (Icecast, WHIP, the recorder
 * after a failed write): exponential backoff with jitter, capped, and a slower lane for
 * refusals that retrying soon cannot fix.
 */

/** Why the last attempt ended, as far as the policy cares. */
export type FailureKind =
  /** Network errors, timeouts, server errors: retry soon, then back off. */
  | 'transient'
  /** Credentials refused (401/403 auth): retrying soon only hammers the server's log. */
  | 'auth'
  /** The mount or session is taken by someone else: it may free up, but not in a second. */
  | 'busy';

export interface BackoffPolicy {
  /** First transient delay before jitter. */
  initialMs: number;
  /** Cap on any transient delay. */
  maxMs: number;
  /** Jitter: the delay is drawn uniformly from [base × (1 − jitter), base]. */
  jitter: number;
  /** Auth failures: first delay and cap; jitter only lengthens these. */
  authMs: number;
  authMaxMs: number;
  /** Mount/session in use: first delay and cap. */
  busyMs: number;
  busyMaxMs: number;
  /** A connection that stayed up this long resets the sequence. */
  stableMs: number;
}

/**
 * Defaults: 1 s, 2 s, 4 s … capped at 30 s with up to half of it shaved off at random, so a
 * fleet of boxes that lost the same server does not come back in lockstep. Auth failures wait
 * 60 s, then up to 10 min; a taken mount 30 s, then up to 2 min — never closer than 30 s.
 */
export const DEFAULT_BACKOFF: BackoffPolicy = {
  initialMs: 1000,
  maxMs: 30_000,
  jitter: 0.5,
  authMs: 60_000,
  authMaxMs: 600_000,
  busyMs: 30_000,
  busyMaxMs: 120_000,
  stableMs: 2000,
};

/** One output's position in the retry sequence. */
export class Backoff {
  private transient = 0;
  private slow = 0;

  constructor(
    readonly policy: BackoffPolicy = DEFAULT_BACKOFF,
    private readonly random: () => number = Math.random,
  ) {}

  /** The delay before the next attempt, after a failure of `kind`. Advances the sequence. */
  next(kind: FailureKind): number {
    const p = this.policy;
    if (kind === 'transient') {
      const base = Math.min(p.maxMs, p.initialMs * 2 ** this.transient);
      this.transient = Math.min(this.transient + 1, 30);
      return Math.round(base * (1 - p.jitter * this.random()));
    }
    const [first, cap] = kind === 'auth' ? [p.authMs, p.authMaxMs] : [p.busyMs, p.busyMaxMs];
    const base = Math.min(cap, first * 2 ** this.slow);
    this.slow = Math.min(this.slow + 1, 30);
    // Jitter upwards only: the floor is the promise (no retry sooner than `first`).
    return Math.round(Math.min(cap, base * (1 + 0.25 * this.random())));
  }

  /** A connection ended after being up `upMs`: a stable one starts the sequence afresh. */
  connectionEnded(upMs: number): void {
    if (upMs >= this.policy.stableMs) this.reset();
  }

  reset(): void {
    this.transient = 0;
    this.slow = 0;
  }
}
