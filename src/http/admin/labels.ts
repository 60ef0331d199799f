/**
 * What the settings forms say to the people who run a service: a plain label and help per
 * schema key, the choices of a select in words, and which keys wait under "Advanced". The
 * schema's own descriptions serve the README and the API; these serve the page. The order of
 * a section's keys here is the order of its fields. A key missing here still renders, under
 * "Advanced", with its schema description.
 */

import type { FieldText } from '../../../web/templates/components.ts';

export type { FieldText };

/** Bitrates as a choice of quality; each is an MPEG-1 Layer III rate, so MP3 takes them all. */
export const QUALITY: readonly (readonly [number, string])[] = [
  [64, 'Speech (64 kbit/s)'],
  [96, 'Fair (96 kbit/s)'],
  [128, 'Good (128 kbit/s)'],
  [192, 'Very good (192 kbit/s)'],
  [256, 'Excellent (256 kbit/s)'],
  [320, 'Best (320 kbit/s)'],
];

export const SECTION_TEXT: Record<string, Record<string, FieldText>> = {
  input: {
    source: {
      label: 'Where sound comes from',
      help: 'Automatic: the interface chosen under Device, or the default one. For a feed from a studio or another hark, choose SRT or RTP: the fields for it appear below.',
      choices: [
        ['auto', 'Automatic: the chosen interface'],
        ['pipewire', 'An audio interface only'],
        ['pipewire-sink', 'What this box itself plays'],
        ['tone', 'The test tone only'],
        ['srt', 'A feed over the Internet (SRT)'],
        ['rtp', 'A feed on the local network (RTP)'],
      ],
    },
    url: {
      label: 'Feed address',
      helpWhen: {
        field: 'source',
        help: {
          srt: 'srt://:9000?mode=listener: this box waits for the sender to call it on port 9000 (a router or firewall must let that UDP port in). srt://studio.example.org:9000: this box calls the sender, which waits for the call.',
          rtp: 'rtp://:5004: the stream sent to this box on port 5004. rtp://@239.69.1.10:5004: the stream sent to that group on this network.',
        },
      },
    },
    passphrase: {
      label: 'Feed passphrase',
      help: 'The same as at the sender, 10 to 79 characters; the feed then travels encrypted (without one, it does not). Once saved it is never shown again: leave the field empty to keep it.',
      clear: 'Remove the saved passphrase',
    },
    buffer_ms: { label: 'Feed delay (ms)', help: 'How long the link may take to resend a lost packet (SRT) or to even out late ones (RTP); the sound plays this much later. 120 for a good line, 300 or more over mobile data.' },
    output_device: { label: 'Also play the feed on', help: 'An output of this box, to pass the feed on to a transmitter or a desk. Every output (the streams, the recording, the links) gets the feed either way.' },
    channels: { label: 'Channels', help: 'How many channels to take from the interface: 1 for mono, 2 for stereo.' },
    latency_frames: {
      label: 'Latency while someone listens on the listen page',
      help: 'How much sound hark gathers before passing it on, in samples (128 is 2.7 ms). Lower is quicker but works the box harder.',
      advanced: true,
    },
    relaxed_latency_frames: {
      label: 'Latency otherwise',
      help: 'The same while nobody is on the listen page (Icecast, recording and the MP3 stream do not need it quick). Higher saves power.',
      advanced: true,
    },
  },
  tone: {
    frequency: { label: 'Pitch (Hz)', help: 'A steady beep for checking the outputs, sent only when the sound comes from the test tone (Capture, Where sound comes from). 440 is the A above middle C.' },
    level_dbfs: { label: 'Loudness (dB)', help: '0 is the loudest possible; −12 is a comfortable level.' },
    clock_ppm: { label: 'Clock error (ppm)', help: "Makes the test tone's clock run fast (+) or slow (−) by this many millionths, as a real interface's does. For testing listeners; leave at 0.", advanced: true },
  },
  silence: {
    enabled: { label: 'Warn me when the input goes quiet', help: 'An alert on every page when nothing comes in: a cable, a muted desk, a dead microphone.' },
    after_s: { label: 'After this many seconds of quiet' },
    threshold_dbfs: { label: 'Quieter than (dB)', help: 'Sound below this counts as quiet. −50 is very quiet; 0 is the loudest possible.', advanced: true },
  },
  recording: {
    enabled: { label: 'Record every broadcast', help: 'While on air, hark keeps a file of it on this box (see Recordings).' },
    program: { label: 'Program to record', help: 'Which program goes into the file (see the Programs page).' },
    format: {
      label: 'Format',
      choices: [
        ['mp3', 'MP3 (plays everywhere)'],
        ['ogg-opus', 'Opus (smaller)'],
        ['flac', 'FLAC (lossless, for the archive; large)'],
      ],
    },
    bitrate_kbps: { label: 'Quality', help: 'For MP3 and Opus; FLAC keeps every sample.', choices: QUALITY },
    bit_depth: {
      label: 'FLAC bit depth',
      help: '24 keeps all a 24-bit interface captures; 16 is CD quality and a third smaller.',
      advanced: true,
      choices: [
        [24, '24-bit'],
        [16, '16-bit (CD)'],
      ],
    },
    dir: { label: 'Folder', help: 'Where the files go on this box.' },
    rotate_minutes: { label: 'Start a new file every (minutes)', help: '0: one file per broadcast.', advanced: true },
    rotate_mb: { label: 'Start a new file past (MB)', help: '0: no size limit.', advanced: true },
    min_free_mb: { label: 'Keep this much disk space free (MB)', help: 'Recording stops before the disk gets fuller than this. 0: decided by the size of the disk (5 %, from 200 to 512 MB).', advanced: true },
    keep_days: { label: 'Delete recordings older than (days)', help: '0: keep every recording.' },
    make_room: { label: 'Make room by deleting the oldest recordings', help: 'When the disk is nearly full, the oldest recordings go first, so recording never stops. The one being recorded is never deleted.' },
    clips: { label: 'Keep a clip when the sound stops', help: 'The 15 seconds before and after silence or a lost input, linked from the alert.', advanced: true },
    continue_within_minutes: {
      label: 'Go on in the same recording after a break of up to (minutes)',
      help: 'A restart, a power cut or Stop then Go live within this time continues the same file, so one service is one recording. 0: a new file every time.',
      advanced: true,
    },
    max_minutes: { label: 'Stop a recording started with Record after (minutes)', help: 'So a forgotten Record does not fill the disk. 0: no limit.', advanced: true },
  },
  vox: {
    enabled: { label: 'Start on sound', help: 'When the input has been louder than the level below for a moment, hark starts by itself; after a quiet while it stops.' },
    action: {
      label: 'When there is sound',
      choices: [
        ['record', 'Record (not on air)'],
        ['live', 'Go live'],
      ],
    },
    threshold_dbfs: { label: 'Louder than (dB)', help: '−40 is a quiet voice near the microphone; 0 is the loudest possible.' },
    attack_s: { label: 'For at least (seconds)', help: 'A cough or a door does not start it.' },
    release_s: { label: 'Stop after this many quiet seconds' },
    preroll_s: { label: 'Keep this many seconds from before the sound', help: 'The recording begins this long before the sound did, so the first words are in it.', advanced: true },
  },
  webrtc: {
    enabled: { label: 'Listen page on', help: 'People on this network listen in a browser, with a quarter of a second of delay.' },
    max_listeners: { label: 'Most listeners at once' },
    max_listeners_per_address: { label: 'Most listeners from one address', help: 'So that one device or web page cannot take every place; 0: no limit.', advanced: true },
    token: { label: 'Access key for other players', help: 'Players other than the listen page (WHEP) must send this key; empty: none needed.', advanced: true },
    udp_port: { label: 'Network port for sound (UDP)', help: 'One port shared by every listener; a firewall must let it through.', advanced: true },
    additional_hosts: { label: 'Extra public addresses', help: 'Addresses or names listeners outside this network reach the box by, comma-separated.', advanced: true },
    codecs: { label: 'Codecs, preferred first', help: 'Comma-separated: opus, pcmu, pcma, g722.', advanced: true },
    stereo: { label: 'Stereo', help: 'Send stereo to browsers that ask for it.', advanced: true },
    useinbandfec: { label: 'Repair lost packets', help: 'Opus in-band forward error correction (useinbandfec), for browsers that ask for it.', advanced: true },
    usedtx: { label: 'Send nothing in silence', help: 'Opus discontinuous transmission (usedtx), for browsers that ask for it.', advanced: true },
    cbr: { label: 'Constant bitrate', help: 'Opus constant bitrate (cbr) for every listener.', advanced: true },
    honour_minptime: { label: 'Respect the browser’s shortest packet', help: 'Never send packets shorter than the browser asks for (minptime).', advanced: true },
    maxplaybackrate: { label: 'Widest audio band (Hz)', help: 'Opus maxplaybackrate; a browser may ask for less.', advanced: true },
  },
  mp3: {
    bitrate_kbps: { label: 'Quality', help: 'Of the MP3 stream that radio apps and players open.', choices: QUALITY },
  },
  stream: {
    max_listeners: { label: 'Most listeners at once' },
    queue_kb: { label: 'Slow listener allowance (kB)', help: 'A listener this far behind is disconnected (queue_kb).', advanced: true },
  },
  metadata: {
    title: { label: 'Title when hark starts', help: 'Shown in players and on Icecast servers. Change it any time on the dashboard.' },
    icy_metaint: { label: 'Bytes between title updates', help: 'ICY metadata interval of the MP3 stream (icy_metaint).', advanced: true },
  },
  opus: {
    bitrate_kbps: { label: 'Quality of the listen page (kbit/s)' },
    frame_ms: { label: 'Packet length (ms)', advanced: true },
    low_delay: { label: 'Lowest delay', help: 'About 2.5 ms less delay; then lost packets cannot be repaired.', advanced: true },
  },
  access: {
    listener_token: { label: 'Listener password', help: 'If set, listeners need it to open the listen page or the stream (share the link with it). Empty: anyone on the network can listen.' },
    session_hours: { label: 'Stay logged in for (hours)' },
    public_status: { label: 'Status readable without logging in', help: 'The status summary and metrics, read-only, for monitoring tools.', advanced: true },
  },
  control: {
    on_boot: {
      label: 'After a restart or a power cut',
      choices: [
        ['last', 'Carry on as before'],
        ['live', 'Go on air'],
        ['idle', 'Stay off air'],
      ],
    },
    local_listeners_off_air: {
      label: 'While off air, people listening here hear',
      help: 'The listen page and the stream link on this network. Silence keeps the room private after the service; they stay connected and hear the next one. Muted is always silence.',
      choices: [
        ['silence', 'Silence (the room stays private)'],
        ['audio', 'The room (a monitor that always listens)'],
      ],
    },
  },
  log: {
    level: {
      label: 'How much the log says',
      choices: [
        ['debug', 'Everything (for finding faults)'],
        ['info', 'Normal'],
        ['warn', 'Only warnings and errors'],
        ['error', 'Only errors'],
      ],
    },
  },
  http: {
    port: { label: 'Web port', help: 'The port of this page and the listen page. After a change, the page moves to the new port.', advanced: true },
    host: { label: 'Answer on address', help: '0.0.0.0: every network of this box.', advanced: true },
    allowed_hosts: {
      label: 'Other names of this box',
      help: 'Names people type to reach this box besides its own name and addresses (a proxy or router in front of it), comma-separated. Other names are refused.',
      advanced: true,
    },
  },
};

