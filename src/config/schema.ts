import { Type as T, type Static } from '@sinclair/typebox';
import { MP3_BITRATES_KBPS } from './mp3-bitrates.ts';

/**
 * The one schema for hark's configuration: the TOML file, the JSON API and the admin forms
 * all validate against it. Defaults live here and nowhere else.
 */

const Port = T.Integer({ minimum: 1, maximum: 65535, description: 'TCP port' });

export const HttpSchema = T.Object(
  {
    port: T.Integer({ ...Port, default: 8080, description: 'HTTP port for the admin page, API and streams' }),
    host: T.String({ default: '0.0.0.0', minLength: 1, description: 'Address to listen on' }),
    allowed_hosts: T.Array(
      T.String({
        minLength: 1,
        maxLength: 253,
        // A DNS name, an IPv4 address or an IPv6 address (brackets optional); no port, no scheme.
        pattern: '^(\\[?[0-9A-Fa-f.]*:[0-9A-Fa-f:.]*\\]?|[0-9A-Za-z]([0-9A-Za-z_-]{0,62})?(\\.[0-9A-Za-z]([0-9A-Za-z_-]{0,62})?)*\\.?)$',
      }),
      {
        default: [],
        maxItems: 32,
        description:
          "Names (or addresses) besides the box's own that browsers may use to reach it, e.g. a reverse proxy's public name. Any other Host header is refused (421), so a web page cannot reach hark through DNS rebinding",
      },
    ),
  },
  { additionalProperties: false, default: {} },
);

/** `[tls]`: HTTPS for the admin pages (the listen page and streams stay on plain HTTP too). */
export const TlsSchema = T.Object(
  {
    enabled: T.Boolean({
      default: false,
      description: 'Serve the admin pages over HTTPS (plain HTTP then redirects them there; the listen page, /whep, /stream.mp3 and /api/status stay on HTTP as well)',
    }),
    port: T.Integer({ ...Port, default: 8443, description: 'HTTPS port (443 on the image)' }),
    cert_file: T.String({
      default: '',
      maxLength: 1024,
      description: "A certificate of your own (PEM, the chain after it), e.g. from an ACME client; re-read when it changes. Empty: hark's own certificate, signed by the box's CA",
    }),
    key_file: T.String({ default: '', maxLength: 1024, description: 'The private key of cert_file (PEM, unencrypted)' }),
    names: T.Array(T.String({ minLength: 1, maxLength: 253 }), {
      default: [],
      maxItems: 32,
      description: "Extra names and addresses for the box's own certificate, beyond its host name, <host>.local, localhost and its addresses",
    }),
  },
  { additionalProperties: false, default: {} },
);

export const InputSchema = T.Object(
  {
    source: T.Union([T.Literal('auto'), T.Literal('pipewire'), T.Literal('pipewire-sink'), T.Literal('tone'), T.Literal('srt'), T.Literal('rtp')], {
      default: 'auto',
      description:
        "auto: the device chosen (input.device), else PipeWire's default source; silence until there is one. pipewire: the same, never falling back. pipewire-sink: hark's own sink that local apps play into. tone: the test tone (never chosen by itself). srt, rtp: the receiving end of a contribution link (input.url), played on input.output_device too",
    }),
    device: T.String({ default: '', maxLength: 256, description: "PipeWire node.name of the interface to capture, in every mode; empty: PipeWire's default source" }),
    channels: T.Integer({ minimum: 1, maximum: 8, default: 2, description: 'Channels captured (1–8)' }),
    gain_db: T.Number({
      minimum: -24,
      maximum: 24,
      default: 0,
      description:
        'Input gain in dB (−24 to +24), applied to the input before the meters, every stream and the recording. Changes apply at once, smoothly',
    }),
    latency_frames: T.Integer({
      minimum: 64,
      maximum: 1024,
      default: 128,
      description: 'PipeWire node.latency in frames at 48 kHz (128 = 2.7 ms) while a WebRTC or WHIP listener needs low latency',
    }),
    relaxed_latency_frames: T.Integer({
      minimum: 64,
      maximum: 2048,
      default: 2048,
      description:
        'PipeWire node.latency while no WebRTC or WHIP listener is connected (Icecast, /stream.mp3, recording): fewer wake-ups, less CPU. Never below latency_frames; set it equal to keep one latency',
    }),
    url: T.String({
      default: '',
      maxLength: 1024,
      description:
        'Where a network input (source = "srt" or "rtp") comes from: srt://:9000?mode=listener, srt://host:9000?mode=caller; rtp://:5004 (unicast), rtp://@239.69.1.10:5004 (multicast), optionally ?payload=l24|l16|opus&channels=2&pt=96 when there is no SDP',
    }),
    buffer_ms: T.Integer({
      minimum: 5,
      maximum: 5000,
      default: 120,
      description: 'Network input: audio held back to ride out jitter (ms); also SRT\'s latency. More is safer, less is quicker',
    }),
    passphrase: T.String({
      default: '',
      maxLength: 79,
      description: 'Network input (srt): the link\'s passphrase (10–79 characters; empty: not encrypted)',
    }),
    output_device: T.String({
      default: '',
      maxLength: 256,
      description:
        'Network input: PipeWire node.name of the sink the received audio also plays on (the analogue out, a USB interface); empty: the default sink; "none": play nowhere',
    }),
  },
  { additionalProperties: false, default: {} },
);

