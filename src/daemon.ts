import { resetToFactory } from './system/factory-reset.ts';
import type { Server } from 'bun';
import { programSpecs, programChannels, MAIN_PROGRAM } from './config/programs.ts';
import { ProgramStreams } from './outputs/program-streams.ts';
import { ProgramWatch } from './control/program-watch.ts';
import { AudioPipeline } from './audio/pipeline.ts';
import { Devices } from './audio/devices.ts';
import { MeterState } from './audio/meter.ts';
import { sourceSettings } from './audio/source-settings.ts';
import type { Config } from './config/schema.ts';
import { snapshot } from './config/store.ts';
import { createApp } from './http/app.ts';
import { MAX_SERVER_BODY } from './http/body-deadline.ts';
import { IDLE_TIMEOUT_S } from './http/timeouts.ts';
import type { AppContext } from './control/context.ts';
import { logger, setLogLevel } from './log.ts';
import { HttpStreamOutput } from './outputs/http-stream.ts';
import { BroadcastOutputs } from './outputs/broadcast.ts';
import { createWebRtcOutput } from './outputs/webrtc/index.ts';
import { ControlPlane } from './control/plane.ts';
import { SetupCode } from './control/setup-code.ts';
import { Gpio } from './gpio/gpio.ts';
import { GpiodLineSource } from './gpio/gpiod-source.ts';
import { VERSION } from './version.ts';
import { TlsService } from './tls/service.ts';
import { Notifiers } from './notify/index.ts';
import { notifyDeps } from './notify/wiring.ts';

const log = logger('hark');

export interface HarkOptions {
  /** The config file: changes from the admin page, API and CLI are written there. */
  configPath?: string;
  /** How to restart (main.ts builds a new Hark); without it restart is refused. */
  onRestart?: () => void;
  /** Injectable clock for sessions and the login limit (tests). */
  now?: () => number;
  /** Listen here instead of http.port (--port; never written to the config file). */
  port?: number;
  /** Where the first-run setup code is shown besides the log; default $HARK_SETUP_CODE_FILE, else nowhere. */
  setupCodeFile?: string;
}

/** The running daemon: the audio pipeline, the outputs and the HTTP server. */
/** How long every LED blinks at the first start after a factory reset. */
export const FACTORY_RESET_FLASH_MS = 10_000;

export class Hark {
  readonly ctx: AppContext;
  private server?: Server<unknown>;
  private closed = false;
  private programWatch?: ProgramWatch;
  /** Buttons and LEDs; started once control exists. */
  gpio?: Gpio;
  /** The HTTP app (route tests call `hark.app.handle(request)`). */
  app?: ReturnType<typeof createApp>;

  constructor(
    initial: Config,
    private readonly opts: HarkOptions = {},
  ) {
    // Frozen: changes come as new snapshots from the store (ctx.store.config).
    const config = snapshot(initial);
    setLogLevel(config.log.level);
    const pipeline = new AudioPipeline(sourceSettings(config));
    pipeline.setPrograms(programSpecs(config));
    const mp3 = new HttpStreamOutput(pipeline, {
      spec: {
        codec: 'mp3',
        channels: programChannels(config, MAIN_PROGRAM),
        bitrateKbps: config.mp3.bitrate_kbps,
        mode: 'cbr',
      },
      contentType: 'audio/mpeg',
      maxListeners: config.stream.max_listeners,
      queueBytes: config.stream.queue_kb * 1024,
      name: 'hark',
      icy: { metaint: config.metadata.icy_metaint, title: () => this.ctx.broadcast.metadata.title },
    });
    const broadcast = new BroadcastOutputs(config, pipeline);
    const webrtc = config.webrtc.enabled ? createWebRtcOutput(config, pipeline) : undefined;
    const streams = new ProgramStreams(pipeline, mp3, () => this.ctx.broadcast.metadata.title, config);
    const parts = { config, pipeline, mp3, streams, broadcast, webrtc };
    const plane = new ControlPlane(parts, { configPath: opts.configPath, sourceSettings, onRestart: opts.onRestart, now: opts.now });
    const { events, control, store, auth } = plane;
    // Both servers hand requests to the app, built at start().
    const tls = new TlsService(() => store.config, plane.stateDir, (req) => this.app!.fetch(req));
    const setup = new SetupCode({ stateDir: plane.stateDir, file: opts.setupCodeFile ?? process.env.HARK_SETUP_CODE_FILE, now: opts.now });
    // ctx.config is the store's current snapshot (a getter, never a copy).
    // Webhook, e-mail and MQTT notifiers: fed by the alerts and the bus; their entries apply live.
    const notify = new Notifiers(notifyDeps({ ...parts, events, control, store, tls, stateDir: plane.stateDir, port: () => this.port }));
    this.ctx = { ...parts, startedAt: Date.now(), events, control, store, auth, plane, tls, setup, devices: new Devices(), meter: new MeterState(), notify, get config() { return store.config; } };
    // A certificate of the user's own, or extra names, apply at once.
    store.use(tls, notify);
  }

