/**
 * The control plane of one daemon: the event bus, the state machine wired to the outputs,
 * the config store (with SIGHUP and file-change reloads), authentication, the outputs' events
 * on the bus and the CLI's Unix socket. The daemon builds it beside the pipeline and outputs and hands
 * it to the HTTP layer through AppContext.
 */
import { resolveProgramId, resolvePrograms } from '../config/programs.ts';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Server } from 'bun';
import type { Config } from '../config/schema.ts';
import { ConfigStore } from '../config/store.ts';
import type { SourceSettings } from '../audio/protocol.ts';
import type { AppContext } from './context.ts';
import { logger } from '../log.ts';
import { Auth } from './auth.ts';
import { ActionError, Control } from './control.ts';
import { EventBus } from './events.ts';
import { OutputEvents, applyOffAir, setOutputsLive, startIdleServices } from './outputs.ts';
import { configComponents } from './config-apply.ts';
import { StateFile, bootState, bootTitle } from './state-file.ts';
import { socketPathOf, stateDirOf } from './paths.ts';
import { INPUT_LOST_ALERT } from '../outputs/alerts.ts';
import { MAX_RELEASE_BYTES } from '../system/release.ts';
import { Automation } from './automation.ts';
import type { ClockProbe } from './clock.ts';

export { socketPathOf, stateDirOf };

const log = logger('control');

type Parts = Pick<AppContext, 'config' | 'pipeline' | 'broadcast' | 'mp3' | 'webrtc' | 'streams'>;

export interface PlaneOptions {
  /** The config file ('' or absent: none; changes are then kept in memory only). */
  configPath?: string;
  sourceSettings: (c: Config) => SourceSettings;
  /** Called when someone asks for a restart (the System page, `hark restart`). */
  onRestart?: () => void;
  /** Injectable clock for sessions and the login limit. */
  now?: () => number;
  /** Whether the clock is synchronised (schedules wait for it); default: clock.ts. */
  clock?: ClockProbe;
}

/** Requests that arrived over the CLI's Unix socket: SSH (the socket's group) is their login. */
export const socketRequests = new WeakSet<Request>();

/** The gid of group `hark` from /etc/group, if there is one. */
function harkGid(): number | null {
  try {
    const line = readFileSync('/etc/group', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('hark:'));
    const gid = Number(line?.split(':')[2]);
    return Number.isInteger(gid) ? gid : null;
  } catch {
    return null;
  }
}

export class ControlPlane {
  readonly events = new EventBus();
  readonly control: Control;
  readonly store: ConfigStore;
  readonly auth: Auth;
  readonly stateFile: StateFile;
  readonly stateDir: string;
  readonly socketPath: string;
  /** Schedules and VOX: they start and stop through control actions. */
  readonly automation: Automation;
  private readonly outputEvents: OutputEvents;
  private socketServer?: Server<unknown>;
  private readonly onHup = () => {
    this.auth.reload();
    void this.store.reload('SIGHUP');
  };
  private restartPending = false;
  /** Recording apart from live was on when hark stopped (control.on_boot = "last"). */
  private bootRecording = false;
  /** Ends a Record after recording.max_minutes. */
  private maxRecordingTimer?: ReturnType<typeof setTimeout>;
  private readonly closers: (() => void)[] = [];
  /** The daemon's parts, `config` being the store's current snapshot. */
  private readonly parts: Parts;