export const ToneSchema = T.Object(
  {
    frequency: T.Number({ minimum: 20, maximum: 20000, default: 440, description: 'Test tone frequency in Hz' }),
    level_dbfs: T.Number({ minimum: -60, maximum: 0, default: -12, description: 'Test tone level in dBFS' }),
    clock_ppm: T.Integer({
      minimum: -10_000,
      maximum: 10_000,
      default: 0,
      description: "The test tone's clock runs this many parts per million fast (+) or slow (−), as a real interface's crystal does: for checking that listeners absorb it",
    }),
  },
  { additionalProperties: false, default: {} },
);

export const Mp3Schema = T.Object(
  {
    bitrate_kbps: T.Union(
      MP3_BITRATES_KBPS.map((k: number) => T.Literal(k)),
      { default: 128, description: 'MP3 bitrate (an MPEG-1 Layer III rate)' },
    ),
  },
  { additionalProperties: false, default: {} },
);

export const OpusSchema = T.Object(
  {
    bitrate_kbps: T.Integer({ minimum: 6, maximum: 510, default: 96, description: 'Opus bitrate in kbit/s' }),
    frame_ms: T.Union([T.Literal(2.5), T.Literal(5), T.Literal(10), T.Literal(20), T.Literal(40), T.Literal(60)], {
      default: 10,
      description: 'Opus frame duration in ms',
    }),
    low_delay: T.Boolean({
      default: false,
      description: 'RESTRICTED_LOWDELAY: CELT only, ~2.5 ms less delay; no inband FEC in this mode',
    }),
  },
  { additionalProperties: false, default: {} },
);

export const LogSchema = T.Object(
  {
    level: T.Union([T.Literal('debug'), T.Literal('info'), T.Literal('warn'), T.Literal('error')], {
      default: 'info',
      description: 'Log level (HARK_LOG_LEVEL overrides it)',
    }),
  },
  { additionalProperties: false, default: {} },
);

export const StreamSchema = T.Object(
  {
    max_listeners: T.Integer({ minimum: 1, maximum: 10000, default: 100, description: '/stream.mp3 listener limit' }),
    queue_kb: T.Integer({
      minimum: 16,
      maximum: 4096,
      default: 256,
      description: 'Per-listener queue; a listener this far behind is disconnected',
    }),
  },
  { additionalProperties: false, default: {} },
);


/** One `[[program.eq]]` band: an RBJ-cookbook biquad (src/audio/dsp.ts). */
export const EqBandSchema = T.Object(
  {
    type: T.Union([T.Literal('peak'), T.Literal('lowshelf'), T.Literal('highshelf'), T.Literal('highpass'), T.Literal('lowpass')], {
      default: 'peak',
      description: 'peak: a bell; lowshelf/highshelf: lift or cut below/above hz; highpass/lowpass: cut below/above hz',
    }),
    hz: T.Number({ minimum: 20, maximum: 20000, default: 1000, description: 'Centre or corner frequency in Hz' }),
    gain_db: T.Number({ minimum: -24, maximum: 24, default: 0, description: 'Boost (+) or cut (−) in dB (peak and shelves)' }),
    q: T.Number({ minimum: 0.1, maximum: 10, default: 1, description: 'Width: higher is narrower (0.7 for a gentle cut)' }),
  },
  { additionalProperties: false },
);

/** A program id: what its URLs carry (/stream/<id>.mp3, /whep/<id>, /listen/<id>). */
export const PROGRAM_ID_PATTERN = '^[a-z0-9][a-z0-9_-]{0,31}$';

/**
 * One `[[program]]`: a stream made of some of the input's channels, with its own processing.
 * With none, the one program `main` is the whole input, as before programs existed.
 */
