import { expect, test } from 'bun:test';
import { AutoSource } from './sources.ts';
import type { SourceSettings } from './protocol.ts';

const settings: SourceSettings = { source: 'auto', device: '', channels: 2, latencyFrames: 128, relaxedLatencyFrames: 2048, tone: { frequency: 440, levelDbfs: -12 } };

test("the default input (auto) passes on its interface's capture clock: no interface yet, none; one chosen, that one's", () => {
  const auto = new AutoSource(settings, () => {});
  expect(auto.captureNs()).toBe(0n);
  // the interface it chose (a PipewireSource in the box; its capture clock is tested in pipewire-source.daemon.test.ts)
  (auto as unknown as { inner: { captureNs(): bigint; close(): void } }).inner = { captureNs: () => 123_456_789n, close() {} };
  expect(auto.captureNs()).toBe(123_456_789n);
});
