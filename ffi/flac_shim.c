/*
 * The write callback of libFLAC's stream encoder, in C (compiled at load time by Bun's built-in
 * TinyCC, bun:ffi `cc`), so that no JSCallback is needed: libFLAC calls it during
 * FLAC__stream_encoder_process_interleaved()/finish() on the calling thread, and it appends the
 * bytes to a sink the JS side reads after each call.
 *
 * FLAC/stream_encoder.h: FLAC__StreamEncoderWriteStatus write(const FLAC__StreamEncoder *,
 * const FLAC__byte buffer[], size_t bytes, uint32_t samples, uint32_t current_frame, void *client).
 * libFLAC writes each encoded frame with one call (samples > 0) and each metadata block with
 * one call (samples == 0), so every call is recorded as one entry: (bytes, samples).
 *
 * No #include: the device has no libFLAC -dev headers; the few libc functions are declared here.
 */

typedef unsigned long size_t;
extern void *calloc(size_t, size_t);
extern void free(void *);
extern void *memcpy(void *, const void *, size_t);

struct hark_flac_sink {
  unsigned char *buf;
  size_t cap;
  size_t len;
  unsigned *entries; /* (bytes, samples) pairs */
  unsigned max_entries;
  unsigned count;
  int overflow;
};

#define WRITE_OK 0
#define WRITE_FATAL 1

/* Returns a sink freed with hark_flac_sink_free, or 0 when out of memory. */
struct hark_flac_sink *hark_flac_sink_new(unsigned cap, unsigned max_entries) {
  struct hark_flac_sink *s = calloc(1, sizeof *s);
  if (!s) return 0;
  s->buf = calloc(cap, 1);
  s->entries = calloc((size_t)max_entries * 2, sizeof(unsigned));
  if (!s->buf || !s->entries) {
    free(s->buf);
    free(s->entries);
    free(s);
    return 0;
  }
  s->cap = cap;
  s->max_entries = max_entries;
  return s;
}

void hark_flac_sink_free(struct hark_flac_sink *s) {
  if (!s) return;
  free(s->buf);
  free(s->entries);
  free(s);
}

/* Forget what was read (the JS side copied it out). */
void hark_flac_sink_reset(struct hark_flac_sink *s) {
  s->len = 0;
  s->count = 0;
}

unsigned char *hark_flac_sink_buf(struct hark_flac_sink *s) { return s->buf; }
unsigned *hark_flac_sink_entries(struct hark_flac_sink *s) { return s->entries; }
unsigned hark_flac_sink_len(struct hark_flac_sink *s) { return (unsigned)s->len; }
unsigned hark_flac_sink_count(struct hark_flac_sink *s) { return s->count; }
int hark_flac_sink_overflow(struct hark_flac_sink *s) { return s->overflow; }

/* The FLAC__StreamEncoderWriteCallback; client is the sink. A full sink fails the encoder (never grows). */
int hark_flac_write(const void *encoder, const unsigned char *buffer, size_t bytes, unsigned samples, unsigned current_frame, void *client) {
  struct hark_flac_sink *s = client;
  (void)encoder;
  (void)current_frame;
  if (s->count >= s->max_entries || bytes > s->cap - s->len) {
    s->overflow = 1;
    return WRITE_FATAL;
  }
  memcpy(s->buf + s->len, buffer, bytes);
  s->len += bytes;
  s->entries[s->count * 2] = (unsigned)bytes;
  s->entries[s->count * 2 + 1] = samples;
  s->count++;
  return WRITE_OK;
}