export const ProgramSchema = T.Object(
  {
    id: T.String({ pattern: PROGRAM_ID_PATTERN, description: 'Short name in URLs: lower-case letters, digits, - and _ (e.g. "floor", "es")' }),
    name: T.String({ default: '', maxLength: 64, description: 'What listeners see, e.g. "Spanish interpretation"; empty: the id' }),
    language: T.String({
      default: '',
      maxLength: 35,
      pattern: '^([A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*)?$',
      description: 'Language of the program (BCP 47, e.g. en, es, pt-BR); empty: none',
    }),
    channels: T.Array(T.Integer({ minimum: 1, maximum: 8 }), {
      default: [],
      maxItems: 8,
      uniqueItems: true,
      description: 'Input channels that make the program (1-based): one for mono, two for stereo, more with mono = true',
    }),
    mix: T.Record(T.String({ pattern: '^[1-8]$' }), T.Number({ minimum: -60, maximum: 12 }), {
      default: {},
      additionalProperties: false,
      description: 'Instead of channels: input channel → gain in dB, summed to mono, e.g. { 1 = 0.0, 3 = -6.0 }',
    }),
    mono: T.Boolean({ default: false, description: 'Sum the channels to mono' }),
    gain_db: T.Number({ minimum: -24, maximum: 24, default: 0, description: 'Gain in dB before the processing below' }),
    highpass_hz: T.Number({ minimum: 0, maximum: 300, default: 0, description: 'High-pass filter (20–300 Hz; removes rumble and DC); 0: off' }),
    eq: T.Array(EqBandSchema, { default: [], maxItems: 6, description: 'Equaliser bands ([[program.eq]], up to 6)' }),
    limiter_dbfs: T.Number({ minimum: -24, maximum: 0, default: 0, description: 'Limiter ceiling in dBFS (e.g. -1.0): peaks never pass it; 0: off' }),
    delay_ms: T.Number({ minimum: 0, maximum: 500, default: 0, description: 'Delay in ms (0–500), to line the phones up with the sound in the room' }),
  },
  { additionalProperties: false },
);

const ProgramRef = T.String({ default: 'main', pattern: PROGRAM_ID_PATTERN, description: 'The program it carries ([[program]] id; main: the default program)' });

/** One `[[icecast]]` entry: a source connection to an Icecast server. */
export const IcecastSchema = T.Object(
  {
    id: T.String({ default: '', maxLength: 64, description: 'Label in logs and status; default: the mount without "/"' }),
    enabled: T.Boolean({ default: true, description: 'Stream to this server' }),
    program: ProgramRef,
    url: T.String({ default: '', maxLength: 512, description: 'http[s]://[user:password@]host:port/mount (or give host, port and mount)' }),
    host: T.String({ default: '', maxLength: 256, description: 'Icecast server host' }),
    port: T.Integer({ ...Port, default: 8000 }),
    mount: T.String({ default: '', maxLength: 256, description: 'Mount point, e.g. /live.mp3' }),
    user: T.String({ default: '', maxLength: 128, description: 'Source user (default "source")' }),
    password: T.String({ default: '', maxLength: 256, description: 'Source password' }),
    tls: T.Boolean({ default: false, description: 'Connect over TLS (an https:// server); an https:// url sets it' }),
    ca_file: T.String({ default: '', maxLength: 1024, description: 'PEM file of CA certificates to trust for this server, besides the usual ones (TLS only)' }),
    tls_verify: T.Boolean({ default: true, description: "Check the server's certificate (TLS only); false trusts any certificate and is insecure" }),
    format: T.Union([T.Literal('mp3'), T.Literal('ogg-opus'), T.Literal('ogg-flac')], { default: 'mp3', description: 'Stream format (ogg-flac: lossless 16-bit, about 1.5 Mbit/s for stereo)' }),
    bitrate_kbps: T.Integer({ minimum: 6, maximum: 320, default: 128, description: 'Bitrate (MP3: an MPEG-1 Layer III rate; ogg-flac: not used)' }),
    name: T.String({ default: 'hark', maxLength: 256, description: 'Stream name (ice-name)' }),
    description: T.String({ default: '', maxLength: 1024, description: 'Stream description (ice-description)' }),
    genre: T.String({ default: '', maxLength: 256, description: 'Genre (ice-genre)' }),
    website: T.String({ default: '', maxLength: 512, description: 'Station web site (ice-url)' }),
    public: T.Boolean({ default: false, description: 'List in public directories (ice-public)' }),
  },
  { additionalProperties: false },
);

export const RecordingSchema = T.Object(
  {
    enabled: T.Boolean({ default: false, description: 'Keep a recording on disk' }),
    program: ProgramRef,
    dir: T.String({ default: 'recordings', minLength: 1, maxLength: 1024, description: 'Directory (relative paths: from the working directory)' }),
    format: T.Union([T.Literal('mp3'), T.Literal('ogg-opus'), T.Literal('flac')], {
      default: 'mp3',
      description: 'File format: MP3 plays everywhere and can be e-mailed; Ogg/Opus is smaller for the same quality; FLAC is lossless (the archive: every sample as captured, about 1–2 MB a minute)',
    }),
    bitrate_kbps: T.Integer({ minimum: 6, maximum: 320, default: 128, description: 'Bitrate (MP3: an MPEG-1 Layer III rate; FLAC: not used)' }),
    bit_depth: T.Union([T.Literal(16), T.Literal(24)], { default: 24, description: 'FLAC only: bits per sample, 16 (CD) or 24 (all a 24-bit interface captures)' }),
    rotate_minutes: T.Integer({ minimum: 0, maximum: 10080, default: 60, description: 'Start a new file after this many minutes (0: never)' }),
    rotate_mb: T.Number({ minimum: 0, maximum: 1_000_000, default: 0, description: 'Start a new file past this size in MB (0: never)' }),
    min_free_mb: T.Integer({
      minimum: 0,
      maximum: 1_000_000,
      default: 0,
      description: 'Stop recording before free space falls below this (0: automatic, 5 % of the disk, at least 200 MB and at most 512 MB)',
    }),
    keep_days: T.Integer({ minimum: 0, maximum: 36_500, default: 0, description: 'Delete recordings older than this many days (0: keep everything)' }),
    make_room: T.Boolean({ default: true, description: 'When the disk gets near min_free_mb, delete the oldest recordings (never the one being written) instead of stopping' }),
    clips: T.Boolean({ default: true, description: 'Keep the 15 s before and after silence or a lost input as a clip (clips/ in the recording folder)' }),
    continue_within_minutes: T.Integer({
      minimum: 0,
      maximum: 1440,
      default: 10,
      description: 'After a restart or a pause shorter than this, go on with the same file instead of starting a new one (0: always a new file)',
    }),
    max_minutes: T.Number({
      minimum: 0,
      maximum: 10080,
      default: 0,
      description: 'A recording started with Record (the button, the API, the CLI, GPIO) stops by itself after this many minutes (0: no limit)',
    }),
  },
  { additionalProperties: false, default: {} },
);

