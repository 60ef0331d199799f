// hark's listen page: one Play button, WHEP (draft-ietf-wish-whep) to hark's /whep, L/R meters
// with peak hold and a clip lamp, volume, the station, title and broadcast state from
// /listen/info, lock-screen controls (Media Session), and the connection's details (latency from
// getStats, codec, packets) folded away.
//
// Recovery: a session that was playing and goes quiet, fails or outlives its hark (hark
// restarted: /listen/info's `instance` changed) reconnects over WebRTC as soon as hark answers.
// /listen/events dropping says at once that hark went away; /listen/info is then asked every
// quarter second until it answers. MP3 is only for a browser or a
// hark that cannot do WebRTC audio at all: no codec in common (MP3 over the data channel),
// WebRTC audio that never arrives on a fresh connection (the same), or no RTCPeerConnection,
// WebRTC disabled or full (the plain /stream.mp3).
//
// Programs: a hark may send several programs from one input (a floor mix and interpretation
// into other languages). With more than one, the page lists them with each one's live level
// (/listen/events `levels`); the choice is /listen/<id>, else the one remembered on this
// device, else hark's default, and switching connects the new program's session without a
// reload. With one program the page is as it always was.
// Low latency (issue 19; a switch, remembered; ?ll=1 or ?ll=2.5 in the address turns it on
// for this page, ?ll=0 off): the session also opens the `opus-ll` data channel, and ll.js
// decodes and plays it through hark's own jitter buffer in an AudioWorklet. The RTP track of the
// same session stays, muted, and plays at once where that path cannot (no WebCodecs Opus, the
// channel not open within 3 s, or closed).
// No build step and no third-party code: every byte is served by hark.

import { LL_CHANNEL_OPTIONS, LL_LABEL, LowLatencyPath, llSupport } from './ll.js';

const $ = (id) => document.getElementById(id);
const query = new URLSearchParams(location.search);
const hash = new URLSearchParams(location.hash.slice(1));
const TOKEN = hash.get('token') ?? query.get('token') ?? '';
const INFO_URL = '/listen/info';
/** A path with the listener token (when the page has one) as `?token=`. */
const withToken = (path) => (TOKEN ? `${path}?token=${encodeURIComponent(TOKEN)}` : path);
const EVENTS_URL = withToken('/listen/events');
/** The program in the page's own address, /listen/<id>; null on /listen. */
const PATH_PROGRAM = (() => {
  const m = /^\/listen\/([^/]+)\/?$/.exec(location.pathname);
  try {
    return m ? decodeURIComponent(m[1]) : null;
  } catch {
    return null;
  }
})();
/**
 * ?ll=1 (or 5) turns low latency on for this page with 5 ms packets, ?ll=2.5 with 2.5 ms ones,
 * ?ll=0 turns it off; without it, the switch as this device remembers it.
 */
const LL_QUERY = query.get('ll');
const LL_FRAME = LL_QUERY === '2.5' ? '2.5' : '5';
/** The channel's label; ?ll_label= changes it (tests: a label hark refuses). */
const LL_CHANNEL = query.get('ll_label') ?? LL_LABEL;
/** Where this device remembers the program it listened to last. */
const PROGRAM_KEY = 'hark.program';
/** How long (ms) without a `levels` event before the programs' level bars fall to nothing. */
const LEVELS_STALE_MS = 1500;
/**
 * WHEP endpoint of a program: /whep for hark's default (as before programs), /whep/<id> for
 * another; ?whep= overrides it for every program (tests, another server).
 */
function whepUrl(program) {
  return query.get('whep') ?? (programs.isDefault(program) ? '/whep' : `/whep/${encodeURIComponent(program)}`);
}

/** The plain MP3 stream of a program: /stream.mp3 for hark's default, /stream/<id>.mp3 for another. */
function streamUrl(program) {
  return withToken(programs.isDefault(program) ? '/stream.mp3' : `/stream/${encodeURIComponent(program)}.mp3`);
}

/** Seconds a fresh connection may go without any audio before Automatic mode tries MP3. */
const NO_AUDIO_FALLBACK_S = 5;
/**
 * How often /listen/info is asked: with /listen/events open (a safety net), else while playing
 * or stopped, and while hark is away.
 */
const INFO_EVERY_MS = { streaming: 15000, playing: 2000, stopped: 3000, down: 250 };
/** ?codec=PCMU,PCMA: offer only these (e.g. to hear the G.711 fallback); default: all. */
const CODECS = (query.get('codec') ?? '').split(',').filter(Boolean).map((c) => `audio/${c.toLowerCase()}`);
/** The meters' range and colour zones, dBFS. */
const METER_MIN_DB = -60;
const ZONE_AMBER_DB = -18;
const ZONE_RED_DB = -6;
const CLIP_DB = -0.5;
const SCALE_DB = [-60, -40, -30, -20, -12, -6, 0];

const ui = {
  play: $('play'),
  label: document.querySelector('#play .label'),
  icon: document.querySelector('#play .icon'),
  state: $('state'),
  station: $('station-name'),
  programName: $('program-name'),
  programs: $('programs'),
  programList: $('program-list'),
  title: $('title'),
  onair: $('onair'),
  onairText: $('onair-text'),
  volume: $('volume'),
  volumeOut: $('volume-value'),
  latency: $('latency'),
  jitter: $('jitter'),
  rtt: $('rtt'),
  codec: $('codec'),
  received: $('received'),
  concealed: $('concealed'),
  llStatus: $('ll-status'),
  lowLatency: $('lowlatency'),
  mode: $('mode'),
  audio: $('audio'),
  scale: $('scale'),
  streamLink: $('stream-link'),
  meters: [...document.querySelectorAll('.meter')].map((el) => ({
    el,
    bar: el.querySelector('.bar'),
    fill: el.querySelector('.fill'),
    peak: el.querySelector('.peak'),
    clip: el.querySelector('.clip'),
    db: el.querySelector('.db'),
  })),
};

/** Meter position of a level, in % of the bar: METER_MIN_DB … 0 dBFS, linear in dB. */
function pct(db) {
  return Number.isFinite(db) ? Math.max(0, Math.min(100, ((db - METER_MIN_DB) / -METER_MIN_DB) * 100)) : 0;
}

/** A level for people: "−12.3", "−∞" below the meter, "—" without audio. */
function formatDb(db, live = true) {
  if (!live) return '—';
  if (!Number.isFinite(db) || db < -90) return '−∞';
  const t = db.toFixed(1);
  return t === '-0.0' ? '0.0' : t.replace('-', '−');
}

/** The scale's labels and the bar's zones, placed by pct() like the bar itself. */
function drawScale() {
  ui.scale.replaceChildren(
    ...SCALE_DB.map((db) => {
      const s = document.createElement('span');
      s.textContent = db === 0 ? '0' : `−${-db}`;
      s.dataset.db = String(db);
      s.style.left = `${pct(db)}%`;
      return s;
    }),
  );
  document.documentElement.style.setProperty('--zone-amber', `${pct(ZONE_AMBER_DB)}%`);
  document.documentElement.style.setProperty('--zone-red', `${pct(ZONE_RED_DB)}%`);
}

/** What the status line says; `kind`: 'ok', 'wait' or 'error' (colour only, the words say it all). */
function setState(text, kind = 'wait') {
  if (ui.state.textContent !== text) ui.state.textContent = text;
  ui.state.dataset.kind = kind;
}

