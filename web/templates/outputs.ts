/** The Outputs page: what is sending now, then each destination's settings (routes: src/http/admin/outputs-page.ts). */
import { html, type Html } from './html.ts';

export interface OutputsPage {
  /** The live "Now" table's slot. */
  now: Html;
  /** The destinations in page order: Icecast entries, recording, listen page, title, MP3 stream, WHIP entries, SRT links, RTP streams. */
  sections: Html[];
}

export function outputsPage(v: OutputsPage): Html {
  return html`<section class="panel wide"><h2>Now</h2>${v.now}</section>
<div class="grid">
${v.sections}
</div>`;
}