  constructor(
    given: Parts,
    private readonly opts: PlaneOptions,
  ) {
    // The config at start; everything after reads the store's current snapshot.
    const config = given.config;
    this.stateDir = stateDirOf(config, opts.configPath);
    mkdirSync(this.stateDir, { recursive: true });
    this.socketPath = socketPathOf(config, opts.configPath);
    this.stateFile = new StateFile(join(this.stateDir, 'state.json'));
    this.auth = new Auth(join(this.stateDir, 'auth.json'), { now: opts.now, sessionHours: () => this.store.config.access.session_hours });
    const store = new ConfigStore(opts.configPath ? resolve(opts.configPath) : join(this.stateDir, 'hark.toml'), config);
    this.store = store;
    const parts: Parts = {
      get config() {
        return store.config;
      },
      pipeline: given.pipeline,
      broadcast: given.broadcast,
      mp3: given.mp3,
      streams: given.streams,
      webrtc: given.webrtc,
    };
    this.parts = parts;
    store.use(...configComponents(parts, { live: () => this.control.isLive, sourceSettings: opts.sourceSettings }));
    this.store.onChange((r) => {
      const keys = [...new Set(r.changed.map((k) => k.split('.')[0]!))];
      if (keys.length) this.events.emit({ type: 'config', keys });
      // A plaintext password that arrived in a config (a hand edit, PUT /api/config) is hashed
      // and removed from the file at once, as at first boot.
      if (r.changed.includes('admin.password') && store.config.admin.password) void this.takeFirstBootPassword();
    });

    // A refused hand edit shows in the alerts until a good edit replaces it.
    this.store.onRefusal((r) => this.events.emit({ type: 'config', keys: [], refused: r?.message ?? null }));

    const saved = this.stateFile.load();
    const initial = bootState(config.control.on_boot, saved);
    this.bootRecording = config.control.on_boot === 'last' && !!saved?.recording;
    const b = parts.broadcast;
    // The title survives a restart: set before anything sends it.
    const title = bootTitle(config.metadata.title, saved);
    if (title !== b.metadata.title) b.metadata.set(title);
    b.metadata.onChange((title) => {
      this.saveState();
      this.events.emit({ type: 'metadata', title });
    });
    b.alerts.on((e) =>
      this.events.emit({
        type: 'alert',
        id: e.alert.id,
        level: e.alert.severity === 'critical' ? 'error' : 'warn',
        message: e.alert.message,
        active: e.type === 'raised',
      }),
    );
    this.control = new Control(
      this.events,
      {
        setLive: (live) => setOutputsLive(parts, live),
        setMuted: (m) => parts.pipeline.setMuted(m),
        setProgramMuted: (program, muted) => {
          const id = resolveProgramId(this.store.config, program);
          if (id === undefined) throw new ActionError(`no program "${program.slice(0, 40)}": the programs are ${resolvePrograms(this.store.config).map((p) => p.id).join(', ')}`, 'program');
          parts.pipeline.setProgramMuted(id, muted);
          this.events.emit({ type: 'program', id, muted });
        },
        isProgramMuted: (program) => parts.pipeline.programMuted(program),
        setMetadata: (t) => void b.metadata.set(t),
        getTitle: () => b.metadata.title,
        setInput: async (device) => {
          await this.store.set({ 'input.device': device });
        },
        // Record now, live or not, until stop_recording or recording.max_minutes; Stop recording also
        // turns off "record whenever live" (recording.enabled), so it stops now in every case.
        setRecording: async (on, origin) => {
          clearTimeout(this.maxRecordingTimer);
          if (!on) {
            b.setRecordApart(false);
            if (this.store.config.recording.enabled) await this.store.set({ 'recording.enabled': false });
            this.saveState();
            return 'recording stopped';
          }
          // Not recording though asked to (a write failed, it waits to retry): try again now.
          if (b.recorder.state === 'retrying') await b.recorder.close();
          b.setRecordApart(true);
          this.saveState();
          const max = this.store.config.recording.max_minutes;
          // A schedule and VOX stop what they started themselves; the limit is for a person's Record.
          if (max > 0 && origin !== 'schedule' && origin !== 'vox') {
            this.maxRecordingTimer = setTimeout(() => void this.control.run('stop_recording', {}, 'timer').catch(() => {}), max * 60_000);
          }
          const r = b.recorder.status();
          const limit = max > 0 && origin !== 'schedule' && origin !== 'vox' ? ` (stops by itself after ${max} min)` : '';
          if (r.state === 'recording') return `${r.continued ? `recording (continuing ${r.file})` : `recording to ${r.file}`}${limit}`;
          return `not recording: ${r.last_error ?? r.state}`;
        },
        isRecording: () => b.recorder.state !== 'stopped',
        // state.json keeps exactly what the `state` event carries (live and muted).
        onState: (s) => this.saveState(s),
      },
      initial,
    );
    this.automation = new Automation({ config: () => store.config, control: this.control, source: parts.pipeline, broadcast: b, clock: opts.clock });
    store.use(this.automation.component());
    this.store.onChange((r) => {
      if (r.changed.includes('recording.enabled')) this.automation.recordingChanged();
      else if (r.changed.some((k) => k === 'icecast' || k.startsWith('icecast.'))) this.automation.icecastChanged();
    });
    // Every action, whoever ran it, in the log: done, or refused and why.
    this.events.on('action', (e) => (e.ok ? log.info(`${e.action} by ${e.origin}: ${e.message}`) : log.warn(`${e.action} by ${e.origin} refused: ${e.message}`)));
    // Capture publishes what it captures (state, device) when it changes: the Input page, the LEDs' input view.
    this.closers.push(parts.pipeline.onInput((s) => this.events.emit({ type: 'input', state: s.state, message: s.message, device: s.device })));
    // Input lost is an alert (notifiers, the alert clip and the fallback take it from there): the
    // device gone, or unusable, after it had captured; waiting for a device never seen is not.
    let captured = false;
    this.closers.push(
      parts.pipeline.onInput((s) => {
        if (s.state === 'running') {
          captured = true;
          b.alerts.clear(INPUT_LOST_ALERT, `input back: ${s.device || 'capturing'}`);
        } else if (captured && (s.state === 'lost' || s.state === 'unavailable' || s.state === 'waiting')) {
          b.alerts.raise(INPUT_LOST_ALERT, 'critical', `Input lost: ${s.message || s.state}.`);
        }
      }),
    );
    // A mark is kept with the recording being written, to find and play from on the Recordings page.
    this.events.on('mark', (e) => void b.recorder.mark(e.label, Date.parse(e.at)));
    // The outputs publish their own changes on the bus (output, listeners): nothing polls them.
    this.outputEvents = new OutputEvents(parts, this.events);
  }