export const SilenceSchema = T.Object(
  {
    enabled: T.Boolean({ default: true, description: 'Raise an alert when the input goes silent' }),
    threshold_dbfs: T.Number({ minimum: -120, maximum: 0, default: -50, description: 'Below this RMS level (every channel) counts as silence' }),
    after_s: T.Number({ minimum: 0.5, maximum: 3600, default: 10, description: 'Silence this long raises the alert' }),
  },
  { additionalProperties: false, default: {} },
);

/** `[fallback]`: what the outputs carry while the input is silent or lost (src/audio/fallback.ts). */
export const FallbackSchema = T.Object(
  {
    enabled: T.Boolean({ default: false, description: 'Play a backup device or audio files when the input goes silent or is lost' }),
    after_s: T.Number({ minimum: 1, maximum: 3600, default: 10, description: 'Silence (below silence.threshold_dbfs) or input loss this long switches to the fallback' }),
    return_s: T.Number({ minimum: 0, maximum: 3600, default: 5, description: 'The input must have had signal this long before it takes over again' }),
    devices: T.Array(T.String({ minLength: 1, maxLength: 256 }), { default: [], maxItems: 8, description: 'Backup capture devices (PipeWire node names), tried in order before the files' }),
    files: T.Array(T.String({ minLength: 1, maxLength: 1024 }), { default: [], maxItems: 32, description: 'Audio files (WAV, FLAC, Ogg/Opus, MP3) played in order, in a loop' }),
    crossfade_ms: T.Integer({ minimum: 10, maximum: 2000, default: 100, description: 'Length of the equal-power cross-fade at each switch' }),
  },
  { additionalProperties: false, default: {} },
);

/** One `[[whip]]` entry: publish the Opus stream to a WHIP server (RFC 9725). */
export const WhipSchema = T.Object(
  {
    id: T.String({ default: '', maxLength: 64, description: 'Label in logs and status; default whip1, whip2 …' }),
    enabled: T.Boolean({ default: true, description: 'Publish to this server' }),
    program: ProgramRef,
    url: T.String({ minLength: 1, maxLength: 1024, description: 'WHIP endpoint URL' }),
    token: T.String({ default: '', maxLength: 4096, description: 'Bearer token' }),
    bitrate_kbps: T.Integer({ minimum: 6, maximum: 510, default: 96, description: 'Opus bitrate in kbit/s' }),
    bind_address: T.String({ default: '', maxLength: 64, description: 'Local address to send from (empty: any)' }),
  },
  { additionalProperties: false },
);

/** One `[[srt]]` entry: a contribution link over SRT (MPEG-TS in libsrt's live mode). */
export const SrtSchema = T.Object(
  {
    id: T.String({ default: '', maxLength: 64, description: 'Label in logs and status; default srt1, srt2 …' }),
    enabled: T.Boolean({ default: true, description: 'Send to this destination' }),
    program: ProgramRef,
    url: T.String({
      minLength: 1,
      maxLength: 1024,
      description: 'srt://host:port?mode=caller (hark calls the receiver) or srt://:port?mode=listener (the receiver calls hark); streamid, passphrase, pbkeylen and latency in the query are taken too',
    }),
    passphrase: T.String({ default: '', maxLength: 79, description: 'Encryption passphrase, 10–79 characters (empty: not encrypted)' }),
    pbkeylen: T.Union([T.Literal(16), T.Literal(24), T.Literal(32)], { default: 16, description: 'AES key length in bytes: 16 (AES-128), 24 or 32 (AES-256)' }),
    latency_ms: T.Integer({ minimum: 20, maximum: 8000, default: 120, description: 'SRT latency: how long the receiver waits for lost packets to be sent again' }),
    stream_id: T.String({ default: '', maxLength: 512, description: 'SRT stream ID sent to the receiver (caller mode)' }),
    payload: T.Union([T.Literal('opus'), T.Literal('mp2'), T.Literal('mp3'), T.Literal('pcm')], {
      default: 'opus',
      description: 'What the MPEG-TS carries: opus, mp2, mp3, or pcm (24-bit SMPTE 302M, about 2.7 Mbit/s stereo)',
    }),
    bitrate_kbps: T.Integer({ minimum: 6, maximum: 510, default: 256, description: 'Codec bitrate in kbit/s (opus 6–510; mp3 and mp2 a standard bitrate; ignored for pcm)' }),
  },
  { additionalProperties: false },
);

