/**
 * The first-run page as a person on another computer uses it: GET /setup (its form token and
 * cookie), then POST the setup code and a new password. Used by the image's boot test (over
 * QEMU's forwarded HTTPS port) and by test/setup-claim.test.ts here.
 */
export interface ClaimResult {
  /** The GET /setup status (404 once a password is set). */
  getStatus: number;
  /** Whether the page asked for the setup code. */
  askedForCode: boolean;
  /** The POST /setup status (303 to / when the box is claimed). */
  postStatus: number;
  location: string | null;
  body: string;
}

const TLS = { tls: { rejectUnauthorized: false } } as RequestInit;

export async function claimWithSetupCode(base: string, code: string, password: string, timeoutMs = 60_000): Promise<ClaimResult> {
  const get = await fetch(`${base}/setup`, { ...TLS, redirect: 'manual', signal: AbortSignal.timeout(timeoutMs) });
  const page = await get.text();
  if (get.status !== 200) return { getStatus: get.status, askedForCode: false, postStatus: 0, location: null, body: page };
  const csrf = page.match(/name="_csrf" value="([^"]+)"/)?.[1] ?? '';
  const cookies = get.headers
    .getSetCookie()
    .map((c) => c.split(';')[0]!)
    .filter((c) => /csrf/i.test(c));
  const post = await fetch(`${base}/setup`, {
    ...TLS,
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: cookies.join('; '), origin: base },
    body: new URLSearchParams({ _csrf: csrf, code, password, confirm: password }).toString(),
    signal: AbortSignal.timeout(timeoutMs),
  });
  return { getStatus: 200, askedForCode: /name="code"/.test(page), postStatus: post.status, location: post.headers.get('location'), body: await post.text() };
}