/** A WHEP refusal or network failure, with what the server said. */
class WhepError extends Error {
  constructor(message, status = 0, retryAfter = 0) {
    super(message);
    this.status = status;
    this.retryAfter = retryAfter;
  }
}

/**
 * Ask for stereo Opus (RFC 7587 §7): the receiver's offer declares what it decodes, and
 * browsers leave stereo=1 out by default.
 */
function preferStereo(sdp) {
  const m = /a=rtpmap:(\d+) opus\/48000\/2/i.exec(sdp);
  if (!m) return sdp;
  const pt = m[1];
  const fmtp = new RegExp(`a=fmtp:${pt} ([^\\r\\n]*)`);
  const f = fmtp.exec(sdp);
  if (!f) return sdp.replace(m[0], `${m[0]}\r\na=fmtp:${pt} stereo=1;sprop-stereo=1`);
  if (/stereo=1/.test(f[1])) return sdp;
  return sdp.replace(f[0], `a=fmtp:${pt} ${f[1]};stereo=1;sprop-stereo=1`);
}

function headers(extra = {}) {
  return TOKEN ? { ...extra, authorization: `Bearer ${TOKEN}` } : extra;
}

async function refusal(res) {
  let reason = `${res.status} ${res.statusText}`;
  try {
    const body = await res.json();
    if (body.error) reason = body.error;
  } catch {}
  return new WhepError(reason, res.status, Number(res.headers.get('retry-after')) || 0);
}

/**
 * One WHEP session: an RTCPeerConnection receiving audio (mode "webrtc") or the `mp3` data
 * channel (mode "mp3"), its resource URL and ETag for trickle ICE and teardown.
 */
class WhepSession {
  /** `llFrame`: also open the low-latency channel, with packets this long ('5' or '2.5' ms). */
  constructor(mode, program, handlers, llFrame = null) {
    this.mode = mode;
    this.program = program;
    this.llFrame = llFrame;
    this.llPath = null;
    const url = whepUrl(program);
    this.url = llFrame ? `${url}${url.includes('?') ? '&' : '?'}ll=${llFrame}` : url;
    this.handlers = handlers;
    this.pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
    this.location = null;
    this.etag = null;
    this.pending = [];
    this.closed = false;
  }

  async start() {
    await (this.prepared ??= this.prepare());
    if (this.closed) return;
    await this.send();
  }

  /**
   * The offer, with the host candidates gathered: made while hark is away, so that only the
   * POST is left when it answers.
   */
  async prepare() {
    const pc = this.pc;
    if (this.mode === 'webrtc') {
      const t = pc.addTransceiver('audio', { direction: 'recvonly' });
      this.receiver = t.receiver;
      if (CODECS.length && t.setCodecPreferences) {
        const all = RTCRtpReceiver.getCapabilities('audio')?.codecs ?? [];
        t.setCodecPreferences(all.filter((c) => CODECS.includes(c.mimeType.toLowerCase())));
      }
      pc.ontrack = (ev) => this.handlers.track(ev.streams[0] ?? new MediaStream([ev.track]), ev.receiver);
      // Created before the offer, so that the offer carries the data channel too.
      if (this.llFrame) this.llDc = pc.createDataChannel(LL_CHANNEL, LL_CHANNEL_OPTIONS);
    } else {
      const dc = pc.createDataChannel('mp3', { ordered: true });
      dc.binaryType = 'arraybuffer';
      dc.onmessage = (ev) => this.handlers.mp3(ev.data);
      dc.onopen = () => this.handlers.mp3Open();
      // hark drops an MP3 listener it has not heard from for 12 s (a closed tab says nothing).
      this.keepalive = setInterval(() => dc.readyState === 'open' && dc.send('keepalive'), 2000);
      this.dc = dc;
    }
    pc.onconnectionstatechange = () => this.handlers.connection(pc.connectionState);
    pc.onicecandidate = (ev) => this.trickle(ev.candidate);

    const offer = await pc.createOffer();
    offer.sdp = preferStereo(offer.sdp);
    await pc.setLocalDescription(offer);
    // Give the host candidates a moment to land in the offer; the rest trickle by PATCH.
    await new Promise((r) => {
      if (pc.iceGatheringState === 'complete') return r();
      const t = setTimeout(r, 150);
      pc.addEventListener('icegatheringstatechange', () => pc.iceGatheringState === 'complete' && (clearTimeout(t), r()));
    });
  }

  async send() {
    const pc = this.pc;
    let res;
    try {
      res = await fetch(this.url, {
        method: 'POST',
        headers: headers({ 'content-type': 'application/sdp' }),
        body: pc.localDescription.sdp,
        signal: AbortSignal.timeout(8000),
      });
    } catch (e) {
      throw new WhepError(`unreachable (${e.message})`);
    }
    if (res.status !== 201) throw await refusal(res);
    this.location = new URL(res.headers.get('location'), new URL(this.url, location.href)).href;
    this.etag = res.headers.get('etag');
    const answer = await res.text();
    // Stopped while the offer was on its way: the resource hark made for it goes too.
    if (this.closed) return this.deleteResource();
    await pc.setRemoteDescription({ type: 'answer', sdp: answer });
    this.flushCandidates();
  }

  trickle(candidate) {
    if (this.closed) return;
    this.pending.push(candidate ? `a=${candidate.candidate}` : 'a=end-of-candidates');
    if (this.location) this.flushCandidates();
  }

  async flushCandidates() {
    if (!this.location || this.pending.length === 0 || this.closed) return;
    const lines = this.pending.splice(0);
    const local = this.pc.localDescription?.sdp ?? '';
    const ufrag = /a=ice-ufrag:(\S+)/.exec(local)?.[1];
    const pwd = /a=ice-pwd:(\S+)/.exec(local)?.[1];
    const mid = /a=mid:(\S+)/.exec(local)?.[1] ?? '0';
    const frag = [`a=ice-ufrag:${ufrag}`, `a=ice-pwd:${pwd}`, 'm=audio 9 UDP/TLS/RTP/SAVPF 0', `a=mid:${mid}`, ...lines].join('\r\n') + '\r\n';
    try {
      await fetch(this.location, {
        method: 'PATCH',
        headers: headers({ 'content-type': 'application/trickle-ice-sdpfrag', 'if-match': this.etag }),
        body: frag,
      });
    } catch {}
  }

  deleteResource() {
    if (!this.location || this.deleted) return;
    this.deleted = true;
    fetch(this.location, { method: 'DELETE', headers: headers(), keepalive: true }).catch(() => {});
  }

  /** Close the connection and delete the WHEP resource (keepalive: survives page unload). */
  stop() {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.keepalive);
    this.llPath?.close();
    this.deleteResource();
    try {
      this.pc.close();
    } catch {}
  }
}

/** The program's plain MP3 stream in the <audio> element: for browsers and harks without WebRTC audio. */
class HttpSession {
  constructor(program, handlers) {
    this.mode = 'http';
    this.program = program;
    this.handlers = handlers;
    this.closed = false;
  }