/**
 * One `[[rtp]]` entry: RTP over UDP to a receiver or a multicast group on the LAN (AES67-style
 * L24/L16, or Opus), its SDP at /rtp/<id>.sdp. Address, port and packet time are checked in
 * src/config/rtp-check.ts (what the schema cannot say).
 */
export const RtpSchema = T.Object(
  {
    id: T.String({ default: '', maxLength: 32, description: 'Short name in /rtp/<id>.sdp, logs and status (lower-case letters, digits, - and _); default rtp1, rtp2 …' }),
    enabled: T.Boolean({ default: true, description: 'Send this stream while on air' }),
    program: ProgramRef,
    address: T.String({ minLength: 1, maxLength: 64, description: 'Destination: a receiver\'s IPv4/IPv6 address, or a multicast group (e.g. 239.69.1.10, ff05::1:10)' }),
    port: T.Integer({ minimum: 1024, maximum: 65534, default: 5004, description: 'UDP port (even: RTCP would be the next one)' }),
    payload: T.Union([T.Literal('l24'), T.Literal('l16'), T.Literal('opus')], { default: 'l24', description: 'l24 / l16: uncompressed 24/16-bit PCM at 48 kHz (AES67); opus: compressed, for links with less room' }),
    packet_ms: T.Union([T.Literal(0), T.Literal(1), T.Literal(2.5), T.Literal(4), T.Literal(5), T.Literal(10), T.Literal(20)], {
      default: 0,
      description: 'Audio per packet in ms: 1 or 4 for L24/L16 (AES67), 2.5, 5, 10 or 20 for Opus; 0: 1 ms for L24/L16, 20 ms for Opus',
    }),
    channels: T.Union([T.Literal(1), T.Literal(2)], { default: 2, description: 'Channels sent (1 or 2)' }),
    bitrate_kbps: T.Integer({ minimum: 6, maximum: 510, default: 128, description: 'Opus only: bitrate in kbit/s' }),
    payload_type: T.Integer({ minimum: 96, maximum: 127, default: 96, description: 'RTP payload type (dynamic, 96–127), as the receiver expects it' }),
    ttl: T.Integer({ minimum: 1, maximum: 255, default: 16, description: 'Multicast only: how many routers the packets may cross (IPv4 TTL, IPv6 hop limit); 1 keeps them on this LAN' }),
    sap: T.Boolean({ default: false, description: 'Announce the stream by SAP (RFC 2974) every 30 s, for receivers that list streams on the network (AES67 devices, VLC)' }),
    source_address: T.String({ default: '', maxLength: 64, description: 'Local address to send from, which picks the network interface for multicast (empty: the route decides)' }),
  },
  { additionalProperties: false },
);

export const MetadataSchema = T.Object(
  {
    title: T.String({ default: '', maxLength: 1024, description: 'Title sent at start (POST /api/metadata changes it)' }),
    icy_metaint: T.Integer({ minimum: 1024, maximum: 65536, default: 16000, description: 'Bytes between ICY metadata blocks on /stream.mp3' }),
  },
  { additionalProperties: false, default: {} },
);

/** One `[[webrtc.ice_servers]]` entry: a STUN or TURN server for WebRTC listeners. */
export const IceServerSchema = T.Object(
  {
    url: T.String({
      pattern: '^(stuns?|turns?):([^?:/\\s]+|\\[[0-9a-fA-F:.]+\\])(:[0-9]{1,5})?(\\?transport=(udp|tcp))?$',
      maxLength: 512,
      description: 'stun:host[:port], turn:host[:port][?transport=udp|tcp] or turns:host[:port]',
    }),
    username: T.String({ default: '', maxLength: 256, description: 'TURN user name' }),
    credential: T.String({ default: '', maxLength: 256, description: 'TURN password' }),
  },
  { additionalProperties: false },
);

