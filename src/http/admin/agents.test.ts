import { describe, expect, test } from 'bun:test';
import { connectionQuality, describeAgent } from './agents.ts';
import { duration, fileStamp, size, span } from './local-time.ts';

describe('describeAgent', () => {
  test.each([
    ['Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36', 'Pixel phone, Chrome'],
    ['Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36', 'Android phone, Chrome'],
    ['Mozilla/5.0 (Linux; Android 13; SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36', 'Samsung phone, Samsung Internet'],
    ['Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1', 'iPhone, Safari'],
    ['Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/126.0.6478.54 Mobile/15E148 Safari/604.1', 'iPhone, Chrome'],
    ['Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15', 'Mac, Safari'],
    ['Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0', 'Windows PC, Firefox'],
    ['Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0', 'Windows PC, Edge'],
    ['Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36', 'Linux computer, Chrome'],
    ['VLC/3.0.20 LibVLC/3.0.20', 'VLC'],
    ['Lavf/60.16.100', 'FFmpeg'],
    ['mpv 0.37.0', 'mpv'],
    ['AppleCoreMedia/1.0.0.21F90 (iPhone; U; CPU OS 17_5 like Mac OS X; en_us)', 'iPhone player'],
    ['curl/8.5.0', 'curl'],
    ['', 'Unknown player'],
    ['SomeRadio/2.1 (embedded)', 'SomeRadio'],
  ])('%s → %s', (ua, want) => {
    expect(describeAgent(ua)).toBe(want);
  });
});

test('connection quality from round trip and loss', () => {
  expect(connectionQuality(null, null)).toBe('unknown');
  expect(connectionQuality(12, 0)).toBe('good');
  expect(connectionQuality(250, 0)).toBe('fair');
  expect(connectionQuality(20, 0.02)).toBe('fair');
  expect(connectionQuality(20, 0.1)).toBe('poor');
  expect(connectionQuality(600, null)).toBe('poor');
});

test('times in the box zone, lengths and sizes in words', () => {
  const tz = process.env.TZ;
  process.env.TZ = 'Europe/Berlin';
  try {
    const now = Date.parse('2026-12-02T12:00:00Z');
    expect(span(Date.parse('2026-12-02T09:30:00Z'), Date.parse('2026-12-02T10:45:00Z'), now)).toBe('Wed 2 Dec, 10:30–11:45');
    expect(span(Date.parse('2026-12-02T22:30:00Z'), Date.parse('2026-12-02T23:15:00Z'), now)).toBe('Wed 2 Dec, 23:30 – Thu 3 Dec, 00:15');
    expect(span(Date.parse('2025-12-07T09:30:00Z'), Date.parse('2025-12-07T10:00:00Z'), now)).toBe('Sun 7 Dec 2025, 10:30–11:00');
    expect(fileStamp(Date.parse('2026-12-02T09:30:00Z'))).toBe('2026-12-02 10.30');
  } finally {
    if (tz === undefined) delete process.env.TZ;
    else process.env.TZ = tz;
  }
  expect(duration(42)).toBe('42 s');
  expect(duration(12 * 60 + 5)).toBe('12 min');
  expect(duration(4500)).toBe('1 h 15 min');
  expect(size(78_230 * 1048576)).toBe('76 GB');
  expect(size(5.5 * 1073741824)).toBe('5.5 GB');
  expect(size(180 * 1048576)).toBe('180 MB');
});