  async start() {
    const a = ui.audio;
    a.srcObject = null;
    this.onError = () => !this.closed && this.handlers.connection('failed');
    this.onPlaying = () => !this.closed && this.handlers.connection('connected');
    a.addEventListener('error', this.onError);
    a.addEventListener('ended', this.onError);
    a.addEventListener('playing', this.onPlaying);
    const url = streamUrl(this.program);
    a.src = `${url}${url.includes('?') ? '&' : '?'}t=${Date.now()}`;
    this.handlers.element();
    a.play().catch(() => {});
  }

  stop() {
    if (this.closed) return;
    this.closed = true;
    const a = ui.audio;
    a.removeEventListener('error', this.onError);
    a.removeEventListener('ended', this.onError);
    a.removeEventListener('playing', this.onPlaying);
    a.pause();
    a.removeAttribute('src');
    a.load();
  }
}

/** L/R level meters with peak hold and a clip lamp, from an AnalyserNode per channel. */
class Meters {
  constructor(ctx) {
    this.ctx = ctx;
    this.splitter = ctx.createChannelSplitter(2);
    this.analysers = [0, 1].map((ch) => {
      const a = ctx.createAnalyser();
      a.fftSize = 2048;
      a.smoothingTimeConstant = 0;
      this.splitter.connect(a, ch);
      return a;
    });
    this.buf = new Float32Array(2048);
    this.hold = [{ db: -Infinity, at: 0 }, { db: -Infinity, at: 0 }];
    this.clipAt = [-Infinity, -Infinity];
    this.source = null;
    this.live = false;
    this.ariaAt = 0;
    this.drawnAt = performance.now();
    this.frame = () => this.draw();
    requestAnimationFrame(this.frame);
  }

  attach(node) {
    // The node before may be disconnected already (a low-latency path closes its worklet node
    // when its session ends): disconnect() then throws, and must not stop the new one attaching.
    try {
      this.source?.disconnect(this.splitter);
    } catch {}
    this.source = node;
    node?.connect(this.splitter);
    this.live = !!node;
    if (!node) this.hold = [{ db: -Infinity, at: 0 }, { db: -Infinity, at: 0 }];
  }

  draw() {
    const now = performance.now();
    const aria = now - this.ariaAt > 250;
    if (aria) this.ariaAt = now;
    this.analysers.forEach((a, ch) => {
      let db = -Infinity;
      if (this.live) {
        a.getFloatTimeDomainData(this.buf);
        let peak = 0;
        for (const x of this.buf) peak = Math.max(peak, Math.abs(x));
        db = peak > 0 ? 20 * Math.log10(peak) : -Infinity;
      }
      const h = this.hold[ch];
      // Peak hold: 1.5 s, then fall at 20 dB/s down to the bottom of the meter (not for ever).
      if (db >= h.db) Object.assign(h, { db, at: now });
      else if (now - h.at > 1500) {
        const fallen = h.db - (20 * (now - this.drawnAt)) / 1000;
        h.db = fallen < METER_MIN_DB ? -Infinity : Math.max(db, fallen);
      }
      if (db > CLIP_DB) this.clipAt[ch] = now;
      const m = ui.meters[ch];
      m.fill.style.width = `${pct(db)}%`;
      m.peak.style.left = `${pct(h.db)}%`;
      m.peak.hidden = !Number.isFinite(h.db);
      const clipping = this.live && now - this.clipAt[ch] < 2000;
      if (m.clip.dataset.on !== String(clipping)) m.clip.dataset.on = String(clipping);
      const text = formatDb(h.db, this.live);
      if (m.db.textContent !== text) m.db.textContent = text;
      if (aria) {
        // The meter's value for screen readers: the held peak, within the meter's range.
        const v = Number.isFinite(h.db) ? Math.max(METER_MIN_DB, Math.min(0, h.db)) : METER_MIN_DB;
        m.el.setAttribute('aria-valuenow', v.toFixed(1));
        m.el.setAttribute('aria-valuetext', !this.live ? 'no audio' : Number.isFinite(h.db) && h.db >= METER_MIN_DB ? `${Math.round(h.db)} dB${clipping ? ', clipping' : ''}` : 'silent');
      }
    });
    this.drawnAt = now;
    requestAnimationFrame(this.frame);
  }
}

/**
 * /listen/info: station, title, broadcast state, programs and hark's instance. Polled every few
 * seconds, every quarter second while hark does not answer; `check()` asks at once.
 */
class Info {
  constructor(onChange) {
    this.onChange = onChange;
    this.info = null;
    /** Settles with hark's first answer (or its first failure to answer). */
    this.ready = new Promise((r) => (this.settle = r));
    this.settled = false;
    this.down = false;
    this.timer = 0;
    this.inflight = null;
    this.streaming = false;
    this.check();
    this.listen();
  }

  /**
   * /listen/events: changes at once, and its connection dropping says at once that hark went
   * away (EventSource then reconnects by itself, every second).
   */
  listen() {
    if (!window.EventSource) return;
    const es = new EventSource(EVENTS_URL);
    es.addEventListener('info', (ev) => {
      this.streaming = true;
      try {
        this.apply(JSON.parse(ev.data));
      } catch {}
    });
    es.addEventListener('levels', (ev) => {
      try {
        programs.showLevels(JSON.parse(ev.data));
      } catch {}
    });
    es.onerror = () => {
      this.streaming = false;
      this.check();
    };
    this.events = es;
  }

  /** Ask now; resolves to whether hark answered. */
  check() {
    if (this.inflight) return this.inflight;
    clearTimeout(this.timer);
    this.inflight = (async () => {
      let next = null;
      try {
        const res = await fetch(INFO_URL, { headers: headers(), cache: 'no-store', signal: AbortSignal.timeout(5000) });
        if (res.ok) next = await res.json();
      } catch (e) {
        // Slow is not gone (a busy hark, a slow network): ask again, change nothing. Stalled
        // audio is noticed by the player itself.
        if (e.name === 'TimeoutError') {
          this.inflight = null;
          this.schedule();
          return !this.down;
        }
      }
      this.inflight = null;
      this.apply(next);
      return !!next;
    })();
    return this.inflight;
  }

  /** What hark said (null: it did not answer). */
  apply(next) {
    const prev = this.info;
    const wasDown = this.down;
    this.down = !next;
    if (next) this.info = next;
    this.schedule();
    this.onChange({ info: this.info, down: this.down, wasDown, restarted: !!(next && prev && prev.instance !== next.instance) });
    this.settled = true;
    this.settle();
  }

  schedule() {
    clearTimeout(this.timer);
    const every = this.down ? INFO_EVERY_MS.down : this.streaming ? INFO_EVERY_MS.streaming : player?.playing ? INFO_EVERY_MS.playing : INFO_EVERY_MS.stopped;
    this.timer = setTimeout(() => this.check(), every);
  }
}

/** A language tag in words: "Spanish", with its own name first where that differs ("Español — Spanish"). */
function languageWords(tag) {
  if (!tag) return '';
  const name = (locale) => {
    try {
      const n = new Intl.DisplayNames([locale], { type: 'language', fallback: 'none' }).of(tag);
      return n ? n.charAt(0).toLocaleUpperCase(locale) + n.slice(1) : '';
    } catch {
      return '';
    }
  };
  const here = name(document.documentElement.lang || 'en');
  const own = name(tag);
  if (!here) return own || tag;
  return own && own.toLocaleLowerCase() !== here.toLocaleLowerCase() ? `${own} — ${here}` : here;
}