export const WebrtcSchema = T.Object(
  {
    enabled: T.Boolean({ default: true, description: 'Serve WebRTC listeners (WHEP at /whep, the /listen page)' }),
    max_listeners: T.Integer({ minimum: 1, maximum: 1000, default: 50, description: 'WebRTC listener limit (more get 503 with Retry-After)' }),
    max_listeners_per_address: T.Integer({
      minimum: 0,
      maximum: 1000,
      default: 4,
      description: 'WebRTC sessions one client address may hold at once (more get 429); 0: no limit',
    }),
    token: T.String({ default: '', maxLength: 1024, description: 'Bearer token WHEP requests must carry; empty: none' }),
    udp_port: T.Integer({ ...Port, default: 8189, description: 'The one UDP port all WebRTC listeners share' }),
    ice_servers: T.Array(IceServerSchema, { default: [], maxItems: 16, description: 'STUN/TURN servers ([[webrtc.ice_servers]])' }),
    additional_hosts: T.Array(T.String({ minLength: 1, maxLength: 253, pattern: '^[0-9A-Za-z.:-]+$' }), {
      default: [],
      maxItems: 16,
      description: 'Extra addresses or DNS names announced as host candidates (a NAT\'s public address)',
    }),
    codecs: T.Array(T.Union([T.Literal('opus'), T.Literal('pcmu'), T.Literal('pcma'), T.Literal('g722')]), {
      default: ['opus', 'pcmu', 'pcma', 'g722'],
      minItems: 1,
      uniqueItems: true,
      description: 'Codecs hark may send, most preferred first',
    }),
    stereo: T.Boolean({ default: true, description: 'Send stereo Opus to listeners whose offer says stereo=1' }),
    useinbandfec: T.Boolean({ default: true, description: 'Opus inband FEC for listeners whose offer says useinbandfec=1 (not with opus.low_delay)' }),
    usedtx: T.Boolean({ default: false, description: 'Opus DTX (no packets in silence) for listeners whose offer says usedtx=1' }),
    cbr: T.Boolean({ default: false, description: 'Constant-bitrate Opus for everyone (offers with cbr=1 get it anyway)' }),
    honour_minptime: T.Boolean({ default: true, description: "Never send shorter packets than the offer's minptime (browsers say 10 ms)" }),
    maxplaybackrate: T.Integer({ minimum: 8000, maximum: 48000, default: 48000, description: 'Widest audio band sent, Hz (the offer may lower it)' }),
  },
  { additionalProperties: false, default: {} },
);

// ---- GPIO: buttons and LEDs (src/gpio). The defaults are the build in docs/gpio-wiring.svg.
const GpioLine = T.String({
  minLength: 1,
  maxLength: 64,
  pattern: '^[^\\s]+$',
  description: 'A line name ("GPIO17"), or chip:offset where lines have no names ("gpiochip0:17", "pl061:3"), or an offset on gpio.chip',
});
const ButtonAction = T.Union(['toggle_live', 'go_live', 'stop', 'toggle_mute', 'mute', 'unmute', 'mark', 'record', 'stop_recording', 'toggle_record'].map((a) => T.Literal(a)));

/** One `[[gpio.button]]`: a push button that runs a control action. */
export const GpioButtonSchema = T.Object(
  {
    line: GpioLine,
    action: T.Union(ButtonAction.anyOf, { description: 'The control action a press runs' }),
    long_press_ms: T.Integer({ minimum: 200, maximum: 10000, default: 1500, description: 'Held this long, the press runs long_action instead' }),
    long_action: T.Union([T.Literal(''), ...ButtonAction.anyOf], {
      default: '',
      description: 'Action for a long press; empty: none (then a press acts at once, not on release)',
    }),
    active_low: T.Boolean({ default: true, description: 'true: button to GND, internal pull-up; false: button to 3V3, pull-down' }),
    program: T.String({
      default: '',
      maxLength: 32,
      pattern: `^$|${PROGRAM_ID_PATTERN}`,
      description: 'For mute, unmute and toggle_mute: mute only this program (an interpreter\'s cough button); empty: the whole box',
    }),
  },
  { additionalProperties: false },
);

/** One `[[gpio.led]]`: an LED that shows one indicator. */
export const GpioLedSchema = T.Object(
  {
    line: GpioLine,
    shows: T.Union([T.Literal('live'), T.Literal('muted'), T.Literal('signal'), T.Literal('error'), T.Literal('listeners')], {
      description: 'live: on air; muted; signal: input above gpio.signal_dbfs; error: any active alert; listeners: at least one',
    }),
    pattern: T.Union([T.Literal('on'), T.Literal('blink'), T.Literal('pulse')], {
      default: 'on',
      description: 'on: steady; blink: 2 Hz; pulse: slow blink, 0.5 Hz',
    }),
    active_low: T.Boolean({ default: false, description: 'true: the LED lights when the line is low (LED to 3V3)' }),
  },
  { additionalProperties: false },
);

