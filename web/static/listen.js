// hark's listen page: one Play button, WHEP (draft-ietf-wish-whep) to hark's /whep, L/R meters
// with peak hold, the measured latency from getStats, a low-latency toggle (jitterBufferTarget),
// reconnect with backoff, and MP3 over a data channel when WebRTC audio cannot play.
// No build step and no third-party code: every byte is served by hark.

const $ = (id) => document.getElementById(id);
const query = new URLSearchParams(location.search);
const hash = new URLSearchParams(location.hash.slice(1));
const TOKEN = hash.get('token') ?? query.get('token') ?? '';
const WHEP_URL = query.get('whep') ?? '/whep';
/** Seconds of silence (no RTP) after connecting before Automatic mode switches to MP3. */
const NO_AUDIO_FALLBACK_S = 5;
const BACKOFF_S = [1, 2, 4, 8, 16, 30];
/** ?codec=PCMU,PCMA: offer only these (e.g. to hear the G.711 fallback); default: all. */
const CODECS = (query.get('codec') ?? '').split(',').filter(Boolean).map((c) => `audio/${c.toLowerCase()}`);

const ui = {
  play: $('play'),
  label: document.querySelector('#play .label'),
  icon: document.querySelector('#play .icon'),
  state: $('state'),
  latency: $('latency'),
  jitter: $('jitter'),
  rtt: $('rtt'),
  codec: $('codec'),
  received: $('received'),
  lowLatency: $('lowlatency'),
  mode: $('mode'),
  audio: $('audio'),
  meters: [...document.querySelectorAll('.meter')].map((el) => ({
    fill: el.querySelector('.fill'),
    peak: el.querySelector('.peak'),
    db: el.querySelector('.db'),
  })),
};

function setState(text, error = false) {
  ui.state.textContent = text;
  ui.state.classList.toggle('error', error);
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
  constructor(mode, handlers) {
    this.mode = mode;
    this.handlers = handlers;
    this.pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
    this.location = null;
    this.etag = null;
    this.pending = [];
    this.closed = false;
  }

  async start() {
    const pc = this.pc;
    if (this.mode === 'webrtc') {
      const t = pc.addTransceiver('audio', { direction: 'recvonly' });
      this.receiver = t.receiver;
      if (CODECS.length && t.setCodecPreferences) {
        const all = RTCRtpReceiver.getCapabilities('audio')?.codecs ?? [];
        t.setCodecPreferences(all.filter((c) => CODECS.includes(c.mimeType.toLowerCase())));
      }
      pc.ontrack = (ev) => this.handlers.track(ev.streams[0] ?? new MediaStream([ev.track]), ev.receiver);
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
    let res;
    try {
      res = await fetch(WHEP_URL, {
        method: 'POST',
        headers: headers({ 'content-type': 'application/sdp' }),
        body: pc.localDescription.sdp,
      });
    } catch (e) {
      throw new WhepError(`hark is not reachable (${e.message})`);
    }
    if (res.status !== 201) throw await refusal(res);
    this.location = new URL(res.headers.get('location'), new URL(WHEP_URL, location.href)).href;
    this.etag = res.headers.get('etag');
    const answer = await res.text();
    if (this.closed) return this.stop();
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

  /** Close the connection and delete the WHEP resource (keepalive: survives page unload). */
  stop() {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.keepalive);
    if (this.location) fetch(this.location, { method: 'DELETE', headers: headers(), keepalive: true }).catch(() => {});
    try {
      this.pc.close();
    } catch {}
  }
}

/** L/R level meters with peak hold, from an AnalyserNode per channel. */
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
    this.source = null;
    this.frame = () => this.draw();
    requestAnimationFrame(this.frame);
  }

  attach(node) {
    this.source?.disconnect(this.splitter);
    this.source = node;
    node?.connect(this.splitter);
  }

  draw() {
    const now = performance.now();
    this.analysers.forEach((a, ch) => {
      a.getFloatTimeDomainData(this.buf);
      let peak = 0;
      for (const x of this.buf) peak = Math.max(peak, Math.abs(x));
      const db = peak > 0 ? 20 * Math.log10(peak) : -Infinity;
      const h = this.hold[ch];
      // Peak hold: 1.5 s, then fall at 20 dB/s.
      if (db >= h.db || now - h.at > 1500) {
        const fallen = h.db - ((now - h.at - 1500) / 1000) * 20;
        if (db >= h.db || db >= fallen) Object.assign(h, { db, at: now });
        else h.db = fallen;
      }
      const m = ui.meters[ch];
      m.fill.style.width = `${pct(db)}%`;
      m.fill.className = `fill${db > -1 ? ' clip' : db > -6 ? ' hot' : ''}`;
      m.peak.style.left = `calc(${pct(h.db)}% - 2px)`;
      m.db.textContent = Number.isFinite(h.db) ? `${h.db.toFixed(1)}` : '−∞';
    });
    requestAnimationFrame(this.frame);
  }
}