/**
 * The programs hark offers and the one this page plays: the chooser (a radio group of cards,
 * each with the program's live level), the heading, the address and what is remembered.
 * Shown only when there is more than one program.
 */
class Programs {
  constructor() {
    /** From /listen/info: [{ id, name, language, muted }], the default first. */
    this.list = [];
    /** hark's default program (what /whep and /stream.mp3 carry); null until hark answered. */
    this.main = null;
    /** The program this page plays; until hark answers, the one asked for by address or remembered. */
    this.id = PATH_PROGRAM ?? (localStorage.getItem(PROGRAM_KEY) || null);
    this.cards = new Map();
    this.cardsKey = '';
    /** The last level of each program (dBFS, the louder channel's peak), for the cards and tests. */
    this.levels = {};
    this.levelsTimer = 0;
    ui.programList.addEventListener('keydown', (ev) => this.key(ev));
  }

  get multi() {
    return this.list.length > 1;
  }

  get current() {
    return this.list.find((p) => p.id === this.id) ?? null;
  }

  /** Whether `id` is hark's default program (so /whep and /stream.mp3 carry it). */
  isDefault(id) {
    return id == null || (this.main !== null && id === this.main) || (this.main === null && id === 'main');
  }

  /**
   * What hark said (/listen/info). The first answer settles which program plays: the address,
   * else the remembered one while it exists, else the default. Later, a program that is gone
   * gives way to the default. Returns whether the program changed.
   */
  update(i) {
    if (!i) return false;
    const first = this.main === null;
    const list = Array.isArray(i.programs) && i.programs.length ? i.programs : [{ id: 'main', name: i.station || 'hark', language: '', muted: false }];
    this.list = list;
    this.main = typeof i.main === 'string' && list.some((p) => p.id === i.main) ? i.main : list[0].id;
    const before = this.id;
    const has = (id) => id != null && list.some((p) => p.id === id);
    if (first) {
      const stored = localStorage.getItem(PROGRAM_KEY);
      this.id = has(PATH_PROGRAM) ? PATH_PROGRAM : has(stored) ? stored : this.main;
      if (this.multi && has(PATH_PROGRAM)) localStorage.setItem(PROGRAM_KEY, this.id);
    } else if (!has(this.id)) this.id = this.main;
    this.render();
    return this.id !== before && !(before === null && this.isDefault(this.id));
  }

  /** The listener picked a program: remember it, show it, and play it (without a reload). */
  choose(id) {
    if (id === this.id || !this.list.some((p) => p.id === id)) return;
    this.id = id;
    localStorage.setItem(PROGRAM_KEY, id);
    this.render();
    showInfo({ info: info.info, down: info.down });
    player.switchProgram();
  }

  render() {
    const multi = this.multi;
    ui.programs.hidden = !multi;
    ui.programName.hidden = !multi;
    const p = this.current;
    ui.programName.textContent = multi && p ? p.name : '';
    ui.streamLink.href = streamUrl(this.id);
    ui.streamLink.textContent = new URL(streamUrl(this.id), location.href).href;
    if (!multi) {
      if (this.cards.size) ui.programList.replaceChildren();
      this.cards.clear();
      this.cardsKey = '';
      return;
    }
    // The address says which program this is: a link shared from here opens it.
    const path = `/listen/${encodeURIComponent(this.id)}`;
    if (location.pathname !== path) history.replaceState(history.state, '', `${path}${location.search}${location.hash}`);
    const key = JSON.stringify(this.list.map((x) => [x.id, x.name, x.language]));
    if (key !== this.cardsKey) {
      this.cardsKey = key;
      this.cards.clear();
      ui.programList.replaceChildren(...this.list.map((x) => this.card(x)));
    }
    for (const x of this.list) {
      const c = this.cards.get(x.id);
      const on = x.id === this.id;
      c.el.setAttribute('aria-checked', String(on));
      c.el.tabIndex = on ? 0 : -1;
      c.muted.hidden = !x.muted;
      this.paintLevel(x.id);
    }
  }

  /** One program's card: a radio with its name, language, "Muted" and a live level bar. */
  card(p) {
    const el = document.createElement('button');
    el.type = 'button';
    el.className = 'program';
    el.setAttribute('role', 'radio');
    el.dataset.program = p.id;
    const span = (cls, text = '') => {
      const s = document.createElement('span');
      s.className = cls;
      s.textContent = text;
      return s;
    };
    const mark = span('mark');
    mark.setAttribute('aria-hidden', 'true');
    const name = span('name', p.name);
    if (p.language) name.lang = p.language;
    const words = languageWords(p.language);
    const lang = span('lang', words);
    lang.hidden = !words || words === p.name;
    const muted = span('tag', 'Muted');
    // The bar is for the eye: which program has sound. Its value changes four times a second,
    // which a screen reader would read out on every change.
    const level = span('level');
    level.setAttribute('aria-hidden', 'true');
    const fill = span('level-fill');
    fill.append(span('zones'));
    level.append(fill);
    el.append(mark, name, lang, muted, level);
    el.addEventListener('click', () => this.choose(p.id));
    this.cards.set(p.id, { el, muted, fill });
    this.paintLevel(p.id);
    return el;
  }

  /** Arrow keys move through the programs and choose (WAI-ARIA APG radio group); Home/End too. */
  key(ev) {
    const ids = this.list.map((p) => p.id);
    const at = ids.indexOf(ev.target.closest('.program')?.dataset.program);
    if (at < 0) return;
    const step = { ArrowDown: 1, ArrowRight: 1, ArrowUp: -1, ArrowLeft: -1 }[ev.key];
    let to;
    if (step) to = (at + step + ids.length) % ids.length;
    else if (ev.key === 'Home') to = 0;
    else if (ev.key === 'End') to = ids.length - 1;
    else return;
    ev.preventDefault();
    this.choose(ids[to]);
    this.cards.get(ids[to])?.el.focus();
  }

  /** /listen/events `levels`: { id: { peak: [dB…], rms: [dB…] } }, four times a second. */
  showLevels(data) {
    for (const [id, l] of Object.entries(data ?? {})) {
      const peaks = (l?.peak ?? []).filter(Number.isFinite);
      this.levels[id] = peaks.length ? Math.max(...peaks) : -Infinity;
    }
    for (const id of this.cards.keys()) this.paintLevel(id);
    // hark gone quiet (stopped, restarting): no stale bars.
    clearTimeout(this.levelsTimer);
    this.levelsTimer = setTimeout(() => {
      this.levels = {};
      for (const id of this.cards.keys()) this.paintLevel(id);
    }, LEVELS_STALE_MS);
  }

  /** A muted program's bar stays empty: its listeners hear nothing, whatever hark measures before the mute. */
  paintLevel(id) {
    const c = this.cards.get(id);
    const muted = this.list.find((p) => p.id === id)?.muted;
    if (c) c.fill.style.width = `${muted ? 0 : pct(this.levels[id] ?? -Infinity)}%`;
  }
}

const ON_AIR = { live: 'On air', muted: 'Muted', idle: 'Off air' };

