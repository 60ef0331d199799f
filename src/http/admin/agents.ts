/**
 * Who is listening, in words: a User-Agent as "Pixel phone, Chrome" or "VLC", and a WebRTC
 * connection's round-trip time and loss as "good connection". Only the common cases; anything
 * unknown reads "Unknown player" (the raw string stays in the details fold).
 */

const BROWSERS: [RegExp, string][] = [
  [/\bEdg(?:e|A|iOS)?\//, 'Edge'],
  [/\bOPR\/|\bOpera\b/, 'Opera'],
  [/\bSamsungBrowser\//, 'Samsung Internet'],
  [/\bFirefox\/|\bFxiOS\//, 'Firefox'],
  [/\bCriOS\/|\bChrome\/|\bChromium\//, 'Chrome'],
  [/\bVersion\/[\d.]+.*\bSafari\/|\bAppleWebKit\/.*\bMobile\/\w+$/, 'Safari'],
];

/** Players and tools that are not browsers (first match wins). */
const PLAYERS: [RegExp, string][] = [
  [/^VLC\/|\bLibVLC\//i, 'VLC'],
  [/\bLavf\/|\bffmpeg|\bffplay/i, 'FFmpeg'],
  [/\bmpv\b/i, 'mpv'],
  [/\bWinamp\b/i, 'Winamp'],
  [/\bfoobar2000\b/i, 'foobar2000'],
  [/\bMPlayer\b/i, 'MPlayer'],
  [/\bGStreamer\b/i, 'GStreamer'],
  [/\bmusic ?player daemon\b|\bMPD\b/i, 'MPD'],
  [/\bAppleCoreMedia\/.*\biPhone\b/, 'iPhone player'],
  [/\bAppleCoreMedia\//, 'Apple player'],
  [/\bstagefright\/|\bExoPlayer/i, 'Android player'],
  [/\bRadioDroid\b/i, 'RadioDroid'],
  [/\bSonos\b/i, 'Sonos'],
  [/\bcurl\//, 'curl'],
  [/\bWget\//, 'wget'],
  [/\bpython-requests\/|\bPython-urllib\//, 'Python script'],
  [/\bhark\b/i, 'hark'],
];

function device(ua: string): string | null {
  let m: RegExpMatchArray | null;
  if (/\biPhone\b/.test(ua)) return 'iPhone';
  if (/\biPad\b/.test(ua)) return 'iPad';
  if ((m = ua.match(/\bAndroid [\d.]+; (?:[^;)]*; )?([^;)]+?)(?: Build\/[^;)]*)?\)/))) {
    const model = m[1]!.trim();
    const tablet = !/\bMobile\b/.test(ua);
    const kind = tablet ? 'tablet' : 'phone';
    if (/^Pixel\b/i.test(model)) return `Pixel ${kind}`;
    if (/^SM-|^Galaxy|^GT-/i.test(model)) return `Samsung ${kind}`;
    if (/^(K|wv)$/.test(model)) return `Android ${kind}`;
    return `Android ${kind}`;
  }
  if (/\bAndroid\b/.test(ua)) return 'Android phone';
  if (/\bCrOS\b/.test(ua)) return 'Chromebook';
  if (/\bMacintosh\b|\bMac OS X\b/.test(ua)) return 'Mac';
  if (/\bWindows\b/.test(ua)) return 'Windows PC';
  if (/\bLinux\b/.test(ua)) return 'Linux computer';
  return null;
}

/** "Pixel phone, Chrome", "iPhone, Safari", "Windows PC, Firefox", "VLC", "Unknown player". */
export function describeAgent(ua: string): string {
  const s = (ua ?? '').trim();
  if (!s) return 'Unknown player';
  for (const [re, name] of PLAYERS) if (re.test(s)) return name;
  const dev = device(s);
  const browser = BROWSERS.find(([re]) => re.test(s))?.[1] ?? null;
  if (dev && browser) return `${dev}, ${browser}`;
  if (browser) return browser;
  if (dev) return dev;
  // "Foo/1.2 (…)": the product name is the best guess.
  const product = s.match(/^([A-Za-z][\w .-]{0,30}?)\//)?.[1];
  return product ?? 'Unknown player';
}

export type Quality = 'good' | 'fair' | 'poor' | 'unknown';

/**
 * From RTCP receiver reports: loss over 5 % or a round trip over 400 ms is audible (FEC and the
 * jitter buffer stop hiding it); over 1 % or 200 ms is the edge.
 */
export function connectionQuality(rttMs: number | null, fractionLost: number | null): Quality {
  if (rttMs === null && fractionLost === null) return 'unknown';
  const loss = fractionLost ?? 0;
  const rtt = rttMs ?? 0;
  if (loss > 0.05 || rtt > 400) return 'poor';
  if (loss > 0.01 || rtt > 200) return 'fair';
  return 'good';
}
