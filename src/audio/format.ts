/** hark's one sample rate: every source delivers, and every encoder takes, 48 kHz. */
export const SAMPLE_RATE = 48_000;

/** Most channels any source may deliver (input.channels). */
export const MAX_CHANNELS = 8;