export const GpioSchema = T.Object(
  {
    enabled: T.Boolean({ default: true, description: 'Use the buttons and LEDs below (missing lines are warned about and skipped)' }),
    chip: T.String({
      default: 'auto',
      minLength: 1,
      maxLength: 64,
      description: 'auto: find named lines on every chip; or one chip by name ("gpiochip0"), label ("pinctrl-rp1") or path',
    }),
    debounce_ms: T.Integer({ minimum: 0, maximum: 500, default: 30, description: 'Button debounce (in the kernel, and again in hark)' }),
    signal_dbfs: T.Number({ minimum: -90, maximum: 0, default: -40, description: 'An LED showing signal lights while the input peaks above this' }),
    button: T.Array(GpioButtonSchema, {
      default: [
        { line: 'GPIO17', action: 'toggle_live' },
        { line: 'GPIO27', action: 'toggle_mute' },
      ],
      maxItems: 16,
      description: 'Buttons ([[gpio.button]])',
    }),
    led: T.Array(GpioLedSchema, {
      default: [
        { line: 'GPIO23', shows: 'live' },
        { line: 'GPIO24', shows: 'muted', pattern: 'blink' },
        { line: 'GPIO25', shows: 'signal' },
      ],
      maxItems: 16,
      description: 'LEDs ([[gpio.led]])',
    }),
  },
  { additionalProperties: false, default: {} },
);

/** The days of the week as schedules name them. */
export const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;

/** One `[[schedule]]` entry: go live or record on these days, from start to end (the box's time zone). */
export const ScheduleSchema = T.Object(
  {
    days: T.Array(T.Union(WEEKDAYS.map((d) => T.Literal(d))), { maxItems: 7, description: 'Days of the week: mon, tue, wed, thu, fri, sat, sun' }),
    start: T.String({ maxLength: 5, description: 'Start, 24-hour "HH:MM" in the time zone [time] zone' }),
    end: T.String({ maxLength: 5, description: 'End, "HH:MM" after start on the same day ("24:00": midnight)' }),
    action: T.Union([T.Literal('live'), T.Literal('record')], { default: 'live', description: 'live: go live (and stop at the end); record: record without going live' }),
  },
  { additionalProperties: false },
);

/** `[vox]`: go live or record on sound. */
export const VoxSchema = T.Object(
  {
    enabled: T.Boolean({ default: false, description: 'Start when there is sound, stop after a quiet while' }),
    threshold_dbfs: T.Number({ minimum: -90, maximum: 0, default: -40, description: 'Sound above this RMS level (the channels mixed) counts' }),
    attack_s: T.Number({ minimum: 0, maximum: 60, default: 2, description: 'The sound must last this long to start' }),
    release_s: T.Number({ minimum: 0, maximum: 3600, default: 30, description: 'Stop after this long below the threshold' }),
    preroll_s: T.Number({ minimum: 0, maximum: 30, default: 5, description: 'The recording (and the stream) starts with the audio from this long before the sound began' }),
    action: T.Union([T.Literal('record'), T.Literal('live')], { default: 'record', description: 'record: record without going live; live: go live' }),
  },
  { additionalProperties: false, default: {} },
);

/** `[time]`: the time zone schedules run in. */
export const TimeSchema = T.Object(
  {
    zone: T.String({ default: '', maxLength: 64, description: 'IANA time zone for schedules ("Europe/Amsterdam"); empty: the system\'s' }),
  },
  { additionalProperties: false, default: {} },
);

/** `[control]`: the run state across restarts, and where hark keeps its own files. */
export const ControlSchema = T.Object(
  {
    on_boot: T.Union([T.Literal('last'), T.Literal('live'), T.Literal('idle')], {
      default: 'last',
      description: 'State after a start or a power cut: last (as it was; live on a fresh install), live or idle',
    }),
    local_listeners_off_air: T.Union([T.Literal('silence'), T.Literal('audio')], {
      default: 'silence',
      description:
        'What people listening here (the listen page, the MP3 stream) hear while off air: silence (the default: after the service the room stays private; they stay connected and hear the next service when it goes live) or audio (for a monitor that always hears the room). Muted is always silence',
    }),
    state_dir: T.String({
      default: '',
      maxLength: 1024,
      description: "Where hark keeps state.json (last state) and auth.json (password hash, sessions, API tokens); empty: the config file's directory",
    }),
    socket: T.String({
      default: '',
      maxLength: 100,
      description: "The CLI's Unix socket (mode 0660, group hark); empty: $RUNTIME_DIRECTORY/hark.sock under systemd, else hark.sock in state_dir",
    }),
  },
  { additionalProperties: false, default: {} },
);

/** `[access]`: who may read and listen without logging in. */
export const AccessSchema = T.Object(
  {
    listener_token: T.String({
      default: '',
      maxLength: 256,
      description: 'Token listeners need for /listen, /whep and /stream.mp3 (?token=…, Authorization: Bearer, or the cookie that /listen?token=… sets); empty: listening is public',
    }),
    public_status: T.Boolean({
      default: true,
      description: 'GET /api/status and /metrics answer without login (read-only; loopback always may)',
    }),
    session_hours: T.Integer({ minimum: 1, maximum: 720, default: 12, description: 'A login lasts this long' }),
  },
  { additionalProperties: false, default: {} },
);

/** What a `[[notify]]` entry may ask for (issue 17): alerts grouped as people think of them. */
export const NOTIFY_EVENTS = ['silence', 'input', 'output', 'disk', 'recording', 'fallback', 'restart', 'other'] as const;

