/**
 * The printable "scan to listen" sheet: one A4 page with a QR code per program, to put on the
 * tables or the door. A standalone document — its own inline stylesheet, the codes as inline
 * SVG, no script and nothing fetched — so it prints the same from a browser, a saved file or
 * a PDF. Values reach markup only through `html` (escaped) and qrSvg (which escapes its label).
 */
import { createHash } from 'node:crypto';
import { qrSvg } from '../../src/http/qr.ts';
import { html, raw, type Html } from './html.ts';

export interface SheetProgram {
  id: string;
  name: string;
  /** BCP 47 tag of the program's language: "en", "es", "pt-BR". */
  language: string;
  /** The listen page's address for this program, as a phone on the venue's Wi-Fi reaches it. */
  url: string;
}

/** The most programs one sheet holds (three rows of three columns, the last row short). */
export const SHEET_MAX_PROGRAMS = 8;

/**
 * The language's name in that language ("es" → "Español", "ja" → "日本語"), for listeners
 * looking for their own; the tag itself when it is not a language the runtime knows.
 */
export function languageName(tag: string): string {
  try {
    const name = new Intl.DisplayNames([tag], { type: 'language', fallback: 'none' }).of(tag);
    if (name) return name.charAt(0).toLocaleUpperCase(tag) + name.slice(1);
  } catch {
    // RangeError: not a well-formed language tag.
  }
  return tag;
}

// Sizes in millimetres: A4 is 210 × 297 mm, 186 × 273 inside the 12 mm margins. The sheet is
// given a fixed 268 mm (a little under, for rounding) and every text that could grow is held
// to two or three lines, so a long name or address can never push a card onto a second page;
// what the codes get is what is left when each of those texts takes all its lines (the test
// prints that case). 5–8 programs: a smaller heading, three columns. The smallest code, 40 mm,
// is still over 1 mm a module up to version 3 (an address of up to 42 characters at level M).
const STYLE = `@page { size: A4; margin: 12mm }
* { box-sizing: border-box }
html { background: #fff; color: #000; font: 11pt/1.3 system-ui, "DejaVu Sans", sans-serif }
body { margin: 0 }
.sheet { width: 186mm; height: 268mm; overflow: hidden; display: flex; flex-direction: column }
@media screen { .sheet { margin: 12mm auto } }
.clamp { display: -webkit-box; -webkit-box-orient: vertical; -webkit-line-clamp: 2; overflow: hidden; overflow-wrap: anywhere }
h1, h2, .box, .wifi, footer { text-wrap: balance }
header { text-align: center; margin-bottom: 5mm }
h1 { font-size: 26pt; margin: 0; line-height: 1.15 }
.box { font-size: 16pt; font-weight: 600; margin: 1mm 0 0 }
.wifi { font-size: 13pt; margin: 2mm 0 0 }
main { flex: 1; min-height: 0; display: grid; gap: 5mm; align-content: center; justify-content: center }
.card { border: 0.3mm solid #888; border-radius: 3mm; padding: 3mm; text-align: center; overflow: hidden; break-inside: avoid }
.card h2 { font-size: 15pt; margin: 0 }
.card .lang { font-size: 11pt; margin: 0.5mm 0 1.5mm; color: #333 }
.card svg { display: block; margin: 0 auto }
.card .url { font: 9pt/1.25 ui-monospace, "DejaVu Sans Mono", monospace; margin: 1.5mm 0 0 }
footer { text-align: center; font-size: 12pt; margin-top: 5mm }
.n1 { grid-template-columns: 150mm }
.n1 .card { padding: 6mm }
.n1 .card h2 { font-size: 24pt }
.n1 .card .lang { font-size: 15pt }
.n1 .card svg { width: 120mm; height: 120mm }
.n1 .card .url { font-size: 12pt; -webkit-line-clamp: 3 }
/* Two lines kept for every name, so the codes of one row line up whether a name wraps or not. */
.n2 .card h2, .n3 .card h2 { min-height: 2.6em; line-height: 1.3 }
.n2 { grid-template-columns: repeat(2, 86mm) }
.n2 .card svg { width: 62mm; height: 62mm }
.dense header { margin-bottom: 3mm }
.dense h1 { font-size: 20pt }
.dense .box { font-size: 13pt }
.dense .wifi { font-size: 11pt }
.dense footer { font-size: 10pt; margin-top: 3mm }
.n3 { grid-template-columns: repeat(3, 58mm); gap: 3mm }
.n3 .card { padding: 2.5mm }
.n3 .card h2 { font-size: 12pt; min-height: 2.5em; line-height: 1.25 }
.n3 .card .lang { font-size: 10pt; margin: 0.5mm 0 1mm }
.n3 .card svg { width: 52mm; height: 52mm }
.n3.rows3 .card svg { width: 40mm; height: 40mm }
.n3 .card .url { font-size: 7.5pt; margin-top: 1mm }
`;

/**
 * The stylesheet's CSP source (`'sha256-…'`): a route that serves the sheet adds it to
 * style-src, since hark's policy (style-src 'self') refuses an inline <style> otherwise.
 */
export const QR_SHEET_STYLE_SRC = `'sha256-${createHash('sha256').update(STYLE).digest('base64')}'`;

/** The grid for a number of programs: one big code, two columns to 4, three columns to 8. */
function layoutClass(n: number): string {
  if (n === 1) return 'n1';
  if (n <= 4) return 'n2';
  return n <= 6 ? 'n3' : 'n3 rows3';
}

function card(p: SheetProgram): Html {
  const language = languageName(p.language);
  return html`<section class="card" data-program="${p.id}">
<h2 class="clamp">${p.name}</h2>
<p class="lang" lang="${p.language}">${language}</p>
${raw(qrSvg(p.url, { ecl: 'M', moduleSize: 4, label: `QR code for ${p.name} (${language}): ${p.url}` }))}
<p class="url clamp">${p.url}</p>
</section>`;
}

/**
 * The whole sheet for 1–8 programs (a RangeError otherwise): "Scan to listen", the box's
 * name, the Wi-Fi to join (the line left out when `wifiHint` is empty), a card per program
 * with its name, its language in that language, the code and the address, and how to scan.
 */
export function qrSheetPage(p: { boxName: string; wifiHint: string; programs: SheetProgram[] }): string {
  const n = p.programs.length;
  if (n < 1 || n > SHEET_MAX_PROGRAMS) throw new RangeError(`a scan-to-listen sheet holds 1 to ${SHEET_MAX_PROGRAMS} programs, not ${n}`);
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Scan to listen${p.boxName ? html` — ${p.boxName}` : ''}</title>
<style>${raw(STYLE)}</style>
</head>
<body>
<div class="sheet${n > 4 ? ' dense' : ''}">
<header>
<h1>Scan to listen</h1>
${p.boxName ? html`<p class="box clamp">${p.boxName}</p>` : ''}
${p.wifiHint ? html`<p class="wifi clamp">Join the Wi-Fi: <b>${p.wifiHint}</b></p>` : ''}
</header>
<main class="${layoutClass(n)}">
${p.programs.map(card)}
</main>
<footer>No app needed: open the camera, point it at the code, tap the link. Headphones recommended.</footer>
</div>
</body>
</html>
`.value;
}
