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