/** Meter position of a level: −60 dBFS … 0 dBFS across the bar. */
function pct(db) {
  return Number.isFinite(db) ? Math.max(0, Math.min(100, ((db + 60) / 60) * 100)) : 0;
}

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
    this.lowLatency = localStorage.getItem('hark.lowLatency') === '1';
    ui.lowLatency.checked = this.lowLatency;
    ui.mode.value = query.get('mode') ?? localStorage.getItem('hark.mode') ?? 'auto';
    setInterval(() => this.poll(), 1000);
  }

  get wantedMode() {
    return ui.mode.value === 'auto' ? this.mode : ui.mode.value;
  }

  async play() {
    this.playing = true;
    this.attempt = 0;
    this.mode = ui.mode.value === 'mp3' ? 'mp3' : 'webrtc';
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
    this.connect();
  }

  stop(text = 'Stopped') {
    this.playing = false;
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
    setState(text);
  }

  async connect() {
    clearTimeout(this.retryTimer);
    this.session?.stop();
    const mode = this.wantedMode;
    setState(mode === 'mp3' ? 'Connecting (MP3 over data channel)…' : 'Connecting…');
    const session = new WhepSession(mode, {
      track: (stream, receiver) => this.onTrack(session, stream, receiver),
      mp3: (chunk) => this.onMp3(session, chunk),
      mp3Open: () => this.onMp3Open(session),
      connection: (state) => this.onConnection(session, state),
    });
    this.session = session;
    this.lastStats = null;
    this.lastPlayout = null;
    this.connectedAt = 0;
    try {
      await session.start();
    } catch (e) {
      if (session !== this.session) return;
      session.stop();
      // No codec this browser and hark share: the MP3 channel needs none.
      if (e.status === 406 && ui.mode.value === 'auto' && this.mode !== 'mp3') {
        this.mode = 'mp3';
        return this.connect();
      }
      this.retry(e.message, e.retryAfter, e.status === 401);
    }
  }

  retry(reason, retryAfter = 0, fatal = false) {
    this.session?.stop();
    this.session = null;
    if (!this.playing) return;
    if (fatal) return this.stop(`Refused: ${reason}`);
    const base = retryAfter || BACKOFF_S[Math.min(this.attempt, BACKOFF_S.length - 1)];
    const delay = base * (0.8 + Math.random() * 0.4);
    this.attempt++;
    setState(`${reason} — retrying in ${Math.round(delay)} s`, true);
    this.retryTimer = setTimeout(() => this.playing && this.connect(), delay * 1000);
  }

  onTrack(session, stream, receiver) {
    if (session !== this.session) return;
    this.applyLowLatency(receiver);
    // Chrome only renders a remote stream into Web Audio while a media element plays it.
    ui.audio.srcObject = stream;
    ui.audio.play().catch((e) => setState(`Press Play again to start audio (${e.message})`, true));
    this.meters.attach(this.ctx.createMediaStreamSource(stream));
  }

  onConnection(session, state) {
    if (session !== this.session || !this.playing) return;
    if (state === 'connected') {
      this.connectedAt = performance.now();
      setState(session.mode === 'mp3' ? 'Playing (MP3 fallback)' : 'Playing');
      // A connection that lasts resets the backoff.
      setTimeout(() => session === this.session && session.pc.connectionState === 'connected' && (this.attempt = 0), 10_000);
    } else if (state === 'failed' || state === 'closed') {
      this.retry(`Connection ${state}`);
    } else if (state === 'disconnected') {
      setState('Connection interrupted…', true);
      setTimeout(() => session === this.session && session.pc.connectionState === 'disconnected' && this.retry('Connection lost'), 3000);
    }
  }

  onMp3Open(session) {
    if (session !== this.session) return;
    if (!window.MediaSource || !MediaSource.isTypeSupported('audio/mpeg')) {
      return this.stop('This browser cannot play MP3 from a data channel; open /stream.mp3 instead');
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
    if (!this.mediaSource) {
      this.mediaSource = this.ctx.createMediaElementSource(ui.audio);
      this.mediaSource.connect(this.ctx.destination);
    }
    this.meters.attach(this.mediaSource);
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
    } catch (e) {
      this.retry(`MP3 playback failed (${e.message})`);
    }
  }

  applyLowLatency(receiver = this.session?.receiver) {
    if (!receiver) return;
    // jitterBufferTarget (ms, null = the browser's choice); older Chrome: playoutDelayHint (s).
    if ('jitterBufferTarget' in receiver) receiver.jitterBufferTarget = this.lowLatency ? 0 : null;
    else if ('playoutDelayHint' in receiver) receiver.playoutDelayHint = this.lowLatency ? 0 : null;
  }

  async poll() {
    const s = this.session;
    if (!s || !this.playing || s.closed) return;
    let report;
    try {
      report = await s.pc.getStats();
    } catch {
      return;
    }
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
      if (dPackets === 0 && prev && ui.mode.value === 'auto' && this.connectedAt && performance.now() - this.connectedAt > NO_AUDIO_FALLBACK_S * 1000) {
        // Connected but no audio arrives: try the MP3 channel.
        this.mode = 'mp3';
        return this.connect();
      }
    }
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
    ui.latency.textContent = st.latencyMs !== undefined ? `≈ ${Math.round(st.latencyMs)} ms` : s.mode === 'mp3' ? 'MP3: ~0.5–1 s' : '—';
    ui.jitter.textContent = st.jitterBufferMs != null ? `${st.jitterBufferMs.toFixed(1)} ms${this.lowLatency ? ' (low latency)' : ''}` : '—';
    ui.rtt.textContent = st.rttMs != null ? `${st.rttMs.toFixed(1)} ms` : '—';
    ui.codec.textContent = s.mode === 'mp3' ? 'MP3 (data channel)' : st.codec ?? '—';
    ui.received.textContent = s.mode === 'mp3'
      ? `${Math.round((this.stats.mp3Bytes ?? 0) / 1024)} KiB`
      : inbound ? `${inbound.packetsReceived} packets, ${inbound.packetsLost} lost` : '—';
  }
}

const player = new Player();
ui.play.addEventListener('click', () => (player.playing ? player.stop() : player.play()));
ui.lowLatency.addEventListener('change', () => {
  player.lowLatency = ui.lowLatency.checked;
  localStorage.setItem('hark.lowLatency', player.lowLatency ? '1' : '0');
  player.applyLowLatency();
});
ui.mode.addEventListener('change', () => {
  localStorage.setItem('hark.mode', ui.mode.value);
  if (player.playing) player.play();
});
addEventListener('pagehide', () => player.session?.stop());

// For tests and kiosks: ?autoplay=1 starts at once (the browser may still want a click).
if (query.get('autoplay') === '1') player.play();

/** The page's state for automated tests (Playwright) and the curious. */
window.hark = {
  player,
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
};