/** What the page plays, and how it recovers. */
class Player {
  constructor() {
    this.session = null;
    this.playing = false;
    this.attempt = 0;
    this.retryTimer = 0;
    this.mode = 'webrtc';
    this.ctx = null;
    this.meters = null;
    this.lastStats = null;
    this.lastPlayout = null;
    this.stats = {};
    this.connectedAt = 0;
    /** 'stopped', 'connecting', 'playing' or 'reconnecting': what the page is doing. */
    this.phase = 'stopped';
    this.heardAny = false;
    this.quietTicks = 0;
    this.lowLatency = LL_QUERY !== null ? LL_QUERY !== '0' : localStorage.getItem('hark.lowLatency') === '1';
    ui.lowLatency.checked = this.lowLatency;
    /** Whether this browser can play the low-latency path ({ ok, why }), once asked. */
    this.llSupport = null;
    /** Why low latency is not playing although it was asked for (words for the status line). */
    this.llNote = '';
    ui.mode.value = query.get('mode') ?? localStorage.getItem('hark.mode') ?? 'auto';
    setInterval(() => this.poll(), 1000);
  }

  get wantedMode() {
    return ui.mode.value === 'auto' ? this.mode : ui.mode.value;
  }

  /**
   * The broadcast state from /listen/info ('live', 'muted', 'idle'), or null when unknown;
   * 'muted' also when only this page's program is muted.
   */
  get broadcast() {
    const state = info?.info?.state ?? null;
    return state === 'live' && programs.current?.muted ? 'muted' : state;
  }

  async play() {
    this.playing = true;
    this.attempt = 0;
    this.mode = ui.mode.value === 'mp3' ? 'mp3' : ui.mode.value === 'http' ? 'http' : 'webrtc';
    if (!window.RTCPeerConnection) this.mode = 'http';
    ui.play.setAttribute('aria-pressed', 'true');
    ui.label.textContent = 'Stop';
    ui.icon.textContent = '■';
    if (!this.ctx) {
      this.ctx = new AudioContext({ latencyHint: 'interactive' });
      this.meters = new Meters(this.ctx);
    }
    // Resume without waiting: a browser that holds the context until a gesture (or has no
    // audio device yet) must not hold up the connection; <audio> plays the stream regardless.
    this.ctx.resume().catch(() => {});
    updateMediaSession();
    info.schedule();
    if (this.lowLatency && !this.llSupport) {
      this.llSupport = await llSupport();
      if (!this.playing || this.session) return;
    }
    // Which program plays is settled by hark's first answer (at once, unless hark is away).
    if (!info.settled) {
      this.awaitingInfo = true;
      setState('Connecting…');
      await Promise.race([info.ready, new Promise((r) => setTimeout(r, 2000))]);
      this.awaitingInfo = false;
      if (!this.playing || this.session) return;
    }
    this.connect();
  }

  /** Low latency switched while playing: a new session of the same program, with or without the channel. */
  async relink() {
    if (this.lowLatency && !this.llSupport) this.llSupport = await llSupport();
    if (!this.playing || this.awaitingInfo) return;
    clearTimeout(this.retryTimer);
    this.spare?.stop();
    this.spare = null;
    this.attempt = 0;
    this.connect();
  }

  /** Another program was chosen: end this session and start the new program's at once. */
  switchProgram() {
    if (!this.playing || this.awaitingInfo) return;
    clearTimeout(this.retryTimer);
    this.spare?.stop();
    this.spare = null;
    this.meters?.attach(null);
    this.clearDetails();
    this.attempt = 0;
    this.phase = 'connecting';
    this.connect();
  }

  stop(text = 'Press Play to listen') {
    this.playing = false;
    this.spare?.stop();
    this.spare = null;
    this.phase = 'stopped';
    clearTimeout(this.retryTimer);
    this.session?.stop();
    this.session = null;
    ui.audio.pause();
    ui.audio.srcObject = null;
    ui.audio.removeAttribute('src');
    this.meters?.attach(null);
    ui.play.setAttribute('aria-pressed', 'false');
    ui.label.textContent = 'Play';
    ui.icon.textContent = '▶';
    this.clearDetails();
    setState(text, text === 'Press Play to listen' ? 'ok' : 'error');
    updateMediaSession();
  }

  /** A session for `mode`, its events tied to it (a replaced session's events are ignored). */
  newSession(mode) {
    const ll = mode === 'webrtc' && this.lowLatency && this.llSupport?.ok ? LL_FRAME : null;
    const handlers = {
      track: (stream, receiver) => this.onTrack(session, stream, receiver),
      mp3: (chunk) => this.onMp3(session, chunk),
      mp3Open: () => this.onMp3Open(session),
      element: () => this.attachElement(),
      connection: (state) => this.onConnection(session, state),
    };
    const session = mode === 'http' ? new HttpSession(programs.id, handlers) : new WhepSession(mode, programs.id, handlers, ll);
    return session;
  }

  async connect() {
    clearTimeout(this.retryTimer);
    this.session?.stop();
    const mode = this.wantedMode;
    this.phase = this.phase === 'reconnecting' ? 'reconnecting' : 'connecting';
    if (this.phase === 'connecting') setState(programs.multi && programs.current ? `Connecting to ${programs.current.name}…` : 'Connecting…');
    const spare = this.spare;
    this.spare = null;
    const session = spare && !spare.closed && spare.mode === mode && spare.program === programs.id ? spare : this.newSession(mode);
    this.sessions = (this.sessions ?? 0) + 1;
    if (spare && spare !== session) spare.stop();
    this.session = session;
    this.lastStats = null;
    this.lastPlayout = null;
    this.connectedAt = 0;
    this.heardAny = false;
    this.quietTicks = 0;
    // A new session counts from zero (the old one's packets are not this one's).
    this.stats = {};
    this.lastMp3Bytes = 0;
    ui.audio.muted = false;
    this.llNote = this.lowLatency && this.llSupport && !this.llSupport.ok && mode === 'webrtc' ? `Low latency is not available: ${this.llSupport.why}.` : '';
    try {
      await session.start();
      if (session === this.session && session.llDc && !session.closed) this.startLl(session);
    } catch (e) {
      if (session !== this.session) return;
      session.stop();
      this.session = null;
      if (!this.playing) return;
      if (e.status === 401 || e.status === 403) return this.stop('This page needs the full link, with its code. Ask whoever shared it.');
      // No codec this browser and hark share: the MP3 channel needs none.
      if (e.status === 406 && ui.mode.value === 'auto' && this.mode === 'webrtc') {
        this.mode = 'mp3';
        return this.connect();
      }
      // WebRTC is off or full (429: this device holds its share of sessions): the plain MP3 stream still plays.
      if ((e.status === 503 || e.status === 404 || e.status === 429) && ui.mode.value === 'auto') {
        this.mode = 'http';
        return this.connect();
      }
      if (e.status === 503) return this.retryIn(e.retryAfter || 10, 'Too many listeners right now');
      if (e.status === 429) return this.retryIn(e.retryAfter || 10, 'This device has too many listen pages open: close one');
      this.lost();
    }
  }

