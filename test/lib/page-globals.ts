/**
 * What the tests and benchmarks read from `window` inside a page (Playwright's `evaluate`):
 * the listen page's `window.hark` (web/static/listen.js, plain JavaScript, so typed here),
 * axe-core once injected, and the probes the tests themselves put on `window`. One declaration
 * for the whole type-checked tree, so no test needs `window as unknown as …`.
 */

/** One axe-core finding, as the tests read it. */
export interface AxeViolation {
  id: string;
  impact: string;
  help: string;
  nodes: { target: string[]; failureSummary: string }[];
}

/** `window.hark` on the listen page (web/static/listen.js): its state for tests and the curious. */
export interface ListenPageDebug {
  player: {
    ctx: AudioContext;
    outGain: GainNode;
    meters: { source: AudioNode; attach(n: AudioNode): void };
    /** `url`: the WHEP endpoint it posted to (/whep, /whep/<program>). */
    session: { pc: RTCPeerConnection; receiver: RTCRtpReceiver; url: string };
  };
  analysers: AnalyserNode[];
  context: AudioContext;
  /** getStats figures: packets, codec, latency … */
  stats: { packets?: number } & Record<string, number | string | null>;
  state: string;
  /** 'stopped', 'connecting', 'playing' or 'reconnecting'. */
  phase: string;
  sessions: number;
  instance: string | null;
  /** The program the page plays (its id); those hark offers. */
  program: string | null;
  programs: { id: string; name: string; language: string; muted: boolean }[];
  /** Each program's last level from /listen/events (dBFS, the louder channel's peak). */
  programLevels: Record<string, number>;
  /** 'webrtc', 'mp3' or 'http' while a session exists. */
  transport: string | null;
  /** The session's low-latency path (web/static/ll.js `info`); null without one. */
  ll: ListenLowLatency | null;
  /** Whether low latency is asked for (the switch or ?ll=). */
  llWanted: boolean;
  /** Why low latency is not playing although asked for (words), else ''. */
  llNote: string;
  /** Count the worklet's clicks and gaps afresh. */
  llResetDiagnostics(): void;
}

/** `window.hark.ll`: the low-latency path's figures (issue 19). */
export interface ListenLowLatency {
  /** 'waiting', 'playing' or 'failed' (then `why`, in words). */
  state: 'waiting' | 'playing' | 'failed';
  why: string;
  /** Capture (hark's clock) to speaker: now + clock offset − capture time of what plays + outputLatency. */
  latencyMs: number | null;
  targetMs: number | null;
  bufferedMs: number | null;
  frameMs: number | null;
  concealed: number;
  concealedPerMin: number | null;
  packets: number;
  lost: number;
  late: number;
  underruns: number;
  /** Packets dropped (faded, one at a time) because this device's audio clock ran slow beyond ±0.5 %; skipped: dropped at once after a long stall. */
  dropped: number;
  skipped: number;
  /** Times the buffer's earliest-arrival line moved to a delay that stayed (the audio clock jumping ahead as its device fills). */
  rebases: number;
  /** Sequence numbers that never came; packets whose sample clock did not follow on. */
  missing: number;
  clockJumps: number;
  duplicates: number;
  reordered: number;
  /** Malformed packets (page and worklet). */
  bad: number;
  resampleRatio: number | null;
  /** The worklet's output: the largest sample-to-sample step, steps over 0.1, the longest concealed run and the longest dropout (concealment below half level), in samples. */
  maxStep: number;
  jumps: number;
  longestGapSamples: number;
  longestDropoutSamples: number;
  /** Concealments whose cover ran out (the output fell below half level): heard as a gap. */
  dropouts: number;
  clockOffsetMs: number | null;
  rttMs: number | null;
  outputLatencyMs: number;
  /** How decoded audio reaches the worklet: the shared ring (cross-origin isolated) or messages; null before the worklet exists. */
  transport: 'shared-ring' | 'messages' | null;
  /** Frames the full ring refused (concealed as lost); plane sets the worklet allocated for the ring (its pool's size). */
  ringDropped: number;
  ringAllocated: number;
  /** Through the ring: how long a decoded frame waits for the worklet's next turn (p95, ms); null by messages. */
  handoverMs: number | null;
}

declare global {
  interface Window {
    /** The listen page's debug object (absent on other pages). */
    hark: ListenPageDebug;
    /** axe-core, once its script is added to the page. */
    axe: { run(context: unknown, options: object): Promise<{ violations: AxeViolation[] }> };
    /** test/csp-e2e.test.ts: CSP violation reports collected in the page. */
    __csp?: string[];
    /** test/pages-ids.test.ts: SSE messages seen. */
    sseSeen?: number;
    /** test/admin-e2e.test.ts: when the page first showed "live". */
    liveAt?: number;
    // bench/webrtc-latency.ts: its click detector and the Chrome-to-Chrome reference peer.
    __clicks: number[];
    __peer?: HTMLAudioElement;
    __ctx?: AudioContext;
    __stream?: MediaStream;
    __a: RTCPeerConnection;
    __b: RTCPeerConnection;
    __audio: HTMLAudioElement;
  }
}
