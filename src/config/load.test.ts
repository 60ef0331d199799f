import { describe, expect, test } from 'bun:test';
import { ConfigError, defaultConfig, loadConfig, parseConfig } from './load.ts';

describe('config', () => {
  test('a missing file means defaults', () => {
    const c = loadConfig('/nonexistent/hark.toml');
    expect(c).toEqual(defaultConfig());
    expect(c.http.port).toBe(8080);
    expect(c.input).toEqual({ source: 'auto', device: '', channels: 2, latency_frames: 128, relaxed_latency_frames: 2048, gain_db: 0, url: '', buffer_ms: 120, passphrase: '', output_device: '' });
    expect(c.tone).toEqual({ frequency: 440, level_dbfs: -12, clock_ppm: 0 });
    expect(c.mp3.bitrate_kbps).toBe(128);
    expect(c.opus).toEqual({ bitrate_kbps: 96, frame_ms: 10, low_delay: false });
    expect(c.webrtc).toMatchObject({ enabled: true, max_listeners: 50, udp_port: 8189, token: '', codecs: ['opus', 'pcmu', 'pcma', 'g722'] });
  });

  test('given keys override defaults, the rest stay', () => {
    const c = parseConfig('[input]\nsource = "tone"\nchannels = 1\n[opus]\nframe_ms = 2.5\n');
    expect(c.input.source).toBe('tone');
    expect(c.input.channels).toBe(1);
    expect(c.input.latency_frames).toBe(128);
    expect(c.opus.frame_ms).toBe(2.5);
    expect(c.http.port).toBe(8080);
  });

  // Each refusal names the key path and says why.
  const bad: [string, string, string][] = [
    ['[input]\nchannels = 9', 'input.channels', 'must be between 1 and 8, got 9'],
    ['[input]\nchannels = 0', 'input.channels', 'must be between 1 and 8, got 0'],
    ['[input]\nchannels = 1.5', 'input.channels', 'must be an integer, got 1.5'],
    ['[input]\nchanels = 2', 'input.chanels', 'unknown key'],
    ['[input]\nsource = "jack"', 'input.source', 'must be one of "auto", "pipewire", "pipewire-sink", "tone", "srt", "rtp", got "jack"'],
    ['[input]\nlatency_frames = 32', 'input.latency_frames', 'must be between 64 and 1024, got 32'],
    ['[input]\nrelaxed_latency_frames = 4096', 'input.relaxed_latency_frames', 'must be between 64 and 2048, got 4096'],
    ['[input]\ndevice = 5', 'input.device', 'must be a string, got 5'],
    ['[http]\nport = "80"', 'http.port', 'must be an integer, got "80"'],
    ['[http]\nport = 70000', 'http.port', 'must be between 1 and 65535, got 70000'],
    ['[tone]\nfrequency = 5', 'tone.frequency', 'must be between 20 and 20000, got 5'],
    ['[tone]\nlevel_dbfs = 3', 'tone.level_dbfs', 'must be between -60 and 0, got 3'],
    ['[mp3]\nbitrate_kbps = 100', 'mp3.bitrate_kbps', 'must be one of 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, got 100'],
    ['[opus]\nframe_ms = 7', 'opus.frame_ms', 'must be one of 2.5, 5, 10, 20, 40, 60, got 7'],
    ['[opus]\nbitrate_kbps = 2', 'opus.bitrate_kbps', 'must be between 6 and 510, got 2'],
    ['[log]\nlevel = "loud"', 'log.level', 'must be one of "debug", "info", "warn", "error", got "loud"'],
    ['input = 3', 'input', 'must be a table, got 3'],
    ['colour = "blue"', 'colour', 'unknown key'],
  ];
  test.each(bad)('refuses %p naming %s', (text, path, reason) => {
    let err: unknown;
    try {
      parseConfig(text, 'hark.toml');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).path).toBe(path);
    expect((err as ConfigError).reason).toBe(reason);
    expect((err as ConfigError).message).toBe(`hark.toml: ${path}: ${reason}`);
  });

  test('TOML syntax errors give the line', () => {
    expect(() => parseConfig('[input\n', 'x.toml')).toThrow(/x\.toml: not valid TOML: line 1/);
  });
});