export const ENTRY_TEXT: Record<'icecast' | 'whip' | 'srt' | 'rtp' | 'notify', Record<string, FieldText>> = {
  icecast: {
    url: {
      label: 'Paste the URL your host gave you',
      help: 'For example https://radio.example.org:8443/live, icecast://source:password@radio.example.org:8000/live or http://radio.example.org:8000/live. It fills in the fields below: what the address holds replaces what they say.',
    },
    host: { label: 'Server address', help: 'The name or IP address of the Icecast server, e.g. radio.example.org.' },
    port: { label: 'Port', help: 'Often 8000 (443 or 8443 for a secure address).' },
    tls: { label: 'Secure connection (https)', help: 'On when your host’s address starts with https://: the password and the stream travel encrypted.' },
    mount: { label: 'Mount point', help: 'The stream’s name on the server, e.g. /live.' },
    password: { label: 'Source password', help: 'The password for sending to the server (not the one for listening).' },
    bitrate_kbps: { label: 'Quality', choices: QUALITY },
    name: { label: 'Station name', help: 'Listeners see it in their players.' },
    program: { label: 'Program', help: 'Which program this server gets, e.g. one language (see the Programs page).' },
    enabled: { label: 'Send to this server' },
    user: { label: 'Source user name', help: 'Almost always "source"; empty means that.', advanced: true },
    format: {
      label: 'Format',
      advanced: true,
      choices: [
        ['mp3', 'MP3 (plays everywhere)'],
        ['ogg-opus', 'Opus (smaller; not every player)'],
        ['ogg-flac', 'FLAC (lossless; about 1.5 Mbit/s, not every player)'],
      ],
    },
    description: { label: 'Description', advanced: true },
    genre: { label: 'Genre', advanced: true },
    website: { label: 'Station website', advanced: true },
    public: { label: 'List in public directories', help: 'Let the server announce the stream in directories such as dir.xiph.org.', advanced: true },
    id: { label: 'Short name', help: 'In the log and the status list; empty: the mount point.', advanced: true },
    ca_file: {
      label: 'Also trust certificates from (file)',
      help: 'Only for a server whose certificate is signed by its own authority: the path on this box of that authority’s certificate (a PEM file). Empty: only the usual authorities.',
      advanced: true,
    },
    tls_verify: {
      label: 'Check the server’s certificate',
      help: 'Leave this on. Off, hark sends the password to whatever answers at this address, even an impostor: use it only to try out a server while its certificate is being fixed.',
      advanced: true,
    },
  },
  whip: {
    url: { label: 'Server address', help: 'The WHIP address your platform gave you, starting with https://.' },
    token: { label: 'Stream key', help: 'The key or token your platform gave you, if any.' },
    bitrate_kbps: { label: 'Quality', choices: QUALITY },
    program: { label: 'Program', help: 'Which program this server gets, e.g. one language (see the Programs page).' },
    enabled: { label: 'Send to this server' },
    id: { label: 'Short name', help: 'In the log and the status list.', advanced: true },
    bind_address: { label: 'Send from local address', help: 'Empty: any.', advanced: true },
  },
  srt: {
    url: {
      label: 'Address',
      help: 'Says which end calls. This box calls the far end: srt://studio.example.org:9000 (the far end waits for the call on port 9000). The far end calls this box: srt://:9000?mode=listener (this box waits on port 9000; a router or firewall must let that UDP port in).',
    },
    passphrase: {
      label: 'Passphrase',
      help: 'The same at both ends, 10 to 79 characters; the sound then travels encrypted (without one, it does not). Once saved it is never shown again: leave the field empty to keep it.',
      clear: 'Remove the saved passphrase (send unencrypted)',
    },
    payload: {
      label: 'Format',
      help: 'What the far end can take. Opus: small and quick, for another hark, ffmpeg or OBS. MP2: what broadcast codecs and transmitters expect. MP3: for a receiver that takes nothing else. Uncompressed: the best sound, about 2.7 Mbit/s.',
      choices: [
        ['opus', 'Opus (small, quick)'],
        ['mp2', 'MP2 (broadcast codecs)'],
        ['mp3', 'MP3'],
        ['pcm', 'Uncompressed (24-bit)'],
      ],
    },
    bitrate_kbps: { label: 'Bitrate (kbit/s)', help: 'Opus: 6 to 510 (256 for music, 64 for speech). MP2 and MP3: a standard rate such as 128, 192 or 256. Not used uncompressed.' },
    latency_ms: {
      label: 'Time to resend lost packets (ms)',
      help: 'How long the far end waits for a lost packet to come again; the sound arrives this much later. 120 for a good line; over mobile data 4 times the round trip (shown in the list once the link is up). The higher of the two ends’ values is used.',
    },
    stream_id: { label: 'Stream ID', help: 'Only if the far end asks for one (some servers pick the stream by it, e.g. publish:studio). Sent when this box calls.' },
    program: { label: 'Program', help: 'Which program this link carries (see the Programs page).' },
    enabled: { label: 'Send on this link' },
    id: { label: 'Short name', help: 'In the log and the status list; empty: srt1, srt2 …', advanced: true },
    pbkeylen: {
      label: 'Encryption strength',
      help: 'With a passphrase only: as the far end has it.',
      advanced: true,
      choices: [
        [16, 'AES-128 (the usual)'],
        [24, 'AES-192'],
        [32, 'AES-256'],
      ],
    },
  },
  rtp: {
    address: { label: 'Send to (address or group)', help: 'The receiver’s IP address, or the multicast group it listens to, e.g. 239.69.1.10.' },
    port: { label: 'Port', help: 'Usually 5004 (an even number).' },
    payload: {
      label: 'Format',
      choices: [
        ['l24', '24-bit uncompressed (AES67)'],
        ['l16', '16-bit uncompressed'],
        ['opus', 'Opus (compressed, less network)'],
      ],
    },
    program: { label: 'Program', help: 'Which program this stream carries (see the Programs page).' },
    enabled: { label: 'Send this stream' },
    sap: { label: 'Announce it on the network (SAP)', help: 'AES67 devices and VLC then list it by themselves.' },
    id: { label: 'Short name', help: 'In the stream’s description address (/rtp/<short name>.sdp), the log and the status list; lower-case letters, digits, - and _.', advanced: true },
    packet_ms: { label: 'Audio per packet (ms)', help: '1 or 4 for uncompressed (AES67), 2.5–20 for Opus; 0: 1 ms, or 20 ms for Opus.', advanced: true },
    channels: { label: 'Channels', advanced: true, choices: [[1, 'Mono'], [2, 'Stereo']] },
    bitrate_kbps: { label: 'Opus bitrate (kbit/s)', advanced: true },
    payload_type: { label: 'RTP payload type', help: '96–127, as the receiver expects it.', advanced: true },
    ttl: { label: 'Multicast TTL', help: 'How many routers the packets may cross; 1 keeps them on this network.', advanced: true },
    source_address: { label: 'Send from local address', help: 'Picks the network interface for multicast. Empty: the route decides.', advanced: true },
  },
  notify: {
    type: {
      label: 'How to tell',
      choices: [
        ['email', 'E-mail'],
        ['webhook', 'Web address (webhook)'],
        ['mqtt', 'MQTT broker (Home Assistant)'],
      ],
    },
    url: {
      label: 'Address',
      helpWhen: {
        field: 'type',
        help: {
          email: 'Your mail server, e.g. smtp://user:password@mail.example.org:587.',
          webhook: 'The one you were given, e.g. https://ntfy.sh/our-stream.',
          mqtt: 'The broker, e.g. mqtt://homeassistant.local:1883.',
        },
      },
      help: 'A saved password is never shown: leave it out to keep it.',
    },
    to: { label: 'Send the e-mail to', help: 'One or more e-mail addresses, separated by commas (e-mail only).' },
    events: {
      label: 'Tell about',
      choices: [
        ['silence', 'The sound stopped (silence)'],
        ['input', 'The audio interface was lost, or is back'],
        ['output', 'A stream to a server is down, or back'],
        ['disk', 'The disk is nearly full'],
        ['recording', 'A recording failed'],
        ['fallback', 'The fallback sound started or stopped'],
        ['restart', 'hark restarted'],
        ['other', 'Any other problem'],
      ],
    },
    min_severity: {
      label: 'Only when it is at least',
      choices: [
        ['info', 'Anything, even news (e.g. back to normal)'],
        ['warning', 'A warning'],
        ['critical', 'Serious (critical)'],
      ],
    },
    repeat_minutes: { label: 'Repeat every (minutes)', help: 'Tell again while the problem lasts. 0: tell once.' },
    name: { label: 'Name on this page', help: 'Empty: what and where, e.g. “E-mail to ops@example.org”.' },
    enabled: { label: 'Use this' },
    from: { label: 'Sender address', help: 'E-mail only. Empty: the login user when it is an address, else hark@<this box’s name>.', advanced: true },
    output_grace_s: { label: 'A stream must be down for (seconds)', help: 'Before it is told: a short drop that heals itself is not.', advanced: true },
    tls_verify: { label: 'Check the server’s certificate', help: 'Leave this on. Off, anyone at that address could read the alerts (and a password in the address).', advanced: true },
    topic: { label: 'MQTT topic', help: 'MQTT only. Empty: hark/<this box’s name>.', advanced: true },
    discovery: { label: 'Show in Home Assistant', help: 'MQTT only: announce this box to Home Assistant (MQTT discovery).', advanced: true },
    discovery_prefix: { label: 'Home Assistant discovery prefix', help: 'MQTT only. Almost always “homeassistant”.', advanced: true },
    commands: { label: 'Take commands from Home Assistant', help: 'MQTT only: go live, stop and mute from Home Assistant’s switches.', advanced: true },
  },
};