  /**
   * The connection is gone or hark is away: show it, and reconnect (over WebRTC, unless the
   * user chose otherwise) as soon as /listen/info answers.
   */
  lost() {
    if (!this.playing) return;
    clearTimeout(this.retryTimer);
    this.session?.stop();
    this.session = null;
    this.phase = 'reconnecting';
    this.meters?.attach(null);
    this.clearDetails();
    setState('Connection lost, reconnecting…', 'error');
    updateMediaSession();
    if (ui.mode.value === 'auto' && this.mode !== 'http') this.mode = 'webrtc';
    this.attempt++;
    // Make the next offer now: when hark answers, only the POST is left.
    if (!this.spare && this.wantedMode !== 'http' && window.RTCPeerConnection) {
      this.spare = this.newSession(this.wantedMode);
      this.spare.prepared = this.spare.prepare().catch(() => this.spare?.stop());
    }
    // hark answering means: try now. A hark that answers but refuses or fails the connection
    // is asked again after a short wait, growing to 5 s.
    info.check().then((up) => {
      if (!this.playing || this.session || this.phase !== 'reconnecting') return;
      if (up) this.retryTimer = setTimeout(() => this.playing && !this.session && this.connect(), Math.min(5000, (this.attempt - 1) * 1000));
    });
  }

  /** Called by Info: hark came back or restarted. */
  harkBack() {
    if (!this.playing) return;
    if (ui.mode.value === 'auto') this.mode = window.RTCPeerConnection ? 'webrtc' : 'http';
    this.attempt = 0;
    this.phase = 'reconnecting';
    setState('Connection lost, reconnecting…', 'error');
    this.connect();
  }

  retryIn(seconds, why) {
    this.phase = 'reconnecting';
    setState(`${why}, trying again in ${Math.round(seconds)} s…`, 'error');
    this.retryTimer = setTimeout(() => this.playing && this.connect(), seconds * 1000);
  }

  onTrack(session, stream, receiver) {
    if (session !== this.session) return;
    this.applyLowLatency(receiver);
    // Chrome only renders a remote stream into Web Audio while a media element plays it.
    // While the low-latency path starts or plays, the element plays it muted (the fallback).
    ui.audio.srcObject = stream;
    ui.audio.muted = this.llHolds(session);
    ui.audio.play().catch(() => setState('Press Play again to start the sound', 'error'));
    this.trackSource = this.ctx.createMediaStreamSource(stream);
    if (!ui.audio.muted) this.meters.attach(this.trackSource);
  }

  /** Whether the session's low-latency path is starting or playing (so the RTP track stays muted). */
  llHolds(session) {
    return !!session?.llFrame && session.llPath?.state !== 'failed';
  }

  /** The session's `opus-ll` channel: decode and play it; the RTP track is the fallback. */
  startLl(session) {
    const path = new LowLatencyPath(this.ctx, session.llDc, () => this.onLl(session, path));
    session.llPath = path;
    if (session.pc.connectionState === 'connected') path.armDeadline();
  }

  onLl(session, path) {
    if (session !== this.session || !this.playing) return;
    if (path.state === 'playing') {
      if (!this.llGain) {
        this.llGain = this.ctx.createGain();
        this.llGain.connect(this.ctx.destination);
        applyVolume();
      }
      path.node.connect(this.llGain);
      ui.audio.muted = true;
      this.meters.attach(path.node);
      this.llNote = '';
    } else if (path.state === 'failed') {
      // The normal track of the same session plays at once: nothing to renegotiate.
      console.info(`[listen] low latency off: ${path.why}`);
      this.llNote = `Low latency is off: ${path.why}.`;
      ui.audio.muted = false;
      if (this.trackSource) this.meters.attach(this.trackSource);
    }
    this.showPlaying();
  }

  /**
   * The <audio> element's own output (MP3) feeds the meters and the speakers. From then on all
   * the element plays goes through Web Audio: the volume is a gain after the meters (the
   * element's own volume would scale what the meters see).
   */
  attachElement() {
    if (!this.mediaSource) {
      this.mediaSource = this.ctx.createMediaElementSource(ui.audio);
      this.outGain = this.ctx.createGain();
      this.mediaSource.connect(this.outGain).connect(this.ctx.destination);
      applyVolume();
    }
    this.meters.attach(this.mediaSource);
  }

  onConnection(session, state) {
    if (session !== this.session || !this.playing) return;
    if (state === 'connected') {
      session.llPath?.armDeadline();
      this.connectedAt = performance.now();
      this.phase = 'playing';
      this.attempt = 0;
      this.showPlaying();
    } else if (state === 'failed' || state === 'closed') {
      this.lost();
    } else if (state === 'disconnected') {
      // ICE says the path is quiet: ask hark at once; Info reconnects if it restarted.
      info.check().then((up) => {
        setTimeout(() => session === this.session && session.pc.connectionState === 'disconnected' && this.lost(), up ? 1500 : 0);
      });
    }
  }

  /** The status line while connected: also says when there is nothing on air to hear. */
  showPlaying() {
    if (this.phase !== 'playing') return;
    const ll = this.session?.llPath?.state === 'playing';
    const how = this.session?.mode === 'webrtc' ? (ll ? ' (low latency)' : '') : ' (backup connection, about a second behind)';
    const note = this.llNote && !ll ? ` ${this.llNote} Playing the normal connection.` : '';
    if (this.broadcast === 'idle') setState(`Connected. Off air right now: you will hear the broadcast when it starts${how}.${note}`, 'ok');
    else if (this.broadcast === 'muted') setState(`Connected. The sound is muted right now${how}.${note}`, 'ok');
    else setState(note ? `Playing.${note}` : `Playing${how}`, 'ok');
    updateMediaSession();
  }

  onMp3Open(session) {
    if (session !== this.session) return;
    if (!window.MediaSource || !MediaSource.isTypeSupported('audio/mpeg')) {
      this.mode = 'http';
      return this.connect();
    }
    this.mse = new MediaSource();
    this.mseQueue = [];
    this.mse.addEventListener('sourceopen', () => {
      this.sb = this.mse.addSourceBuffer('audio/mpeg');
      this.sb.mode = 'sequence';
      this.sb.addEventListener('updateend', () => this.pumpMp3());
      this.pumpMp3();
    });
    ui.audio.srcObject = null;
    ui.audio.src = URL.createObjectURL(this.mse);
    ui.audio.play().catch(() => {});
    this.attachElement();
  }

  onMp3(session, chunk) {
    if (session !== this.session || !this.mseQueue) return;
    this.mseQueue.push(chunk);
    this.stats.mp3Bytes = (this.stats.mp3Bytes ?? 0) + chunk.byteLength;
    this.pumpMp3();
  }

  pumpMp3() {
    const sb = this.sb;
    if (!sb || sb.updating || this.mseQueue.length === 0) return;
    const a = ui.audio;
    // Stay near the live edge: MSE buffers grow, a live listener wants the newest audio.
    if (a.buffered.length && a.buffered.end(a.buffered.length - 1) - a.currentTime > 1.0) {
      a.currentTime = a.buffered.end(a.buffered.length - 1) - 0.25;
    }
    if (a.buffered.length && a.currentTime - a.buffered.start(0) > 30) {
      sb.remove(a.buffered.start(0), a.currentTime - 10);
      return;
    }
    const total = this.mseQueue.reduce((n, c) => n + c.byteLength, 0);
    const joined = new Uint8Array(total);
    let at = 0;
    for (const c of this.mseQueue.splice(0)) {
      joined.set(new Uint8Array(c), at);
      at += c.byteLength;
    }
    try {
      sb.appendBuffer(joined);
    } catch {
      this.lost();
    }
  }

