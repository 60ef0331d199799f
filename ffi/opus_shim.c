/*
 * Fixed-signature wrappers around libopus's variadic ctl functions, compiled at load time by
 * Bun's built-in TinyCC (bun:ffi `cc`).
 *
 * Why: opus_encoder_ctl/opus_decoder_ctl are `int f(st, int request, ...)`. A variadic callee
 * may read its arguments from a different place than a fixed-signature call puts them
 * (Apple arm64 passes variadics on the stack; x86-64 SysV wants %al = vector-register count),
 * so calling them through a plain dlopen signature is ABI-dependent. Here the C compiler makes
 * a proper variadic call on every target.
 *
 * No -dev headers needed: the ctl function pointers are handed in from the dlopen table
 * (hark_opus_shim_init) rather than linked, and opus_int32 is `int` on every Linux target.
 */

typedef int (*hark_opus_ctl_fn)(void *st, int request, ...);

static hark_opus_ctl_fn encoder_ctl;
static hark_opus_ctl_fn decoder_ctl;

/* enc/dec: the addresses of opus_encoder_ctl and opus_decoder_ctl from libopus.so.0. */
void hark_opus_shim_init(void *enc, void *dec) {
  encoder_ctl = (hark_opus_ctl_fn)enc;
  decoder_ctl = (hark_opus_ctl_fn)dec;
}

/* OPUS_SET_*(opus_int32 value) */
int hark_opus_encoder_ctl_set(void *st, int request, int value) { return encoder_ctl(st, request, value); }
/* OPUS_GET_*(opus_int32 *value); value points at caller memory. */
int hark_opus_encoder_ctl_get(void *st, int request, int *value) { return encoder_ctl(st, request, value); }
/* Requests without an argument (OPUS_RESET_STATE). */
int hark_opus_encoder_ctl_none(void *st, int request) { return encoder_ctl(st, request); }

int hark_opus_decoder_ctl_set(void *st, int request, int value) { return decoder_ctl(st, request, value); }
int hark_opus_decoder_ctl_get(void *st, int request, int *value) { return decoder_ctl(st, request, value); }
int hark_opus_decoder_ctl_none(void *st, int request) { return decoder_ctl(st, request); }