/** One `[[notify]]` entry: tell a person (webhook, e-mail) or a home automation (MQTT) when something happens. */
export const NotifySchema = T.Object(
  {
    type: T.Union([T.Literal('webhook'), T.Literal('email'), T.Literal('mqtt')], { description: 'webhook: POST a JSON document; email: SMTP; mqtt: publish to a broker (with Home Assistant discovery)' }),
    enabled: T.Boolean({ default: true, description: 'Use this entry' }),
    name: T.String({ default: '', maxLength: 64, description: 'Label on the page and in logs; default: what and where ("E-mail to ops@example.org")' }),
    url: T.String({
      // Empty is refused by notify-check.ts, with an example for the entry's type.
      maxLength: 2048,
      description: 'webhook: http(s)://…; email: smtp://user:pass@host:587 (STARTTLS) or smtps://user:pass@host:465 (TLS); mqtt: mqtt://user:pass@host:1883 or mqtts://…:8883',
    }),
    to: T.Array(T.String({ minLength: 3, maxLength: 254 }), { default: [], maxItems: 20, description: 'email only: the addresses to write to' }),
    from: T.String({ default: '', maxLength: 254, description: 'email only: the sender address; default: the login user when it is an address, else hark@<host name>' }),
    events: T.Array(T.Union(NOTIFY_EVENTS.map((e) => T.Literal(e))), {
      default: [...NOTIFY_EVENTS],
      uniqueItems: true,
      description: 'What to tell: silence, input (lost/back), output (down for output_grace_s/back), disk (low), recording (failed), fallback, restart, other (any other alert)',
    }),
    min_severity: T.Union([T.Literal('info'), T.Literal('warning'), T.Literal('critical')], { default: 'warning', description: 'Only events at least this severe (a recovery has the severity of what it ends)' }),
    repeat_minutes: T.Integer({ minimum: 0, maximum: 10080, default: 0, description: 'Tell again every this many minutes while an alert stays active (0: never)' }),
    output_grace_s: T.Integer({ minimum: 0, maximum: 86400, default: 60, description: 'An output (Icecast, WHIP) must be down this long before it is told' }),
    headers: T.Record(T.String({ minLength: 1, maxLength: 128 }), T.String({ maxLength: 4096 }), { default: {}, description: 'webhook only: extra request headers, e.g. { Authorization = "Bearer …" }' }),
    topic: T.String({ default: '', maxLength: 200, description: 'mqtt only: the base topic; default hark/<host name>' }),
    discovery: T.Boolean({ default: true, description: 'mqtt only: announce the box to Home Assistant (MQTT discovery)' }),
    discovery_prefix: T.String({ default: 'homeassistant', minLength: 1, maxLength: 100, description: "mqtt only: Home Assistant's discovery prefix" }),
    commands: T.Boolean({ default: true, description: 'mqtt only: run control actions (go live, stop, mute …) sent to <topic>/command and the switches' }),
    tls_verify: T.Boolean({ default: true, description: "Check the server's certificate (https, smtps/STARTTLS, mqtts); false trusts any and is insecure" }),
  },
  { additionalProperties: false },
);

/** `[admin]`: only for the first boot; the daemon hashes the password and removes it from the file. */
export const AdminSchema = T.Object(
  {
    password: T.String({
      default: '',
      maxLength: 256,
      description: 'First boot only: the admin password in plain text; hark hashes it into auth.json and deletes it from this file',
    }),
  },
  { additionalProperties: false, default: {} },
);

export const ConfigSchema = T.Object(
  {
    http: HttpSchema,
    tls: TlsSchema,
    input: InputSchema,
    tone: ToneSchema,
    mp3: Mp3Schema,
    opus: OpusSchema,
    stream: StreamSchema,
    log: LogSchema,
    program: T.Array(ProgramSchema, { default: [], maxItems: 8, description: 'Programs ([[program]]): several streams from one input' }),
    icecast: T.Array(IcecastSchema, { default: [], maxItems: 32, description: 'Icecast servers ([[icecast]])' }),
    recording: RecordingSchema,
    silence: SilenceSchema,
    fallback: FallbackSchema,
    whip: T.Array(WhipSchema, { default: [], maxItems: 16, description: 'WHIP servers ([[whip]])' }),
    srt: T.Array(SrtSchema, { default: [], maxItems: 16, description: 'SRT destinations ([[srt]])' }),
    rtp: T.Array(RtpSchema, { default: [], maxItems: 16, description: 'RTP streams ([[rtp]])' }),
    metadata: MetadataSchema,
    webrtc: WebrtcSchema,
    gpio: GpioSchema,
    control: ControlSchema,
    schedule: T.Array(ScheduleSchema, { default: [], maxItems: 64, description: 'Schedules ([[schedule]])' }),
    vox: VoxSchema,
    time: TimeSchema,
    access: AccessSchema,
    admin: AdminSchema,
    notify: T.Array(NotifySchema, { default: [], maxItems: 16, description: 'People and systems told about alerts ([[notify]])' }),
  },
  { additionalProperties: false },
);

export type Config = Static<typeof ConfigSchema>;
