/**
 * The control model: one state (idle, live or muted) that changes only through named
 * actions. The web page, the JSON API, the CLI and the GPIO buttons all call `run()`.
 * "Live" means the broadcast outputs are sending; idle ("off air") keeps capture and meters
 * running and, by default, silences the local listeners too (control.local_listeners_off_air).
 */
import { EventBus, type Origin, type RunState } from './events.ts';
import { logger } from '../log.ts';
import { MAX_TITLE_LENGTH } from '../outputs/metadata.ts';

export const ACTIONS = ['go_live', 'stop', 'toggle_live', 'mute', 'unmute', 'toggle_mute', 'mark', 'set_metadata', 'set_input', 'record', 'stop_recording', 'toggle_record'] as const;
export type ActionName = (typeof ACTIONS)[number];

export interface ActionArgs {
  title?: string;
  label?: string;
  device?: string;
  /** mute, unmute, toggle_mute: one program alone ([[program]] id); absent: the whole box. */
  program?: string;
}

/** An action refused: `field` names the argument at fault, when one is. */
export class ActionError extends Error {
  constructor(
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = 'ActionError';
  }
}

export interface ActionResult {
  ok: true;
  state: RunState;
  message: string;
}

/** What the control model drives; the daemon wires these to the pipeline and outputs. */
export interface ControlHooks {
  /** Start (true) or stop (false) the outputs that send on their own: Icecast, WHIP, recording. */
  setLive?(live: boolean): void | Promise<void>;
  setMuted?(muted: boolean): void;
  /** Mute one program alone; throws an ActionError (field `program`) for an unknown one. */
  setProgramMuted?(program: string, muted: boolean): void;
  isProgramMuted?(program: string): boolean;
  /** Set the title; whoever holds it publishes the 'metadata' event. */
  setMetadata?(title: string): void;
  /** The current title, when the hooks hold it. */
  getTitle?(): string;
  setInput?(device: string): void | Promise<void>;
  /** Record now, apart from going live (on), or stop recording (off); returns what happens now. */
  setRecording?(on: boolean, origin: Origin): string | Promise<string>;
  /** Whether the recorder is recording (or waiting to, for room or a retry): toggle_record stops it then. */
  isRecording?(): boolean;
  /** Called with what every `state` event carries, before it is published (persisting it for the next boot). */
  onState?(s: { state: RunState; live: boolean; muted: boolean }): void;
}

const log = logger('control');

export class Control {
  private live = false;
  private muted = false;
  private lastTitle = '';
  readonly marks: { at: string; label: string }[] = [];

  constructor(
    readonly events: EventBus,
    private readonly hooks: ControlHooks = {},
    initial: { live?: boolean; muted?: boolean } = {},
  ) {
    this.live = !!initial.live;
    this.muted = !!initial.muted;
  }

  get state(): RunState {
    return !this.live ? 'idle' : this.muted ? 'muted' : 'live';
  }

  get isLive(): boolean {
    return this.live;
  }

  get isMuted(): boolean {
    return this.muted;
  }

  get title(): string {
    return this.hooks.getTitle?.() ?? this.lastTitle;
  }

  snapshot() {
    return { state: this.state, live: this.live, muted: this.muted, title: this.title };
  }

  /** Run a named action. Throws ActionError for a refused action or argument. */
  async run(action: string, args: ActionArgs = {}, origin: Origin = 'api'): Promise<ActionResult> {
    if (!(ACTIONS as readonly string[]).includes(action)) {
      throw new ActionError(`unknown action "${action}"; one of ${ACTIONS.join(', ')}`, 'action');
    }
    const run = this.queue.then(() => this.runNow(action as ActionName, args, origin));
    this.queue = run.catch(() => {});
    return run;
  }

  private async runNow(action: ActionName, args: ActionArgs, origin: Origin): Promise<ActionResult> {
    const before = { live: this.live, muted: this.muted };
    let message: string;
    try {
      message = await this.apply(action, args, origin);
    } catch (e) {
      const msg = (e as Error).message;
      this.events.emit({ type: 'action', action, origin, ok: false, message: msg });
      throw e;
    }
    // The log line is written by the `action` event's listener (plane.ts).
    this.events.emit({ type: 'action', action, origin, ok: true, message });
    // Either half changed (muting while idle too, which leaves `state` at idle): publish it.
    if (this.live !== before.live || this.muted !== before.muted) this.emitState();
    return { ok: true, state: this.state, message };
  }

