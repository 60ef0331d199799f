/**
 * MPEG-1 Layer III bitrates (ISO/IEC 11172-3 Table 2.4.2.3), the only ones a 48 kHz stream can
 * carry: the one list the schema, the config checks, the LAME binding and the recorder read.
 */
export const MP3_BITRATES_KBPS = [32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320] as const;