  applyLowLatency(receiver = this.session?.receiver) {
    if (!receiver) return;
    // jitterBufferTarget (ms, null = the browser's choice); older Chrome: playoutDelayHint (s).
    if ('jitterBufferTarget' in receiver) receiver.jitterBufferTarget = this.lowLatency ? 0 : null;
    else if ('playoutDelayHint' in receiver) receiver.playoutDelayHint = this.lowLatency ? 0 : null;
  }

  clearDetails() {
    for (const el of [ui.latency, ui.jitter, ui.rtt, ui.codec, ui.received, ui.concealed]) el.textContent = '—';
    ui.codec.title = '';
    ui.llStatus.hidden = true;
  }

  /** The low-latency path's figures on the page: delay from the microphone, buffer, concealed packets. */
  showLl(path) {
    const i = path.info;
    const ms = (v) => (v == null ? '—' : `${Math.round(v)} ms`);
    const perMin = i.concealedPerMin == null ? `${i.concealed} so far` : `${i.concealedPerMin.toFixed(1)} packets a minute`;
    ui.latency.textContent = i.latencyMs == null ? '—' : `${ms(i.latencyMs)} from the microphone (low latency)`;
    ui.jitter.textContent = i.targetMs == null ? '—' : `${ms(i.bufferedMs)} (aiming at ${ms(i.targetMs)})`;
    // Most concealments are not heard (the sound goes on); the ones that were are counted apart.
    ui.concealed.textContent = i.concealedPerMin == null ? `${perMin}, ${i.dropouts} heard as a gap` : `${perMin} (${i.concealed} in all, ${i.dropouts} heard as a gap)`;
    ui.codec.textContent = `opus 48 kHz${path.channels === 2 ? ' stereo' : ''}, ${i.frameMs ?? '—'} ms packets (low latency)`;
    ui.received.textContent = `${i.packets} packets, ${i.lost} lost, ${i.late} late`;
    ui.llStatus.textContent = `Low latency: ${i.latencyMs == null ? 'measuring the delay…' : `${ms(i.latencyMs)} behind the microphone`} · buffer ${ms(i.targetMs)} · concealed: ${perMin}`;
    // How the decoded sound reaches the player: a detail for the curious (a tooltip), not the line's words.
    const how = i.transport === 'shared-ring'
      ? 'The sound is decoded in this browser and handed to the player through shared memory.'
      : 'The sound is decoded in this browser and handed to the player one message at a time (this page is not cross-origin isolated, so it cannot share memory with the player).';
    ui.llStatus.title = `${how} A late or lost packet is concealed by carrying the sound on for a moment; ${i.dropouts} of them ran out and were heard as a gap.`;
    ui.codec.title = how;
    ui.llStatus.hidden = false;
  }

  /**
   * Audio that stops on a session that was playing means the connection is gone (hark
   * restarted, the network dropped): reconnect over WebRTC. Only a fresh connection that never
   * carried audio tries MP3. Off air or muted, hark may send nothing: that is no fault.
   */
  watchFlow(progressed) {
    if (progressed) {
      this.heardAny = true;
      this.quietTicks = 0;
      return false;
    }
    if (this.broadcast !== 'live' || !this.connectedAt) return false;
    this.quietTicks++;
    if (this.heardAny) {
      // First quiet second: ask hark (a restart shows as a new instance or no answer);
      // three quiet seconds with hark there: reconnect anyway.
      if (this.quietTicks === 1) info.check();
      else if (this.quietTicks >= 3) {
        this.lost();
        return true;
      }
    } else if (ui.mode.value === 'auto' && this.mode === 'webrtc' && performance.now() - this.connectedAt > NO_AUDIO_FALLBACK_S * 1000) {
      this.mode = 'mp3';
      this.connect();
      return true;
    }
    return false;
  }

  async poll() {
    const s = this.session;
    if (!s || !this.playing || s.closed) return;
    if (s.mode === 'http') {
      ui.codec.textContent = 'MP3 (plain stream)';
      ui.latency.textContent = 'about 1 s or more';
      return;
    }
    let report;
    try {
      report = await s.pc.getStats();
    } catch {
      return;
    }
    if (s !== this.session) return;
    let inbound, pair, codec, playout;
    report.forEach((r) => {
      if (r.type === 'inbound-rtp' && r.kind === 'audio') inbound = r;
      if (r.type === 'media-playout' && r.kind === 'audio') playout = r;
      if (r.type === 'candidate-pair' && r.nominated && r.state === 'succeeded') pair = r;
    });
    if (inbound?.codecId) codec = report.get(inbound.codecId);
    const prev = this.lastStats;
    this.lastStats = inbound ? { ...inbound } : null;
    const st = { mode: s.mode };
    st.rttMs = pair?.currentRoundTripTime !== undefined ? pair.currentRoundTripTime * 1000 : null;
    if (s.mode === 'mp3') {
      const bytes = this.stats.mp3Bytes ?? 0;
      const moved = bytes !== this.lastMp3Bytes;
      this.lastMp3Bytes = bytes;
      if (this.connectedAt && this.watchFlow(moved)) return;
    }
    if (inbound) {
      st.packets = inbound.packetsReceived;
      st.lost = inbound.packetsLost;
      // Jitter buffer delay over the last second (the cumulative average lags behind changes).
      const dDelay = inbound.jitterBufferDelay - (prev?.jitterBufferDelay ?? 0);
      const dCount = inbound.jitterBufferEmittedCount - (prev?.jitterBufferEmittedCount ?? 0);
      st.jitterBufferMs = dCount > 0 ? (dDelay / dCount) * 1000 : null;
      const dSamples = inbound.totalSamplesReceived - (prev?.totalSamplesReceived ?? 0);
      const dPackets = inbound.packetsReceived - (prev?.packetsReceived ?? 0);
      st.packetMs = dPackets > 0 && dSamples > 0 ? (dSamples / dPackets / (codec?.clockRate ?? 48000)) * 1000 : this.stats.packetMs ?? null;
      st.codec = codec ? `${codec.mimeType.replace('audio/', '')} ${codec.clockRate / 1000} kHz${codec.channels === 2 ? ' stereo' : ''}` : null;
      if (this.watchFlow(dPackets > 0)) return;
    } else if (s.mode === 'webrtc' && this.connectedAt && this.watchFlow(false)) return;
    // The audio's path: half the round trip, the jitter buffer, one packet of codec delay,
    // and the output device: the stream's own playout delay where the browser reports it
    // (media-playout, Chromium: the <audio> element's device, ~30 ms through PulseAudio or
    // PipeWire), else AudioContext.outputLatency (the meters' context, not what is heard).
    const prevPlayout = this.lastPlayout;
    this.lastPlayout = playout ? { totalPlayoutDelay: playout.totalPlayoutDelay, totalSamplesCount: playout.totalSamplesCount } : null;
    let out = (this.ctx?.outputLatency ?? this.ctx?.baseLatency ?? 0) * 1000;
    const dPlayout = playout && prevPlayout ? playout.totalSamplesCount - prevPlayout.totalSamplesCount : 0;
    if (dPlayout > 0) out = ((playout.totalPlayoutDelay - prevPlayout.totalPlayoutDelay) / dPlayout) * 1000;
    st.outputMs = out;
    if (st.jitterBufferMs !== null && st.jitterBufferMs !== undefined) {
      st.latencyMs = (st.rttMs ?? 0) / 2 + st.jitterBufferMs + (st.packetMs ?? 0) + out;
    }
    this.stats = { ...this.stats, ...st };
    ui.latency.textContent = st.latencyMs !== undefined ? `≈ ${Math.round(st.latencyMs)} ms` : s.mode === 'mp3' ? 'about 0.5–1 s' : '—';
    ui.jitter.textContent = st.jitterBufferMs != null ? `${st.jitterBufferMs.toFixed(1)} ms${this.lowLatency ? ' (low latency)' : ''}` : '—';
    ui.rtt.textContent = st.rttMs != null ? `${st.rttMs.toFixed(1)} ms` : '—';
    ui.codec.textContent = s.mode === 'mp3' ? 'MP3 (backup connection)' : st.codec ?? '—';
    ui.received.textContent = s.mode === 'mp3'
      ? `${Math.round((this.stats.mp3Bytes ?? 0) / 1024)} KiB`
      : inbound ? `${inbound.packetsReceived} packets, ${inbound.packetsLost} lost` : '—';
    if (s.llPath?.state === 'playing') this.showLl(s.llPath);
    else {
      ui.llStatus.hidden = true;
      ui.codec.title = '';
    }
  }
}