  /** Publish the `state` event (live and muted; `state` is the two in one word) after the hook saved it. */
  emitState(): void {
    const s = { state: this.state, live: this.live, muted: this.muted };
    try {
      this.hooks.onState?.(s);
    } catch (e) {
      log.error(`saving the state failed: ${(e as Error).message}`);
    }
    this.events.emit({ type: 'state', ...s });
  }

  /** Actions run one at a time: a GPIO press and a web click never interleave half-way. */
  private queue: Promise<unknown> = Promise.resolve();

  /** One program's own mute (the box's state does not change). */
  private muteProgram(action: 'mute' | 'unmute' | 'toggle_mute', program: string): string {
    if (!this.hooks.setProgramMuted) throw new ActionError('this hark cannot mute one program alone', 'program');
    const was = this.hooks.isProgramMuted?.(program) ?? false;
    const want = action === 'toggle_mute' ? !was : action === 'mute';
    if (want === was) return want ? `${program} already muted` : `${program} not muted`;
    this.hooks.setProgramMuted(program, want);
    return want ? `${program} muted` : `${program} unmuted`;
  }

  private async apply(action: ActionName, args: ActionArgs, origin: Origin = 'api'): Promise<string> {
    switch (action) {
      case 'go_live':
        if (this.live) return 'already live';
        this.live = true;
        try {
          await this.hooks.setLive?.(true);
        } catch (e) {
          this.live = false;
          await Promise.resolve(this.hooks.setLive?.(false)).catch(() => {});
          throw new ActionError(`could not go live: ${(e as Error).message}`);
        }
        return 'live';
      case 'stop':
        if (!this.live) return 'already idle';
        this.live = false;
        await this.hooks.setLive?.(false);
        return 'stopped';
      case 'toggle_live':
        return this.apply(this.live ? 'stop' : 'go_live', args);
      case 'mute':
      case 'unmute':
      case 'toggle_mute':
        if (args.program !== undefined && args.program !== '') {
          if (typeof args.program !== 'string' || args.program.length > 64) throw new ActionError('program must be a program id (text, e.g. "es")', 'program');
          return this.muteProgram(action, args.program);
        }
        if (action === 'toggle_mute') return this.apply(this.muted ? 'unmute' : 'mute', args);
        if (action === 'mute') {
          if (this.muted) return 'already muted';
          this.muted = true;
          this.hooks.setMuted?.(true);
          return 'muted';
        }
        if (!this.muted) return 'not muted';
        this.muted = false;
        this.hooks.setMuted?.(false);
        return 'unmuted';
      case 'mark': {
        const label = (args.label ?? '').trim();
        if (label.length > 200) throw new ActionError('label: at most 200 characters', 'label');
        const at = new Date().toISOString();
        this.marks.push({ at, label });
        if (this.marks.length > 1000) this.marks.shift();
        this.events.emit({ type: 'mark', at, label });
        return `marked ${at}${label ? ` "${label}"` : ''}`;
      }
      case 'set_metadata': {
        const title = args.title;
        if (typeof title !== 'string') throw new ActionError('title: required, a string', 'title');
        if (title.length > MAX_TITLE_LENGTH) throw new ActionError(`title: at most ${MAX_TITLE_LENGTH} characters`, 'title');
        if (/[\u0000-\u001f]/.test(title)) throw new ActionError('title: no control characters', 'title');
        this.lastTitle = title;
        if (this.hooks.setMetadata) this.hooks.setMetadata(title);
        else this.events.emit({ type: 'metadata', title });
        return `title "${title}"`;
      }
      case 'record':
      case 'stop_recording':
        if (!this.hooks.setRecording) throw new ActionError('this hark cannot record');
        return this.hooks.setRecording(action === 'record', origin);
      case 'toggle_record':
        return this.apply(this.hooks.isRecording?.() ? 'stop_recording' : 'record', args, origin);
      case 'set_input': {
        const device = args.device;
        if (typeof device !== 'string') throw new ActionError('device: required, a PipeWire node.name', 'device');
        if (device.length > 256 || /[\u0000-\u001f]/.test(device)) throw new ActionError('device: not a valid node.name', 'device');
        await this.hooks.setInput?.(device);
        return `input ${device || 'default source'}`;
      }
    }
  }
}
