import { Elysia } from 'elysia';
import { jsonError } from './errors.ts';
import type { AppContext } from '../control/context.ts';
import type { RtpOutput } from '../outputs/rtp/index.ts';

/** The ids /rtp/<id>.sdp accepts: [[rtp]] ids (rtp-check.ts), and nothing else reaches a lookup. */
const SDP_FILE = /^([a-z0-9][a-z0-9_-]{0,31})\.sdp$/;

/** GET /rtp/<id>.sdp: the session description of an `[[rtp]]` output, for a receiver to open (ffmpeg, GStreamer, VLC). */
export const rtpRoutes = (ctx: AppContext) =>
  new Elysia({ name: 'rtp' }).get('/rtp/:file', async ({ params }) => {
    const outputs = ctx.broadcast.outputs('rtp') as readonly RtpOutput[];
    const m = SDP_FILE.exec(params.file);
    const out = m ? outputs.find((o) => o.id === m[1]) : undefined;
    if (!out) {
      const list = outputs.length ? `the RTP streams are ${outputs.map((o) => `/rtp/${o.id}.sdp`).join(', ')}` : 'there are no [[rtp]] streams in the settings';
      return jsonError(404, `no such RTP stream: ${m ? `no [[rtp]] entry "${m[1]}"` : 'an RTP session description is /rtp/<id>.sdp'}; ${list}`);
    }
    return new Response(await out.sdp(), {
      headers: { 'content-type': 'application/sdp', 'content-disposition': `inline; filename="${out.id}.sdp"`, 'cache-control': 'no-store', 'access-control-allow-origin': '*' },
    });
  });