/** Station, program, title and on-air state on the page, and the lock screen's metadata. */
function showInfo({ info: i, down }) {
  if (i) {
    const station = i.station || 'hark';
    if (ui.station.textContent !== station) ui.station.textContent = station;
    const p = programs.multi ? programs.current : null;
    document.title = p ? `Listen live — ${p.name}` : `${station} — listen`;
    ui.title.textContent = i.title;
    ui.title.hidden = !i.title;
  }
  // A program muted on its own is "Muted" here while the others are on air.
  const state = down ? 'down' : (player?.broadcast ?? i?.state ?? 'unknown');
  ui.onair.dataset.state = state;
  ui.onairText.textContent = down ? 'Not reachable' : ON_AIR[state] ?? '…';
  player?.showPlaying();
  updateMediaSession();
}

/** Media Session: the lock screen and headset buttons show the station and play/stop it. */
function updateMediaSession() {
  if (!('mediaSession' in navigator)) return;
  const i = info?.info;
  const p = programs.multi ? programs.current : null;
  const station = i?.station || 'hark';
  const artist = p ? `${station} — ${p.name}` : station;
  const title = i?.title || (p ? p.name : station);
  const key = `${title}\n${artist}`;
  if (updateMediaSession.key !== key && window.MediaMetadata) {
    updateMediaSession.key = key;
    navigator.mediaSession.metadata = new MediaMetadata({ title, artist, album: 'Live' });
  }
  navigator.mediaSession.playbackState = player?.playing ? 'playing' : 'paused';
}

let player = null;
const programs = new Programs();
const info = new Info((change) => {
  const moved = programs.update(change.info);
  showInfo(change);
  if (!player?.playing) return;
  // The program this page played is gone (hark's programs changed): its default plays.
  if (moved) return player.switchProgram();
  if (change.down) {
    if (player.session && player.phase === 'playing') player.lost();
  } else if (change.restarted || (change.wasDown && player.phase !== 'playing')) {
    // A new hark (restarted in place, or stopped and started): the old session is gone even
    // if the browser has not noticed yet. Or hark answers again after the connection was lost.
    player.harkBack();
  }
});
player = new Player();
drawScale();

ui.play.addEventListener('click', () => (player.playing ? player.stop() : player.play()));
ui.lowLatency.addEventListener('change', () => {
  player.lowLatency = ui.lowLatency.checked;
  localStorage.setItem('hark.lowLatency', player.lowLatency ? '1' : '0');
  player.applyLowLatency();
  // The low-latency channel is part of the offer: a new session takes the change.
  if (player.playing && player.wantedMode === 'webrtc') player.relink();
});
ui.mode.addEventListener('change', () => {
  localStorage.setItem('hark.mode', ui.mode.value);
  if (player.playing) player.play();
});

/** Volume: 0–100 on the slider, remembered on this device. */
function setVolume(v) {
  const n = Math.max(0, Math.min(100, Number.isFinite(v) ? v : 100));
  ui.volume.value = String(n);
  ui.volumeOut.textContent = `${n}%`;
  ui.volume.setAttribute('aria-valuetext', `${n}%`);
  applyVolume();
}

/** The slider's volume on what is heard: the element, or the gain after the meters (MP3). */
function applyVolume() {
  const v = Number(ui.volume.value) / 100;
  if (player?.outGain) {
    ui.audio.volume = 1;
    player.outGain.gain.value = v;
  } else ui.audio.volume = v;
  if (player?.llGain) player.llGain.gain.value = v;
}
setVolume(Number(localStorage.getItem('hark.volume') ?? 100));
ui.volume.addEventListener('input', () => {
  setVolume(Number(ui.volume.value));
  localStorage.setItem('hark.volume', ui.volume.value);
});
programs.render();

if ('mediaSession' in navigator) {
  const actions = { play: () => !player.playing && player.play(), pause: () => player.playing && player.stop(), stop: () => player.playing && player.stop() };
  for (const [name, fn] of Object.entries(actions)) {
    try {
      navigator.mediaSession.setActionHandler(name, fn);
    } catch {}
  }
}
addEventListener('pagehide', () => player.session?.stop());
document.addEventListener('visibilitychange', () => document.visibilityState === 'visible' && info.check());

// For tests and kiosks: ?autoplay=1 starts at once (the browser may still want a click).
if (query.get('autoplay') === '1') player.play();

/** The page's state for automated tests (Playwright) and the curious. */
window.hark = {
  player,
  info,
  pct,
  get analysers() {
    return player.meters?.analysers ?? [];
  },
  get context() {
    return player.ctx;
  },
  get stats() {
    return player.stats;
  },
  get state() {
    return ui.state.textContent;
  },
  /** 'stopped', 'connecting', 'playing' or 'reconnecting'. */
  get phase() {
    return player.phase;
  },
  /** How many connections this page has made (a reconnect is one more). */
  get sessions() {
    return player.sessions ?? 0;
  },
  /** The hark this page last heard from (changes with every start of hark). */
  get instance() {
    return info.info?.instance ?? null;
  },
  /** The program this page plays (its id), and those hark offers: [{ id, name, language, muted }]. */
  get program() {
    return programs.id;
  },
  get programs() {
    return programs.list;
  },
  /** Each program's last level from /listen/events (dBFS, the louder channel's peak). */
  get programLevels() {
    return { ...programs.levels };
  },
  /** 'webrtc', 'mp3' (data channel) or 'http' (/stream.mp3), while a session exists. */
  get transport() {
    return player.session?.mode ?? null;
  },
  /**
   * The low-latency path of this session: its state ('waiting', 'playing', 'failed' with `why`),
   * latency from capture to speaker, buffer target and level, concealment, the resampling ratio
   * and the clicks and gaps the worklet saw in its own output; null without one.
   */
  get ll() {
    return player.session?.llPath?.info ?? null;
  },
  /** Whether low latency is asked for (the switch), and why it is not playing (words), if so. */
  get llWanted() {
    return player.lowLatency;
  },
  get llNote() {
    return player.llNote;
  },
  /** Count the worklet's clicks and gaps afresh. */
  llResetDiagnostics() {
    player.session?.llPath?.resetDiagnostics();
  },
};
