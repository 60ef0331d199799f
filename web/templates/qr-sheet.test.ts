import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import type { Page } from 'playwright-core';
import { chromiumAvailable, launchChromium, type ChromiumHandle } from '../../test/lib/browser.ts';
import { languageName, qrSheetPage, QR_SHEET_STYLE_SRC, type SheetProgram } from './qr-sheet.ts';

const LANGS = ['en', 'es', 'fr', 'de', 'ja', 'ar', 'uk', 'pt-BR'];
const NAMES = ['Floor (original)', 'Interpretación al español', 'Interprétation française', 'Deutsche Verdolmetschung', '日本語通訳', 'الترجمة العربية', 'Українською', 'Português do Brasil'];
const programs = (n: number): SheetProgram[] =>
  Array.from({ length: n }, (_, i) => ({ id: `p${i}`, name: NAMES[i]!, language: LANGS[i]!, url: `http://studio.local/listen/${LANGS[i]!.toLowerCase()}` }));
const sheet = (n: number, over: Partial<Parameters<typeof qrSheetPage>[0]> = {}) =>
  qrSheetPage({ boxName: 'Studio A — Main hall', wifiHint: 'hark-guests', programs: programs(n), ...over });
/** The words a reader sees (tags, the stylesheet and the codes' titles left out). */
const words = (page: string) =>
  page.replace(/<style>[^]*?<\/style>|<title>[^]*?<\/title>/g, ' ').replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').trim();
const FOOTER = 'No app needed: open the camera, point it at the code, tap the link. Headphones recommended.';