  /** The running config: the store's current snapshot. */
  get config(): Config {
    return this.ctx.store.config;
  }

  /** The port actually bound (useful with http.port = 0 in tests). */
  get port(): number {
    return this.server?.port ?? 0;
  }

  async start(): Promise<void> {
    log.info(`hark ${VERSION} starting (bun ${Bun.version})`);
    await this.ctx.pipeline.start();
    this.ctx.webrtc?.start();
    const app = createApp(this.ctx);
    this.app = app;
    // The boot state (control.on_boot) decides whether Icecast, WHIP and recording start.
    await this.ctx.plane.start((req) => app.handle(req));
    // After the plane took any first-boot password: a box without one shows its setup code.
    this.ctx.setup.start(this.ctx.auth.hasPassword());
    // Buttons act through control and LEDs follow its events; no GPIO is a warning, not a failure.
    const { control, events, pipeline } = this.ctx;
    this.gpio = new Gpio(this.config.gpio, {
      control,
      events,
      levels: () => pipeline.currentLevels(),
      // The LIVE button held 10 s from the start: the box resets itself and starts again as new.
      onFactoryReset: () => {
        const { removed } = resetToFactory({ configFile: this.ctx.store.path, stateDir: this.ctx.plane.stateDir });
        log.warn(`factory reset by the LIVE button: ${removed.join('; ') || 'nothing to remove'}; recordings kept; restarting`);
        if (!this.ctx.plane.requestRestart('a factory reset (the LIVE button)')) log.error('this hark cannot restart itself: restart it to finish the factory reset');
      },
    });
    this.gpio.start(() => new GpiodLineSource(this.config.gpio.chip));
    // A factory reset (the boot partition's hark-factory-reset) says so on the LEDs: 10 s of fast blinking.
    if (this.ctx.setup.factoryResetAt) this.gpio.flash(FACTORY_RESET_FLASH_MS);
    // The same server settings for plain HTTP and HTTPS (one app behind both).
    const serve = {
      hostname: this.config.http.host,
      // A finite limit for idle keep-alive connections, stalled heads and hung handlers; each
      // long-lived response (streams, SSE, ?follow) lifts it for its own request, and request
      // bodies have their own deadline (http/timeouts.ts, http/body-deadline.ts: 408).
      idleTimeout: IDLE_TIMEOUT_S,
      maxRequestBodySize: MAX_SERVER_BODY,
      // Elysia turns SO_REUSEPORT on: a second hark on the same port would then start and
      // share the connections with the first. Binding must fail instead (EADDRINUSE).
      reusePort: false,
    };
    app.listen({ ...serve, port: this.opts.port ?? this.config.http.port });
    const server = app.server;
    if (!server?.port) throw new Error('the HTTP server did not start');
    this.server = server;
    log.info(`listening on http://${this.config.http.host}:${server.port}`);
    // HTTPS for the admin pages ([tls]); a failure to serve it is reported, and hark runs on.
    await this.ctx.tls.start(serve, server.port);
    // Per program: a device with too few channels, a program gone silent (src/control/program-watch.ts).
    this.programWatch = new ProgramWatch({ config: () => this.ctx.store.config, pipeline: this.ctx.pipeline, devices: this.ctx.devices, alerts: this.ctx.broadcast.alerts });
    this.programWatch.start();
    // Why hark started goes out now that the links in it (the box's address) are known.
    this.ctx.notify.start();
  }

  /** Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    log.info('stopping');
    this.gpio?.close();
    this.programWatch?.close();
    await this.ctx.notify.close();
    await this.ctx.plane.close();
    this.ctx.mp3.close();
    this.ctx.streams.close();
    this.ctx.webrtc?.close();
    await this.ctx.broadcast.close();
    this.ctx.tls.close();
    this.ctx.devices.close();
    this.server?.stop(true);
    await this.ctx.pipeline.close();
  }
}
