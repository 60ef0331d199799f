/**
 * Accessibility in Chromium: axe-core (served from node_modules, injected into the page) over
 * the first-run page, the login page, every admin page and the listen page, at phone and
 * desktop sizes, in the light and the dark theme: no serious or critical findings (contrast,
 * names, roles, ids). Also: every touch target of the admin pages is at least 44 px high.
 *
 * Default config (input.source = "auto"); the WebRTC UDP port from this file's range.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdirSync } from 'node:fs';
import type { Page } from 'playwright-core';
import { startHark, type HarkProcess } from './lib/hark.ts';
import { injectAxe, launchChromium, type ChromiumHandle } from './lib/browser.ts';
import { setupInPage, useSession } from './lib/session.ts';

const PASSWORD = 'correct horse battery';
const SIZES = { phone: { width: 390, height: 844 }, desktop: { width: 1366, height: 900 } } as const;
const SCHEMES = ['light', 'dark'] as const;
const ADMIN = ['/', '/input', '/programs', '/outputs', '/listeners', '/recordings', '/schedule', '/system'];

let hark: HarkProcess;
let chrome: ChromiumHandle;
let cookie = '';

interface Finding {
  id: string;
  impact: string;
  help: string;
  nodes: string[];
}

/** axe's serious and critical findings on the page as it is now. */
async function axe(page: Page): Promise<Finding[]> {
  await injectAxe(page);
  return page.evaluate(async () => {
    const w = window;
    const r = await w.axe.run(document, { resultTypes: ['violations'] });
    return r.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 5).map((n) => `${n.target.join(' ')}: ${n.failureSummary.replace(/\s+/g, ' ')}`) }));
  });
}

/** Run axe over the given paths at one size and theme; returns the findings, labelled. */
async function check(paths: string[], loggedIn: boolean, size: keyof typeof SIZES, colorScheme: (typeof SCHEMES)[number]): Promise<string[]> {
  const out: string[] = [];
  const ctx = await chrome.browser.newContext({ viewport: SIZES[size], colorScheme });
  if (loggedIn) await useSession(ctx, hark.url, cookie);
  const page = await ctx.newPage();
  try {
    for (const path of paths) {
      await page.goto(`${hark.url}${path}`);
      if (!loggedIn) await page.screenshot({ path: `/tmp/shots-h2/${path.slice(1)}-${size}-${colorScheme}.png` });
      for (const f of await axe(page)) out.push(`${path} ${size} ${colorScheme}: ${f.impact} ${f.id} (${f.help})\n    ${f.nodes.join('\n    ')}`);
    }
  } finally {
    await ctx.close();
  }
  return out;
}

const COMBOS = (Object.keys(SIZES) as (keyof typeof SIZES)[]).flatMap((size) => SCHEMES.map((scheme) => [size, scheme] as const));

beforeAll(async () => {
  mkdirSync('/tmp/shots-h2', { recursive: true });
  hark = await startHark(`
[webrtc]
udp_port = 29211
`);
  chrome = await launchChromium();
}, 120_000);

afterAll(async () => {
  await chrome?.close();
  expect(await hark?.stop()).toBe(0);
});

describe('axe-core: no serious or critical findings, phone and desktop, light and dark', () => {
  test('the first-run and login pages', async () => {
    const findings: string[] = [];
    for (const [size, scheme] of COMBOS) findings.push(...(await check(['/setup'], false, size, scheme)));
    // Then set the password, for the pages after it.
    const page = await chrome.newPage();
    cookie = await setupInPage(page, hark.url, PASSWORD);
    for (const [size, scheme] of COMBOS) findings.push(...(await check(['/login'], false, size, scheme)));
    expect(findings).toEqual([]);
  }, 300_000);

  for (const [size, scheme] of COMBOS) {
    test(`every admin page and the listen page, ${size}, ${scheme}`, async () => {
      expect(await check([...ADMIN, '/listen'], true, size, scheme)).toEqual([]);
    }, 300_000);
  }
});

describe('touch targets', () => {
  test('on a phone every button, nav link and form control of the admin pages is at least 44 px high', async () => {
    const ctx = await chrome.browser.newContext({ viewport: SIZES.phone });
    await useSession(ctx, hark.url, cookie);
    const page = await ctx.newPage();
    const small: string[] = [];
    try {
      for (const path of ADMIN) {
        await page.goto(`${hark.url}${path}`);
        const found = await page.evaluate(() =>
          [...document.querySelectorAll('button, header a, nav a, select, input:not([type=hidden]):not([type=checkbox]):not([type=radio])')]
            .filter((e) => (e as HTMLElement).offsetParent !== null)
            .map((e) => ({ what: `${e.tagName.toLowerCase()} "${(e.textContent || (e as HTMLInputElement).name || '').trim().slice(0, 30)}"`, h: e.getBoundingClientRect().height }))
            .filter((x) => x.h < 44)
            // A checkbox or radio button is worked through its label: that is the target.
            .concat(
              [...document.querySelectorAll('input[type=checkbox], input[type=radio]')]
                .filter((e) => (e as HTMLElement).offsetParent !== null)
                .map((e) => ({ what: `the label of ${(e as HTMLInputElement).type} "${e.id}"`, h: document.querySelector(`label[for="${e.id}"]`)?.getBoundingClientRect().height ?? 0 }))
                .filter((x) => x.h < 44),
            ),
        );
        for (const f of found) small.push(`${path}: ${f.what} is ${f.h.toFixed(0)} px high`);
      }
    } finally {
      await ctx.close();
    }
    expect(small).toEqual([]);
  }, 120_000);

  test('the nav wraps on a phone: every page link is on screen, none scrolled out of sight', async () => {
    const ctx = await chrome.browser.newContext({ viewport: SIZES.phone });
    await useSession(ctx, hark.url, cookie);
    const page = await ctx.newPage();
    try {
      await page.goto(`${hark.url}/`);
      const links = await page.locator('header nav a').evaluateAll((as) => as.map((a) => { const r = a.getBoundingClientRect(); return { text: a.textContent, left: r.left, right: r.right }; }));
      expect(links.length).toBe(8);
      for (const l of links) {
        expect(l.left).toBeGreaterThanOrEqual(0);
        expect(l.right).toBeLessThanOrEqual(390);
      }
      // The log can be scrolled from the keyboard: it takes focus and has a name.
      await page.goto(`${hark.url}/system`);
      const log = page.getByRole('log', { name: /log/i });
      expect(await log.getAttribute('tabindex')).toBe('0');
    } finally {
      await ctx.close();
    }
  }, 60_000);
});