  /** Where the running daemon starts: the boot state applied, reloads armed, the socket open. */
  async start(handle: (req: Request) => Response | Promise<Response>): Promise<void> {
    const { config } = this.parts;
    await this.takeFirstBootPassword();
    if (this.control.isMuted) this.parts.pipeline.setMuted(true);
    // Off air at boot (control.on_boot = "idle", or "last" after a stop): silent from the first packet.
    applyOffAir(this.parts, this.control.isLive);
    startIdleServices(this.parts);
    if (this.control.isLive) await setOutputsLive(this.parts, true);
    // Recording apart from live when the power went: it goes on (a new file, or the last continued).
    if (this.bootRecording) this.parts.broadcast.setRecordApart(true);
    this.automation.start();
    log.info(`boot state ${this.control.state} (control.on_boot = ${config.control.on_boot})`);
    this.saveState();
    if (this.opts.configPath) this.store.watch();
    process.on('SIGHUP', this.onHup);
    if (!this.auth.hasPassword()) log.warn('no admin password yet: open the admin page to set it (or `hark passwd`)');
    this.openSocket(handle);
  }

  /** The run state (as the `state` event carries it) and the title, for the next start. */
  private saveState(s: { live: boolean; muted: boolean } = this.control.snapshot()): void {
    const { broadcast, config } = this.parts;
    this.stateFile.save({ live: s.live, muted: s.muted, title: broadcast.metadata.title, configTitle: config.metadata.title, recording: broadcast.recordingApart });
  }

  /** Run `fn` when the daemon closes (the HTTP layer's timers and PipeWire registry). */
  onClose(fn: () => void): void {
    this.closers.push(fn);
  }

  async close(): Promise<void> {
    for (const fn of this.closers.splice(0)) {
      try {
        fn();
      } catch (e) {
        log.error(`closing: ${(e as Error).message}`);
      }
    }
    process.off('SIGHUP', this.onHup);
    clearTimeout(this.maxRecordingTimer);
    this.automation.close();
    this.outputEvents.close();
    this.store.close();
    this.socketServer?.stop(true);
    this.socketServer = undefined;
    if (existsSync(this.socketPath)) rmSync(this.socketPath, { force: true });
  }

  /** Ask the daemon to restart (in-process: the HTTP port stays, listeners reconnect). */
  requestRestart(origin: string): boolean {
    if (!this.opts.onRestart || this.restartPending) return false;
    this.restartPending = true;
    log.info(`restart requested by ${origin}`);
    // Answer the request first.
    setTimeout(() => this.opts.onRestart!(), 150);
    return true;
  }

  get canRestart(): boolean {
    return !!this.opts.onRestart;
  }

  /**
   * `[admin] password = "…"` in the config (a first-boot file copied into place) is hashed
   * into auth.json and removed from the file, so the plaintext does not stay on disk.
   */
  private async takeFirstBootPassword(): Promise<void> {
    const pw = this.parts.config.admin.password;
    if (!pw) return;
    try {
      await this.auth.setPassword(pw);
      log.info('admin password taken from the config file; removing it from the file');
    } catch (e) {
      log.error(`admin.password in the config was not used: ${(e as Error).message}`);
    }
    try {
      await this.store.set({ 'admin.password': '' });
      // The previous version kept as .bak still has the plaintext.
      rmSync(`${this.store.path}.bak`, { force: true });
    } catch (e) {
      log.error(`could not remove admin.password from ${this.store.path}: ${(e as Error).message}`);
    }
  }

  private openSocket(handle: (req: Request) => Response | Promise<Response>): void {
    const path = this.socketPath;
    try {
      mkdirSync(dirname(path), { recursive: true });
      // A socket file left by a killed daemon would make listen() fail with EADDRINUSE.
      if (existsSync(path)) rmSync(path, { force: true });
      this.socketServer = Bun.serve({
        unix: path,
        // `hark update FILE` sends a release (~60 MB) through here.
        maxRequestBodySize: MAX_RELEASE_BYTES + 1024 * 1024,
        fetch(req: Request) {
          socketRequests.add(req);
          return handle(req);
        },
      } as Parameters<typeof Bun.serve>[0]);
      chmodSync(path, 0o660);
      const gid = harkGid();
      if (gid !== null && process.getgid?.() !== gid) {
        try {
          chownSync(path, -1, gid);
        } catch (e) {
          log.warn(`cannot give ${path} to group hark: ${(e as Error).message}`);
        }
      }
      log.info(`CLI socket ${path}`);
    } catch (e) {
      log.error(`cannot open the CLI socket ${path}: ${(e as Error).message}; \`hark\` commands will not reach this daemon`);
    }
  }
}
