/** Waiting in tests: on a condition, bounded in time, saying what was waited for when it gives up. */

/** Resolve once `check` is true (polled every 100 ms); after `ms`, fail naming `what`. */
export async function until(check: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return;
    await Bun.sleep(100);
  }
  throw new Error(`timed out after ${ms} ms: ${what}`);
}
