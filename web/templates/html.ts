/**
 * Tagged-template HTML with escaping by default: every interpolated value is escaped unless
 * it is already `Html` (the output of another template or of `raw`). Arrays are joined.
 * There is no other way to put text into a page, so user-supplied strings cannot inject markup.
 */
export class Html {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

const ESC: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '`': '&#96;' };

/** Escape text for element content and quoted attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"'`]/g, (c) => ESC[c]!);
}

type Part = Html | string | number | boolean | null | undefined | readonly Part[];

function render(v: Part): string {
  if (v === null || v === undefined || v === false) return '';
  if (v instanceof Html) return v.value;
  if (Array.isArray(v)) return v.map(render).join('');
  return escapeHtml(String(v));
}

export function html(strings: TemplateStringsArray, ...values: Part[]): Html {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) out += render(values[i]!) + strings[i + 1]!;
  return new Html(out);
}

/** Markup hark itself wrote (never user input). */
export function raw(s: string): Html {
  return new Html(s);
}

/** An attribute that is present or absent: html`<input ${attr('checked', on)}>`. */
export function attr(name: string, on: boolean): Html {
  return new Html(on ? name : '');
}

export const htmlResponse = (body: Html, status = 200, headers: Record<string, string> = {}) =>
  new Response(body.value, {
    status,
    headers: {
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      'x-frame-options': 'DENY',
      'referrer-policy': 'same-origin',
      ...headers,
    },
  });