describe('the scan-to-listen sheet', () => {
  test('one program: the heading, the box, the Wi-Fi, one big code with the name, language and address, the footer', () => {
    const page = sheet(1);
    expect(page.startsWith('<!doctype html>')).toBe(true);
    expect(page).toContain('@page { size: A4; margin: 12mm }');
    expect(page.match(/<svg /g)?.length).toBe(1);
    expect(page).toContain('<main class="n1">');
    expect(words(page)).toBe(`Scan to listen Studio A — Main hall Join the Wi-Fi: hark-guests Floor (original) English http://studio.local/listen/en ${FOOTER}`);
  });

  test('three programs: two columns, each language named in itself', () => {
    const page = sheet(3);
    expect(page.match(/<svg /g)?.length).toBe(3);
    expect(page).toContain('<main class="n2">');
    const text = words(page);
    for (const part of ['Floor (original) English', 'Interpretación al español Español', 'Interprétation française Français', 'http://studio.local/listen/fr']) expect(text).toContain(part);
    expect(page).toContain('<p class="lang" lang="es">Español</p>');
  });

  test('eight programs: three columns, smaller codes and heading', () => {
    const page = sheet(8);
    expect(page.match(/<svg /g)?.length).toBe(8);
    expect(page).toContain('<main class="n3 rows3">');
    expect(page).toContain('<div class="sheet dense">');
    for (const part of ['日本語通訳 日本語', 'Українською Українська', 'Português do Brasil Português (Brasil)', 'الترجمة العربية العربية']) expect(words(page)).toContain(part);
  });

  test('no Wi-Fi hint: no Wi-Fi line', () => {
    expect(words(sheet(2, { wifiHint: '' }))).not.toContain('Wi-Fi');
    expect(words(sheet(2))).toContain('Join the Wi-Fi: hark-guests');
  });

  test('standalone: no script, nothing fetched', () => {
    for (const n of [1, 4, 8]) expect(sheet(n)).not.toMatch(/<script|<link|<img|<iframe|\ssrc=|\shref=|url\(|@import/i);
  });

  test('hostile names, hints and addresses are escaped', () => {
    const evil = '<script>alert(1)</script>"\'&';
    const page = qrSheetPage({
      boxName: `<img src=x onerror=alert(1)>${evil}`,
      wifiHint: evil,
      programs: [{ id: `"><b>`, name: evil, language: `"><i>`, url: `javascript:alert(1)//"><script>x</script>` }],
    });
    expect(page).not.toMatch(/<script|<img|<i>/);
    expect(page.match(/<b>/g)?.length).toBe(1); // the sheet's own, around the Wi-Fi name
    expect(page).toContain('&lt;img src=x onerror=alert(1)&gt;&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;');
    expect(page).toContain('Join the Wi-Fi: <b>&lt;script&gt;');
    expect(page).toContain('data-program="&quot;&gt;&lt;b&gt;"');
    expect(page).toContain('lang="&quot;&gt;&lt;i&gt;"');
    expect(page).toContain('<p class="url clamp">javascript:alert(1)//&quot;&gt;&lt;script&gt;x&lt;/script&gt;</p>');
  });

  test('1 to 8 programs; none or nine is a RangeError', () => {
    expect(() => sheet(0)).toThrow(new RangeError('a scan-to-listen sheet holds 1 to 8 programs, not 0'));
    expect(() => qrSheetPage({ boxName: 'x', wifiHint: '', programs: [...programs(8), programs(1)[0]!] })).toThrow(RangeError);
  });

  test('language names in their own language, the tag when unknown', () => {
    expect(['en', 'es', 'ja', 'de', 'pt-BR', 'zz', 'not a tag!'].map(languageName)).toEqual(['English', 'Español', '日本語', 'Deutsch', 'Português (Brasil)', 'zz', 'not a tag!']);
  });
});

/** Page objects in a PDF (a page tree's /Pages nodes do not count). */
const pdfPages = (pdf: Uint8Array) => Buffer.from(pdf).toString('latin1').match(/\/Type\s*\/Page(?![a-zA-Z])/g)?.length ?? 0;

/** Where things are, in CSS px, for the checks that nothing is cut off. */
async function layout(page: Page) {
  return page.evaluate(() => {
    const box = (e: Element) => {
      const r = e.getBoundingClientRect();
      return { top: r.top, bottom: r.bottom, left: r.left, right: r.right, width: r.width, height: r.height };
    };
    return {
      sheet: box(document.querySelector('.sheet')!),
      header: box(document.querySelector('header')!),
      footer: box(document.querySelector('footer')!),
      cards: [...document.querySelectorAll('.card')].map((c) => ({ card: box(c), svg: box(c.querySelector('svg')!), url: box(c.querySelector('.url')!) })),
    };
  });
}

const within = (inner: { top: number; bottom: number; left: number; right: number }, outer: typeof inner) =>
  inner.top >= outer.top - 0.5 && inner.bottom <= outer.bottom + 0.5 && inner.left >= outer.left - 0.5 && inner.right <= outer.right + 0.5;

describe.skipIf(!chromiumAvailable())('the sheet in Chromium', () => {
  let chromium: ChromiumHandle;
  let page: Page;
  beforeAll(async () => {
    chromium = await launchChromium();
    page = await chromium.newPage();
  });
  afterAll(() => chromium?.close());

  const worst = () =>
    qrSheetPage({
      boxName: 'The very long name of a box that somebody gave it, at the conference centre, main hall, second floor, left side',
      wifiHint: 'conference-centre-guests-5GHz-extra, password: correct horse battery staple correct horse battery staple',
      programs: programs(8).map((p, i) => ({ ...p, name: `${p.name} — a name long enough to need more lines than a card has for it ${i}`, url: `${p.url}?${'x'.repeat(170)}` })),
    });

  test.each([
    ['1 program', () => sheet(1)],
    ['4 programs', () => sheet(4)],
    ['8 programs', () => sheet(8)],
    ['8 programs, every text at its longest, 200-character addresses', worst],
  ] as const)('%s: one A4 page, nothing cut off, codes square', async (_, make) => {
    await page.setViewportSize({ width: 794, height: 1123 });
    await page.setContent(make());
    expect(pdfPages(await page.pdf({ format: 'A4' }))).toBe(1);
    await page.emulateMedia({ media: 'print' });
    const l = await layout(page);
    await page.emulateMedia({ media: null });
    expect(within(l.header, l.sheet)).toBe(true);
    expect(within(l.footer, l.sheet)).toBe(true);
    expect(l.footer.height).toBeGreaterThan(10);
    for (const c of l.cards) {
      expect(within(c.card, l.sheet)).toBe(true);
      expect(c.card.bottom).toBeLessThanOrEqual(l.footer.top);
      expect(within(c.svg, c.card)).toBe(true);
      expect(within(c.url, c.card)).toBe(true);
      expect(Math.abs(c.svg.width - c.svg.height)).toBeLessThan(0.5);
      expect(c.svg.width).toBeGreaterThan(140); // 40 mm at 96 px to the inch is 151 px
    }
  });

  test('the 4-program sheet on screen at A4 size: every code scans (zbarimg)', async () => {
    await page.setViewportSize({ width: 794, height: 1123 });
    await page.setContent(sheet(4));
    await page.screenshot({ path: '/tmp/qr-sheet-4.png' });
    const zbarimg = Bun.which('zbarimg');
    if (!zbarimg) throw new Error('zbarimg not found (Debian package zbar-tools; script/bootstrap --test installs it)');
    const p = Bun.spawnSync([zbarimg, '--nodbus', '-q', '/tmp/qr-sheet-4.png']);
    const found = p.stdout.toString().trim().split('\n').sort();
    expect(found).toEqual(programs(4).map((x) => `QR-Code:${x.url}`).sort());
  });

  test('served under a strict policy (default-src none; the stylesheet by its hash): styled, nothing refused', async () => {
    const csp = `default-src 'none'; style-src ${QR_SHEET_STYLE_SRC}`;
    const before = chromium.logs.length;
    await page.route('http://sheet.test/', (r) => r.fulfill({ status: 200, contentType: 'text/html; charset=utf-8', headers: { 'content-security-policy': csp }, body: sheet(4) }));
    await page.goto('http://sheet.test/');
    expect(await page.evaluate(() => getComputedStyle(document.querySelector('main')!).display)).toBe('grid');
    expect(chromium.logs.slice(before).filter((l) => /Content.Security.Policy|Refused/i.test(l))).toEqual([]);
  });
});
