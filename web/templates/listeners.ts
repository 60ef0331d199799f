/** The Listeners page: who is listening, on what, for how long, and how well it arrives (routes: src/http/admin/listeners-page.ts). */
import { html, type Html } from './html.ts';

export function listenersPage(v: { count: Html; table: Html }): Html {
  return html`<section class="panel wide">${v.count}${v.table}</section>`;
}
