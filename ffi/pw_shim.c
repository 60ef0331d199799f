/*
 * hark's PipeWire shim. Compiled at startup by bun:ffi `cc` (TinyCC) — see ffi/pipewire.ts.
 *
 * Why a shim: PipeWire calls back from its own threads (the loop thread for registry/stream
 * events, the data thread for `process`), and a bun:ffi JSCallback must never run there
 * (oven-sh/bun#33840, #28113). So every callback lives here, in C:
 *   - process() (data thread, real-time) copies each quantum into a lock-free SPSC ring and
 *     sem_post()s; it never allocates, locks or enters JavaScript.
 *   - registry / metadata / node-info events (loop thread) fill a node table that JS reads as
 *     a text snapshot under the thread-loop lock.
 *   - a loop timer reconciles the capture stream with the registry: create it when the
 *     target node appears, destroy it when the node goes (state LOST), re-create a stream
 *     that died. It runs every 100 ms while something is pending (a stream starting, dead or
 *     waiting to be retried) and once a second while capture runs steadily; registry events
 *     and a stream or sink that fails bring it forward. JS only opens/closes whole
 *     connections (backoff when PipeWire is away).
 *
 * No #include at all: the device has no PipeWire -dev headers, and we also avoid needing
 * libc6-dev. Every PipeWire/SPA struct and constant below is copied by hand from the header
 * named beside it (pipewire 0.3.65); they are ABI-stable across libpipewire-0.3 (1.x only
 * appends fields: pw_loop.name, pw_buffer.time, spa_io_clock targets). libpipewire itself is
 * dlopen()ed here and its functions resolved with dlsym() into the `PW` table (keeping C
 * symbol names), because TinyCC cannot link against libpipewire-0.3.so.0 without the
 * unversioned -dev symlink. libc symbols resolve from the Bun process (TinyCC in-memory
 * relocation uses dlsym(RTLD_DEFAULT)); Bun's TinyCC still opens `libc.so` from the library
 * path (on arm64: /usr/lib/aarch64-linux-gnu/libc.so, from libc6-dev — a symlink to
 * libc.so.6 also does; checked under qemu-aarch64 with Bun's arm64 build).
 */

/* ---- the ABI shared with TypeScript ----
 * HK_STAT_*, HK_STATS_COUNT, HK_DEV_*, HK_CONN_*, HK_MODE_*, HK_OPEN_ERR_*, HK_STATE_*,
 * HK_OPEN_*, HK_READ_* and HK_READ_INFO_LEN come from ffi/pw_abi.ts, passed as -D defines by
 * ffi/pipewire.ts (abiDefines()); nothing here repeats their values. */
#ifndef HK_ABI
#error "compile pw_shim.c through ffi/pipewire.ts: the ABI defines come from ffi/pw_abi.ts"
#endif
#if HK_STATS_COUNT > 64
#error "hk_stats tracks the slots it wrote in one 64-bit mask"
#endif

/* ---- minimal libc (glibc, LP64: x86_64 and aarch64 agree on all of these) ---- */
typedef unsigned char uint8_t;
typedef unsigned short uint16_t;
typedef unsigned int uint32_t;
typedef int int32_t;
typedef unsigned long uint64_t;
typedef long int64_t;
typedef unsigned long size_t;
#define NULL ((void *)0)
struct timespec { long tv_sec; long tv_nsec; };
/* glibc <bits/semaphore.h>: __SIZEOF_SEM_T is 32 on every 64-bit target. */
typedef union { char size[32]; long align; } sem_t;
extern int sem_init(sem_t *, int, unsigned int);
extern int sem_destroy(sem_t *);
extern int sem_post(sem_t *);
extern int sem_trywait(sem_t *);
extern int sem_clockwait(sem_t *, int clock, const struct timespec *abstime); /* glibc >= 2.30 */
extern int clock_gettime(int, struct timespec *);
extern void *dlopen(const char *, int);
extern void *dlsym(void *, const char *);
extern char *dlerror(void);
extern char *getenv(const char *);
extern void *calloc(size_t, size_t);
extern void free(void *);
extern void *memcpy(void *, const void *, size_t);
extern void *memset(void *, int, size_t);
extern size_t strlen(const char *);
extern int strcmp(const char *, const char *);
extern int strncmp(const char *, const char *, size_t);
extern char *strstr(const char *, const char *);
extern long strtol(const char *, char **, int);
extern int snprintf(char *, size_t, const char *, ...);
extern int *__errno_location(void);
#define CLOCK_MONOTONIC 1
#define RTLD_NOW 2
#define EINTR 4
#define EPIPE 32
#define ETIMEDOUT 110

/* ---- memory barrier ----
 * TinyCC has no <stdatomic.h> helpers in Bun (no libtcc1 __atomic_*), and no inline asm on
 * arm64. TinyCC never reorders memory accesses itself, so what is left is the CPU: we place
 * a two-instruction full-barrier function straight into .text. x86_64: mfence; ret.
 * aarch64: dmb ish; ret. 64-bit aligned loads/stores are single-copy atomic on both. */
#if defined(__aarch64__)
static const uint32_t hk_fence_code[] __attribute__((section(".text"), aligned(16))) = { 0xd5033bbf, 0xd65f03c0 };
#elif defined(__x86_64__)
static const uint8_t hk_fence_code[] __attribute__((section(".text"), aligned(16))) = { 0x0f, 0xae, 0xf0, 0xc3 };
#else
#error "hark pw_shim supports x86_64 and aarch64"
#endif
#define hk_fence() ((void (*)(void))(void *)hk_fence_code)()

/* ---- SPA / PipeWire ABI (hand copies) ---- */
/* spa/utils/list.h, spa/utils/hook.h */
struct spa_list { struct spa_list *next, *prev; };
struct spa_callbacks { const void *funcs; void *data; };
struct spa_interface { const char *type; uint32_t version; struct spa_callbacks cb; };
struct spa_hook { struct spa_list link; struct spa_callbacks cb; void (*removed)(struct spa_hook *); void *priv; };
/* spa/utils/dict.h */
struct spa_dict_item { const char *key; const char *value; };
struct spa_dict { uint32_t flags; uint32_t n_items; const struct spa_dict_item *items; };
/* spa/pod/pod.h */
struct spa_pod { uint32_t size; uint32_t type; };
/* spa/buffer/buffer.h */
struct spa_chunk { uint32_t offset; uint32_t size; int32_t stride; int32_t flags; };
struct spa_data { uint32_t type; uint32_t flags; int64_t fd; uint32_t mapoffset; uint32_t maxsize; void *data; struct spa_chunk *chunk; };
struct spa_buffer { uint32_t n_metas; uint32_t n_datas; void *metas; struct spa_data *datas; };
/* pipewire/stream.h (1.x appends `uint64_t time`) */
struct pw_buffer { struct spa_buffer *buffer; void *user_data; uint64_t size; uint64_t requested; };
/* spa/node/io.h: only the prefix of spa_io_clock we read; spa_io_position starts with it. */
struct spa_io_clock_prefix {
  uint32_t flags, id; char name[64]; uint64_t nsec; uint32_t rate_num, rate_denom;
  uint64_t position; uint64_t duration;
};
/* pipewire/loop.h (1.x appends `name`) */
struct pw_loop { void *system; void *loop; void *control; struct spa_interface *utils; };
/* spa/support/loop.h */
struct spa_source;
struct spa_loop_utils_methods {
  uint32_t version;
  void *add_io, *update_io, *add_idle, *enable_idle, *add_event, *signal_event;
  struct spa_source *(*add_timer)(void *object, void (*func)(void *data, uint64_t expirations), void *data);
  int (*update_timer)(void *object, struct spa_source *source, struct timespec *value, struct timespec *interval, _Bool absolute);
  void *add_signal;
  void (*destroy_source)(void *object, struct spa_source *source);
};
/* pipewire/core.h */
struct pw_core_events {
  uint32_t version;
  void (*info)(void *data, const void *info);
  void (*done)(void *data, uint32_t id, int seq);
  void (*ping)(void *data, uint32_t id, int seq);
  void (*error)(void *data, uint32_t id, int seq, int res, const char *message);
  void (*remove_id)(void *data, uint32_t id);
  void (*bound_id)(void *data, uint32_t id, uint32_t global_id);
  void (*add_mem)(void *data, uint32_t id, uint32_t type, int fd, uint32_t flags);
  void (*remove_mem)(void *data, uint32_t id);
};
struct pw_core_methods {
  uint32_t version;
  int (*add_listener)(void *object, struct spa_hook *listener, const struct pw_core_events *events, void *data);
  int (*hello)(void *object, uint32_t version);
  int (*sync)(void *object, uint32_t id, int seq);
  int (*pong)(void *object, uint32_t id, int seq);
  int (*error)(void *object, uint32_t id, int seq, int res, const char *message);
  void *(*get_registry)(void *object, uint32_t version, size_t user_data_size);
  void *(*create_object)(void *object, const char *factory_name, const char *type, uint32_t version,
                         const struct spa_dict *props, size_t user_data_size);
  int (*destroy)(void *object, void *proxy);
};
struct pw_registry_events {
  uint32_t version;
  void (*global)(void *data, uint32_t id, uint32_t permissions, const char *type, uint32_t version, const struct spa_dict *props);
  void (*global_remove)(void *data, uint32_t id);
};
struct pw_registry_methods {
  uint32_t version;
  int (*add_listener)(void *object, struct spa_hook *listener, const struct pw_registry_events *events, void *data);
  void *(*bind)(void *object, uint32_t id, const char *type, uint32_t version, size_t user_data_size);
  int (*destroy)(void *object, uint32_t id);
};
/* pipewire/proxy.h */
struct pw_proxy_events {
  uint32_t version;
  void (*destroy)(void *data);
  void (*bound)(void *data, uint32_t global_id);
  void (*removed)(void *data);
  void (*done)(void *data, int seq);
  void (*error)(void *data, int seq, int res, const char *message);
};
/* pipewire/node.h */
struct pw_node_info {
  uint32_t id, max_input_ports, max_output_ports; uint64_t change_mask;
  uint32_t n_input_ports, n_output_ports; int state; const char *error;
  struct spa_dict *props; void *params; uint32_t n_params;
};
struct pw_node_events {
  uint32_t version;
  void (*info)(void *data, const struct pw_node_info *info);
  void (*param)(void *data, int seq, uint32_t id, uint32_t index, uint32_t next, const struct spa_pod *param);
};
struct pw_node_methods {
  uint32_t version;
  int (*add_listener)(void *object, struct spa_hook *listener, const struct pw_node_events *events, void *data);
};
/* pipewire/extensions/metadata.h */
struct pw_metadata_events {
  uint32_t version;
  int (*property)(void *data, uint32_t subject, const char *key, const char *type, const char *value);
};
struct pw_metadata_methods {
  uint32_t version;
  int (*add_listener)(void *object, struct spa_hook *listener, const struct pw_metadata_events *events, void *data);
};
/* pipewire/stream.h */
struct pw_stream_events {
  uint32_t version;
  void (*destroy)(void *data);
  void (*state_changed)(void *data, int old, int state, const char *error);
  void (*control_info)(void *data, uint32_t id, const void *control);
  void (*io_changed)(void *data, uint32_t id, void *area, uint32_t size);
  void (*param_changed)(void *data, uint32_t id, const struct spa_pod *param);
  void (*add_buffer)(void *data, struct pw_buffer *buffer);
  void (*remove_buffer)(void *data, struct pw_buffer *buffer);
  void (*process)(void *data);
  void (*drained)(void *data);
};
#define PW_STREAM_STATE_ERROR (-1)
#define PW_STREAM_STATE_UNCONNECTED 0
#define PW_STREAM_STATE_STREAMING 3
#define PW_STREAM_FLAG_AUTOCONNECT (1 << 0)
#define PW_STREAM_FLAG_MAP_BUFFERS (1 << 2)
#define PW_STREAM_FLAG_RT_PROCESS (1 << 4)
#define PW_STREAM_FLAG_DONT_RECONNECT (1 << 7)
#define PW_DIRECTION_INPUT 0 /* SPA_DIRECTION_INPUT */
#define PW_DIRECTION_OUTPUT 1 /* SPA_DIRECTION_OUTPUT */
#define PW_ID_CORE 0
#define PW_ID_ANY 0xffffffffu
#define PW_VERSION_REGISTRY 3
#define PW_VERSION_NODE 3
#define PW_VERSION_METADATA 3
#define PW_TYPE_INTERFACE_Node "PipeWire:Interface:Node"
#define PW_TYPE_INTERFACE_Metadata "PipeWire:Interface:Metadata"
/* spa/utils/type.h, spa/param/param.h, spa/param/format.h, spa/param/audio/raw.h, spa/node/io.h */
#define SPA_TYPE_Id 3
#define SPA_TYPE_Int 4
#define SPA_TYPE_Array 13
#define SPA_TYPE_Object 15
#define SPA_TYPE_Choice 19
#define SPA_TYPE_OBJECT_Format 0x40003
#define SPA_PARAM_EnumFormat 3
#define SPA_PARAM_Format 4
#define SPA_FORMAT_mediaType 1
#define SPA_FORMAT_mediaSubtype 2
#define SPA_FORMAT_AUDIO_format 0x10001
#define SPA_FORMAT_AUDIO_rate 0x10003
#define SPA_FORMAT_AUDIO_channels 0x10004
#define SPA_FORMAT_AUDIO_position 0x10005
#define SPA_MEDIA_TYPE_audio 1
#define SPA_MEDIA_SUBTYPE_raw 1
#define SPA_AUDIO_FORMAT_F32_LE 0x11b /* == SPA_AUDIO_FORMAT_F32 on little-endian */
#define SPA_AUDIO_CHANNEL_AUX0 0x1000
#define SPA_IO_Position 7

/* ---- the libpipewire dlopen table (C names kept) ---- */
static struct {
  void *lib;
  void (*pw_init)(int *argc, char ***argv);
  const char *(*pw_get_library_version)(void);
  void *(*pw_thread_loop_new)(const char *name, const struct spa_dict *props);
  struct pw_loop *(*pw_thread_loop_get_loop)(void *tl);
  int (*pw_thread_loop_start)(void *tl);
  void (*pw_thread_loop_stop)(void *tl);
  void (*pw_thread_loop_destroy)(void *tl);
  void (*pw_thread_loop_lock)(void *tl);
  void (*pw_thread_loop_unlock)(void *tl);
  void *(*pw_context_new)(struct pw_loop *loop, void *props, size_t user_data_size);
  void (*pw_context_destroy)(void *ctx);
  void *(*pw_context_connect)(void *ctx, void *props, size_t user_data_size);
  int (*pw_core_disconnect)(void *core);
  void *(*pw_properties_new_dict)(const struct spa_dict *dict);
  void (*pw_proxy_add_listener)(void *proxy, struct spa_hook *listener, const struct pw_proxy_events *events, void *data);
  void (*pw_proxy_destroy)(void *proxy);
  void *(*pw_stream_new)(void *core, const char *name, void *props);
  void (*pw_stream_destroy)(void *stream);
  void (*pw_stream_add_listener)(void *stream, struct spa_hook *listener, const struct pw_stream_events *events, void *data);
  int (*pw_stream_connect)(void *stream, int direction, uint32_t target_id, int flags, const struct spa_pod **params, uint32_t n_params);
  uint32_t (*pw_stream_get_node_id)(void *stream);
  struct pw_buffer *(*pw_stream_dequeue_buffer)(void *stream);
  int (*pw_stream_queue_buffer)(void *stream, struct pw_buffer *buffer);
  int (*pw_stream_update_properties)(void *stream, const struct spa_dict *dict);
} PW;

static int pw_loaded = 0;
static char load_error[512];

#define LOAD(sym) \
  if (!(*(void **)&PW.sym = dlsym(PW.lib, #sym))) { snprintf(load_error, sizeof load_error, "libpipewire-0.3.so.0 lacks %s", #sym); return -1; }

static int load_syms(void) {
  LOAD(pw_init) LOAD(pw_get_library_version) LOAD(pw_thread_loop_new) LOAD(pw_thread_loop_get_loop)
  LOAD(pw_thread_loop_start) LOAD(pw_thread_loop_stop) LOAD(pw_thread_loop_destroy)
  LOAD(pw_thread_loop_lock) LOAD(pw_thread_loop_unlock) LOAD(pw_context_new) LOAD(pw_context_destroy)
  LOAD(pw_context_connect) LOAD(pw_core_disconnect) LOAD(pw_properties_new_dict)
  LOAD(pw_proxy_add_listener) LOAD(pw_proxy_destroy) LOAD(pw_stream_new) LOAD(pw_stream_destroy)
  LOAD(pw_stream_add_listener) LOAD(pw_stream_connect) LOAD(pw_stream_get_node_id)
  LOAD(pw_stream_dequeue_buffer) LOAD(pw_stream_queue_buffer) LOAD(pw_stream_update_properties)
  return 0;
}

/**
 * Load libpipewire (`soname`, normally "libpipewire-0.3.so.0") and pw_init() once. Returns 0,
 * or -1 with the reason in err; a failure is not sticky, so a later call may succeed.
 */
int hk_load(const char *soname, char *err, int errlen) {
  if (pw_loaded) return 0;
  PW.lib = dlopen(soname, RTLD_NOW);
  if (!PW.lib) {
    const char *e = dlerror();
    snprintf(load_error, sizeof load_error, "%s", e ? e : "dlopen failed");
  } else if (load_syms() == 0) {
    PW.pw_init(NULL, NULL);
    pw_loaded = 1;
    return 0;
  }
  if (err && errlen > 0) snprintf(err, errlen, "%s", load_error);
  return -1;
}

/** libpipewire's runtime version string (static; do not free). NULL before hk_load. */
const char *hk_version(void) { return pw_loaded ? PW.pw_get_library_version() : NULL; }

static uint64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ul + (uint64_t)ts.tv_nsec;
}

/** CLOCK_MONOTONIC in ns — the clock of every quantum timestamp. */
uint64_t hk_now_ns(void) { return mono_ns(); }

static void hook_remove(struct spa_hook *h) {
  /* spa_hook_remove() from spa/utils/hook.h; a zeroed hook was never added. */
  if (h->link.prev) {
    h->link.prev->next = h->link.next;
    h->link.next->prev = h->link.prev;
  }
  if (h->removed) h->removed(h);
  memset(h, 0, sizeof *h);
}

static const char *dict_get(const struct spa_dict *d, const char *key) {
  uint32_t i;
  if (!d) return NULL;
  for (i = 0; i < d->n_items; i++)
    if (d->items[i].key && strcmp(d->items[i].key, key) == 0) return d->items[i].value;
  return NULL;
}

/* Copy a string, turning separators and control characters into spaces (for the snapshot). */
static void copy_clean(char *dst, size_t cap, const char *src) {
  size_t i = 0;
  if (src)
    for (; src[i] && i + 1 < cap; i++) dst[i] = ((unsigned char)src[i] < 0x20) ? ' ' : src[i];
  dst[i] = 0;
}

/* ---- channel positions ---- */
static const char *const POS_NAMES[] = {
  "UNKNOWN", "NA", "MONO", "FL", "FR", "FC", "LFE", "SL", "SR", "FLC", "FRC", "RC", "RL", "RR",
  "TC", "TFL", "TFC", "TFR", "TRL", "TRC", "TRR", "RLC", "RRC", "FLW", "FRW", "LFE2", "FLH", "FCH",
  "FRH", "TFLC", "TFRC", "TSL", "TSR", "LLFE", "RLFE", "BC", "BLC", "BRC",
};
#define N_POS_NAMES (sizeof POS_NAMES / sizeof POS_NAMES[0])

/* ALSA's default layouts, the same ones test/lib/pipewire.ts gives its sinks. */
static const uint32_t DEFAULT_POS[9][8] = {
  { 0 },
  { 2 },                            /* MONO */
  { 3, 4 },                         /* FL FR */
  { 3, 4, 6 },                      /* FL FR LFE */
  { 3, 4, 12, 13 },                 /* FL FR RL RR */
  { 3, 4, 12, 13, 5 },              /* FL FR RL RR FC */
  { 3, 4, 12, 13, 5, 6 },           /* FL FR RL RR FC LFE */
  { 3, 4, 12, 13, 5, 6, 11 },       /* FL FR RL RR FC LFE RC */
  { 3, 4, 12, 13, 5, 6, 7, 8 },     /* FL FR RL RR FC LFE SL SR */
};

/* Parse "[ FL FR ]" / "FL,FR" into ids; returns the count (max 64). */
static int parse_positions(const char *s, uint32_t *out, int max) {
  int n = 0;
  char tok[16];
  while (s && *s && n < max) {
    int k = 0;
    uint32_t id = 0, i;
    while (*s == ' ' || *s == ',' || *s == '[' || *s == ']' || *s == '"') s++;
    while (*s && *s != ' ' && *s != ',' && *s != ']' && *s != '"' && k < 15) tok[k++] = *s++;
    tok[k] = 0;
    if (!k) break;
    if (strncmp(tok, "AUX", 3) == 0) id = SPA_AUDIO_CHANNEL_AUX0 + (uint32_t)strtol(tok + 3, NULL, 10);
    else
      for (i = 0; i < N_POS_NAMES; i++)
        if (strcmp(tok, POS_NAMES[i]) == 0) { id = i; break; }
    out[n++] = id;
  }
  return n;
}

/* ---- state ---- */
#define MAX_NODES 64
#define QREC 2048 /* quantum records; >= ring frames / smallest quantum (32) */

/* mode, dev_state and conn_state take the HK_MODE_*, HK_DEV_* and HK_CONN_* of ffi/pw_abi.ts. */

struct node {
  int used;
  uint32_t id;
  int channels, rate;
  char name[256], desc[256], cls[32], pos[160];
  void *proxy;            /* bound pw_node proxy; owned here, pw_proxy_destroy on remove/close */
  struct spa_hook listener;
  struct hk *h;
};

struct qrec { uint64_t pos; uint64_t ns; };

struct hk {
  /* -- consumer/producer shared (64-bit aligned, single-copy atomic) -- */
  volatile uint64_t wpos;      /* frames written (producer: data thread) */
  volatile uint64_t want;      /* frames the reader waits for (hk_wait) */
  volatile uint64_t rpos;      /* frames read (consumer: JS worker) */
  volatile uint64_t qw;        /* quantum records written */
  uint64_t qr;                 /* consumer cursor into qrec */
  volatile uint64_t callbacks, frames, overruns, dropped, xruns, quantum, graph_rate, last_ns, per_cb;
  volatile uint64_t qchanges, qchange_xruns; /* quantum changes seen, and xruns in those cycles */
  volatile uint64_t xrun_frames; /* the driver's clock frames those xruns skipped */
  volatile int32_t *urgent;    /* shared flag (JS SharedArrayBuffer, lives as long as the process): non-zero ends hk_wait early */
  volatile uint64_t last_pos, last_dur;
  volatile uint32_t last_clock;
  volatile int flowing;        /* set by the data thread on a new stream's first quantum */
  volatile int ever_fed;       /* playback: data has been played (underruns count from then) */
  volatile struct spa_io_clock_prefix *position;
  float *ring;                 /* ring_frames * channels floats; calloc'd in hk_open, freed in hk_close */
  uint32_t ring_frames, mask;
  struct qrec q[QREC];
  sem_t sem;

  /* -- loop-thread state (JS reads under the thread-loop lock) -- */
  int mode, channels, latency;
  char target[256];
  char remote[512];
  void *tloop;                 /* pw_thread_loop; ours */
  struct pw_loop *loop;        /* borrowed from tloop */
  void *context;               /* ours: pw_context_destroy */
  void *core;                  /* ours: pw_core_disconnect */
  struct spa_hook core_listener;
  void *registry;              /* proxy; ours: pw_proxy_destroy */
  struct spa_hook registry_listener;
  void *metadata;              /* bound "default" metadata proxy; ours */
  struct spa_hook metadata_listener;
  uint32_t metadata_id;
  void *stream;                /* pw_stream; ours: pw_stream_destroy */
  struct spa_hook stream_listener;
  void *sink;                  /* pipewire-sink mode: the "hark" null-sink proxy; ours */
  struct spa_hook sink_listener;
  struct spa_source *timer;    /* loop timer; destroy_source on close */
  uint64_t timer_ns;           /* its current period (0: not armed yet) */
  volatile uint32_t reconciles; /* times the timer fired */
  volatile int sink_dead, stream_dead;
  volatile int dev_state, conn_state, initial_done, ever_ran, stream_is_monitor;
  volatile uint32_t reg_version;
  volatile uint32_t neg_rate, neg_channels, stream_node_id, target_id, streams_created;
  int sync_seq, sync_round;
  uint64_t retry_at, retry_delay;
  char default_source[256], default_sink[256];
  char last_error[256];
  struct node nodes[MAX_NODES];
  uint32_t podbuf[64];
};

static void set_error(struct hk *h, const char *a, const char *b) {
  snprintf(h->last_error, sizeof h->last_error, "%s%s%s", a, b ? ": " : "", b ? b : "");
}

/* spa_interface method call helpers (the inline macros of the PipeWire headers). */
#define IFACE(obj) ((struct spa_interface *)(obj))
#define CORE_M(h) ((const struct pw_core_methods *)IFACE((h)->core)->cb.funcs)
#define CORE_D(h) (IFACE((h)->core)->cb.data)

static void bump(struct hk *h) { h->reg_version = h->reg_version + 1; }

static struct node *find_node_name(struct hk *h, const char *name) {
  int i;
  for (i = 0; i < MAX_NODES; i++)
    if (h->nodes[i].used && strcmp(h->nodes[i].name, name) == 0) return &h->nodes[i];
  return NULL;
}

static struct node *find_node_id(struct hk *h, uint32_t id) {
  int i;
  for (i = 0; i < MAX_NODES; i++)
    if (h->nodes[i].used && h->nodes[i].id == id) return &h->nodes[i];
  return NULL;
}

static void node_apply_props(struct node *n, const struct spa_dict *props) {
  const char *v;
  uint32_t tmp[64];
  if ((v = dict_get(props, "node.description")) || (v = dict_get(props, "node.nick"))) copy_clean(n->desc, sizeof n->desc, v);
  if ((v = dict_get(props, "audio.position"))) {
    copy_clean(n->pos, sizeof n->pos, v);
    n->channels = parse_positions(v, tmp, 64);
  }
  if ((v = dict_get(props, "audio.channels"))) n->channels = (int)strtol(v, NULL, 10);
  if ((v = dict_get(props, "audio.rate"))) n->rate = (int)strtol(v, NULL, 10);
}

/* ---- the capture stream ---- */
static void reconcile(struct hk *h);
static void arm_timer(struct hk *h, uint64_t ns);
/* The reconcile timer's periods: while something is pending, and while capture is steady. */
#define RECONCILE_FAST_NS 100000000ul
#define RECONCILE_STEADY_NS 1000000000ul
/* A failure seen in a callback (where nothing may be destroyed) is reconciled this soon. */
#define RECONCILE_SOON_NS 1000000ul

static void on_stream_state(void *data, int old, int state, const char *error) {
  struct hk *h = data;
  (void)old;
  if (state == PW_STREAM_STATE_ERROR || state == PW_STREAM_STATE_UNCONNECTED) {
    /* Never destroy a stream inside its own callback: the timer does it. */
    h->stream_dead = 1;
    if (error) set_error(h, "stream", error);
    arm_timer(h, RECONCILE_SOON_NS);
  }
  if (state == PW_STREAM_STATE_STREAMING && h->stream) h->stream_node_id = PW.pw_stream_get_node_id(h->stream);
}

/* Read an Int (or the default of a Choice of Int) pod value. */
static int pod_int(const struct spa_pod *p, int *out) {
  if (p->type == SPA_TYPE_Int && p->size >= 4) { *out = *(const int32_t *)(p + 1); return 1; }
  if (p->type == SPA_TYPE_Choice && p->size >= 16) {
    const uint32_t *b = (const uint32_t *)(p + 1); /* type, flags, child.size, child.type, values… */
    if (b[3] == SPA_TYPE_Int) { *out = (int32_t)b[4]; return 1; }
  }
  return 0;
}

static void on_stream_param(void *data, uint32_t id, const struct spa_pod *param) {
  struct hk *h = data;
  const uint8_t *p, *end;
  if (id != SPA_PARAM_Format || !param || param->type != SPA_TYPE_Object) return;
  p = (const uint8_t *)param + 16; /* pod header + object body header (type, id) */
  end = (const uint8_t *)param + 8 + param->size;
  while (p + 16 <= end) {
    uint32_t key = ((const uint32_t *)p)[0];
    const struct spa_pod *v = (const struct spa_pod *)(p + 8);
    int x;
    if (key == SPA_FORMAT_AUDIO_rate && pod_int(v, &x)) h->neg_rate = x;
    if (key == SPA_FORMAT_AUDIO_channels && pod_int(v, &x)) h->neg_channels = x;
    p += 16 + ((v->size + 7) & ~7u);
  }
}

static void on_stream_io(void *data, uint32_t id, void *area, uint32_t size) {
  struct hk *h = data;
  (void)size;
  if (id == SPA_IO_Position) h->position = area;
}

/* Data thread, real time: no allocation, no locks, no syscalls but sem_post. */
static void on_process(void *data) {
  struct hk *h = data;
  void *s = h->stream;
  struct pw_buffer *b;
  uint64_t now = mono_ns();
  uint32_t stride = (uint32_t)h->channels * 4;
  volatile struct spa_io_clock_prefix *pos = h->position;
  h->callbacks = h->callbacks + 1;
  if (pos) {
    uint64_t p = pos->position, d = pos->duration;
    uint32_t clk = pos->id;
    /* A forward jump of the same driver's clock is a cycle we never saw: an xrun. (A new
     * driver — the graph re-formed around a re-linked stream — restarts the count.) */
    if (h->last_dur && clk == h->last_clock && p > h->last_pos + h->last_dur) {
      h->xruns = h->xruns + 1;
      h->xrun_frames = h->xrun_frames + (p - (h->last_pos + h->last_dur));
      if (d != h->last_dur) h->qchange_xruns = h->qchange_xruns + 1;
    }
    /* The graph re-timed (node.latency changed here or elsewhere): counted, so a test can see
     * that a change of quantum itself loses nothing. */
    if (h->last_dur && clk == h->last_clock && d != h->last_dur) h->qchanges = h->qchanges + 1;
    h->last_clock = clk;
    h->last_pos = p;
    h->last_dur = d;
    h->quantum = d;
    h->graph_rate = pos->rate_denom;
  }
  if (h->mode == HK_MODE_PLAYBACK) {
    /* Playback: the ring's producer is JS (hk_write), we consume. What is missing is played as
     * silence and counted (overruns: cycles short of data once playing, dropped: frames). */
    while (s && (b = PW.pw_stream_dequeue_buffer(s)) != NULL) {
      struct spa_data *d = &b->buffer->datas[0];
      if (b->buffer->n_datas > 0 && d->data && d->chunk) {
        uint32_t n = d->maxsize / stride, have, take, at, first;
        uint64_t w = h->wpos, r = h->rpos;
        float *dst = (float *)d->data;
        /* What the graph asks for this cycle (pw_buffer.requested, 0.3.49+), else one quantum:
         * never the whole buffer, which would queue its silence ahead of the next audio. */
        if (b->requested && b->requested < n) n = (uint32_t)b->requested;
        else if (!b->requested && pos && pos->duration && pos->duration < n) n = (uint32_t)pos->duration;
        hk_fence(); /* the producer's data before its wpos */
        have = (uint32_t)(w - r);
        take = have < n ? have : n;
        if (take) {
          at = (uint32_t)r & h->mask;
          first = h->ring_frames - at < take ? h->ring_frames - at : take;
          memcpy(dst, h->ring + (size_t)at * h->channels, (size_t)first * stride);
          if (first < take) memcpy(dst + (size_t)first * h->channels, h->ring, (size_t)(take - first) * stride);
        }
        if (take < n) {
          memset(dst + (size_t)take * h->channels, 0, (size_t)(n - take) * stride);
          if (h->ever_fed) { h->overruns = h->overruns + 1; h->dropped = h->dropped + (n - take); }
        }
        if (take) h->ever_fed = 1;
        d->chunk->offset = 0;
        d->chunk->size = n * stride;
        d->chunk->stride = (int32_t)stride;
        h->frames = h->frames + n;
        h->per_cb = n;
        if (!h->position) h->quantum = n;
        hk_fence(); /* done reading before the producer may reuse the space */
        h->rpos = r + take;
        h->last_ns = now;
        h->flowing = 1;
      }
      PW.pw_stream_queue_buffer(s, b);
    }
    return;
  }
  while (s && (b = PW.pw_stream_dequeue_buffer(s)) != NULL) {
    struct spa_data *d = &b->buffer->datas[0];
    if (b->buffer->n_datas > 0 && d->data && d->chunk) {
      uint32_t off = d->chunk->offset < d->maxsize ? d->chunk->offset : d->maxsize;
      uint32_t size = d->chunk->size < d->maxsize - off ? d->chunk->size : d->maxsize - off;
      uint32_t n = size / stride;
      uint64_t w = h->wpos, r = h->rpos;
      hk_fence(); /* the consumer's reads of this space are done before we overwrite it */
      h->frames = h->frames + n;
      h->per_cb = n;
      if (!h->position) h->quantum = n;
      if (n > h->ring_frames - (uint32_t)(w - r)) {
        h->overruns = h->overruns + 1;
        h->dropped = h->dropped + n;
      } else if (n) {
        const float *src = (const float *)((const uint8_t *)d->data + off);
        uint32_t at = (uint32_t)w & h->mask;
        uint32_t first = h->ring_frames - at < n ? h->ring_frames - at : n;
        uint64_t qi = h->qw;
        memcpy(h->ring + (size_t)at * h->channels, src, (size_t)first * stride);
        if (first < n) memcpy(h->ring, src + (size_t)first * h->channels, (size_t)(n - first) * stride);
        h->q[qi & (QREC - 1)].pos = w;
        h->q[qi & (QREC - 1)].ns = now;
        hk_fence(); /* data and record before the counters */
        h->qw = qi + 1;
        hk_fence(); /* qw before wpos: a reader that sees wpos sees its record */
        h->wpos = w + n;
        h->last_ns = now;
        h->flowing = 1;
      }
    }
    PW.pw_stream_queue_buffer(s, b);
  }
  /* Wake the reader only once it has what it asked for (hk_wait's min_frames): one JS wake
   * per several quanta instead of per quantum. The fence pairs with the one in hk_wait:
   * either we see its new `want`, or it sees our new wpos (no lost wake-up). */
  hk_fence();
  if (h->wpos - h->rpos >= h->want || (h->urgent && *h->urgent)) sem_post(&h->sem);
}

static const struct pw_stream_events STREAM_EVENTS = {
  0, NULL, on_stream_state, NULL, on_stream_io, on_stream_param, NULL, NULL, on_process, NULL,
};

/* Build the EnumFormat pod: Object(Format, EnumFormat){ mediaType=audio, mediaSubtype=raw,
 * format=F32LE, rate=48000, channels=N, position=Array<Id>[…] } (spa/pod/pod.h layout). */
static const struct spa_pod *build_format(struct hk *h, const uint32_t *pos) {
  uint32_t *w = h->podbuf, i = 2, k, n = (uint32_t)h->channels;
#define PROP_ID(key, val) w[i++] = key, w[i++] = 0, w[i++] = 4, w[i++] = SPA_TYPE_Id, w[i++] = val, w[i++] = 0
#define PROP_INT(key, val) w[i++] = key, w[i++] = 0, w[i++] = 4, w[i++] = SPA_TYPE_Int, w[i++] = val, w[i++] = 0
  w[i++] = SPA_TYPE_OBJECT_Format;
  w[i++] = SPA_PARAM_EnumFormat;
  PROP_ID(SPA_FORMAT_mediaType, SPA_MEDIA_TYPE_audio);
  PROP_ID(SPA_FORMAT_mediaSubtype, SPA_MEDIA_SUBTYPE_raw);
  PROP_ID(SPA_FORMAT_AUDIO_format, SPA_AUDIO_FORMAT_F32_LE);
  PROP_INT(SPA_FORMAT_AUDIO_rate, 48000);
  PROP_INT(SPA_FORMAT_AUDIO_channels, n);
  w[i++] = SPA_FORMAT_AUDIO_position;
  w[i++] = 0;
  w[i++] = 8 + 4 * n;         /* array pod size: child header + values */
  w[i++] = SPA_TYPE_Array;
  w[i++] = 4;                 /* child: Id */
  w[i++] = SPA_TYPE_Id;
  for (k = 0; k < n; k++) w[i++] = pos[k];
  if (n & 1) w[i++] = 0;      /* pad to 8 bytes */
  w[0] = (i - 2) * 4;
  w[1] = SPA_TYPE_Object;
#undef PROP_ID
#undef PROP_INT
  return (const struct spa_pod *)w;
}

static void destroy_stream(struct hk *h) {
  if (!h->stream) return;
  /* pw_stream_destroy disconnects (synchronously leaving the data loop) and cleans its hooks. */
  PW.pw_stream_destroy(h->stream);
  h->stream = NULL;
  memset(&h->stream_listener, 0, sizeof h->stream_listener);
  h->position = NULL;
  h->stream_dead = 0;
  h->stream_node_id = 0;
  h->last_dur = 0;
}

static void create_stream(struct hk *h, struct node *t) {
  struct spa_dict_item it[16];
  struct spa_dict d;
  char lat[32];
  uint32_t pos[64];
  const struct spa_pod *params[1];
  int n = 0, flags = PW_STREAM_FLAG_AUTOCONNECT | PW_STREAM_FLAG_MAP_BUFFERS | PW_STREAM_FLAG_RT_PROCESS;
  int play = h->mode == HK_MODE_PLAYBACK;
  int monitor = !play && t && strcmp(t->cls, "Audio/Sink") == 0;
  void *props;
  snprintf(lat, sizeof lat, "%d/48000", h->latency);
  it[n].key = "media.type", it[n++].value = "Audio";
  it[n].key = "media.category", it[n++].value = play ? "Playback" : "Capture";
  it[n].key = "media.role", it[n++].value = "Production";
  it[n].key = "application.name", it[n++].value = "hark";
  it[n].key = "node.name", it[n++].value = play ? "hark-playback" : "hark-capture";
  it[n].key = "node.description", it[n++].value = play ? "hark playback" : "hark capture";
  it[n].key = "node.latency", it[n++].value = lat;
  it[n].key = "node.rate", it[n++].value = "1/48000";
  if (t) {
    it[n].key = "target.object", it[n++].value = t->name; /* PW_KEY_TARGET_OBJECT (0.3.65 and 1.x) */
    /* never let the session manager quietly move us to another device */
    it[n].key = "node.dont-reconnect", it[n++].value = "true";
    flags |= PW_STREAM_FLAG_DONT_RECONNECT;
    if (monitor) it[n].key = "stream.capture.sink", it[n++].value = "true";
  }
  d.flags = 0, d.n_items = n, d.items = it;
  props = PW.pw_properties_new_dict(&d);          /* ownership passes to pw_stream_new */
  h->stream = PW.pw_stream_new(h->core, play ? "hark playback" : "hark capture", props);
  if (!h->stream) { set_error(h, "pw_stream_new failed", NULL); h->stream_dead = 0; return; }
  h->streams_created = h->streams_created + 1;
  h->flowing = 0;
  h->stream_is_monitor = monitor;
  h->target_id = t ? t->id : 0;
  memset(&h->stream_listener, 0, sizeof h->stream_listener);
  PW.pw_stream_add_listener(h->stream, &h->stream_listener, &STREAM_EVENTS, h);
  /* Match the device's own positions when the counts agree, so no channel mixing happens. */
  if (!(t && t->pos[0] && parse_positions(t->pos, pos, 64) == h->channels)) memcpy(pos, DEFAULT_POS[h->channels], sizeof DEFAULT_POS[0]);
  params[0] = build_format(h, pos);
  if (PW.pw_stream_connect(h->stream, play ? PW_DIRECTION_OUTPUT : PW_DIRECTION_INPUT, PW_ID_ANY, flags, params, 1) < 0) {
    set_error(h, "pw_stream_connect failed", NULL);
    h->stream_dead = 1;
  }
}

/* ---- hark's own sink (pipewire-sink mode) ---- */
static void on_sink_removed(void *data) {
  ((struct hk *)data)->sink_dead = 1;
  arm_timer(data, RECONCILE_SOON_NS);
}
static void on_sink_error(void *data, int seq, int res, const char *msg) {
  struct hk *h = data;
  (void)seq, (void)res;
  h->sink_dead = 1;
  set_error(h, "sink", msg);
  arm_timer(h, RECONCILE_SOON_NS);
}
static const struct pw_proxy_events SINK_EVENTS = { 0, NULL, NULL, on_sink_removed, NULL, on_sink_error };

static void destroy_sink(struct hk *h) {
  if (!h->sink) return;
  hook_remove(&h->sink_listener);
  PW.pw_proxy_destroy(h->sink);
  h->sink = NULL;
  h->sink_dead = 0;
}

static void create_sink(struct hk *h) {
  struct spa_dict_item it[10];
  struct spa_dict d;
  char chans[8], posbuf[64];
  int n = 0, k;
  size_t o = 0;
  snprintf(chans, sizeof chans, "%d", h->channels);
  o += snprintf(posbuf + o, sizeof posbuf - o, "[");
  for (k = 0; k < h->channels; k++) o += snprintf(posbuf + o, sizeof posbuf - o, " %s", POS_NAMES[DEFAULT_POS[h->channels][k]]);
  snprintf(posbuf + o, sizeof posbuf - o, " ]");
  it[n].key = "factory.name", it[n++].value = "support.null-audio-sink";
  it[n].key = "node.name", it[n++].value = h->target;
  it[n].key = "node.description", it[n++].value = "hark";
  it[n].key = "media.class", it[n++].value = "Audio/Sink";
  it[n].key = "audio.channels", it[n++].value = chans;
  it[n].key = "audio.position", it[n++].value = posbuf;
  it[n].key = "audio.rate", it[n++].value = "48000";
  it[n].key = "object.linger", it[n++].value = "false"; /* goes away with our connection */
  d.flags = 0, d.n_items = n, d.items = it;
  h->sink = CORE_M(h)->create_object(CORE_D(h), "adapter", PW_TYPE_INTERFACE_Node, PW_VERSION_NODE, &d, 0);
  if (!h->sink) { set_error(h, "create_object(adapter) failed", NULL); return; }
  memset(&h->sink_listener, 0, sizeof h->sink_listener);
  PW.pw_proxy_add_listener(h->sink, &h->sink_listener, &SINK_EVENTS, h);
}

/* ---- reconcile (loop thread) ---- */

/* (Re-)arm the reconcile timer to fire in `ns` and then every `ns`; a no-op if it already runs
 * at that period (no syscall per tick). Loop thread only. */
static void arm_timer(struct hk *h, uint64_t ns) {
  struct timespec v;
  if (!h->timer || ns == h->timer_ns) return;
  h->timer_ns = ns;
  v.tv_sec = (long)(ns / 1000000000ul), v.tv_nsec = (long)(ns % 1000000000ul);
  ((const struct spa_loop_utils_methods *)h->loop->utils->cb.funcs)->update_timer(h->loop->utils->cb.data, h->timer, &v, &v, 0);
}

/* Whether the timer has work to come: a stream or sink to re-create, a retry due, a stream
 * that has not delivered yet. A target that is absent waits for the registry's events. */
static int reconcile_pending(struct hk *h) {
  if (h->mode == HK_MODE_REGISTRY || h->conn_state != HK_CONN_OK) return 0;
  if (!h->initial_done) return 1;
  if (h->stream_dead || h->sink_dead || (h->mode == HK_MODE_SINK && !h->sink)) return 1;
  if (!h->stream) return !(h->target[0] && !find_node_name(h, h->target));
  return !h->flowing;
}

static void reconcile_now(struct hk *h);
static void reconcile(struct hk *h) {
  reconcile_now(h);
  arm_timer(h, reconcile_pending(h) ? RECONCILE_FAST_NS : RECONCILE_STEADY_NS);
}

static void reconcile_now(struct hk *h) {
  uint64_t now = mono_ns();
  struct node *t = NULL;
  if (h->mode == HK_MODE_REGISTRY || h->conn_state != HK_CONN_OK || !h->initial_done) return;
  if (h->mode == HK_MODE_SINK) {
    if (h->sink_dead) destroy_sink(h);
    if (!h->sink) create_sink(h);
  }
  if (h->stream && h->stream_dead) {
    destroy_stream(h);
    h->retry_at = now + h->retry_delay;
    h->retry_delay = h->retry_delay * 2 > 2000000000ul ? 2000000000ul : h->retry_delay * 2;
  }
  if (h->target[0]) {
    t = find_node_name(h, h->target);
    if (!t) {
      if (h->stream) destroy_stream(h);
      h->dev_state = h->ever_ran ? HK_DEV_LOST : HK_DEV_WAITING;
      return;
    }
    if (h->stream && h->target_id != t->id) destroy_stream(h); /* same name, new node */
  }
  if (!h->stream && now >= h->retry_at) create_stream(h, t);
  if (h->stream && h->flowing) {
    h->dev_state = HK_DEV_RUNNING;
    h->ever_ran = 1;
    h->retry_delay = 100000000ul;
  } else if (!h->target[0]) {
    h->dev_state = HK_DEV_WAITING; /* default source: nothing linked (yet) */
  } else {
    h->dev_state = h->ever_ran ? HK_DEV_LOST : HK_DEV_STARTING;
  }
}

static void on_timer(void *data, uint64_t expirations) {
  struct hk *h = data;
  (void)expirations;
  h->reconciles = h->reconciles + 1;
  reconcile(h);
}

/* ---- registry ---- */
static void on_node_info(void *data, const struct pw_node_info *info) {
  struct node *n = data;
  if (info->props) node_apply_props(n, info->props);
  bump(n->h);
}
static const struct pw_node_events NODE_EVENTS = { 0, on_node_info, NULL };

/* Pull the name out of '{ "name": "alsa_input…" }' (the metadata's Spa:String:JSON value). */
static void json_name(char *dst, size_t cap, const char *json) {
  const char *p = json ? strstr(json, "\"name\"") : NULL;
  size_t i = 0;
  dst[0] = 0;
  if (!p) return;
  p += 6;
  while (*p == ' ' || *p == ':' || *p == '\t') p++;
  if (*p != '"') return;
  p++;
  while (*p && *p != '"' && i + 1 < cap) dst[i++] = *p++;
  dst[i] = 0;
}

static int on_metadata_property(void *data, uint32_t subject, const char *key, const char *type, const char *value) {
  struct hk *h = data;
  (void)type;
  if (subject != 0) return 0;
  if (!key) { h->default_source[0] = h->default_sink[0] = 0; bump(h); return 0; }
  if (strcmp(key, "default.audio.source") == 0) { json_name(h->default_source, sizeof h->default_source, value); bump(h); }
  if (strcmp(key, "default.audio.sink") == 0) { json_name(h->default_sink, sizeof h->default_sink, value); bump(h); }
  return 0;
}
static const struct pw_metadata_events METADATA_EVENTS = { 0, on_metadata_property };

static void on_global(void *data, uint32_t id, uint32_t perms, const char *type, uint32_t version, const struct spa_dict *props) {
  struct hk *h = data;
  const char *cls, *name;
  (void)perms, (void)version;
  if (strcmp(type, PW_TYPE_INTERFACE_Node) == 0) {
    struct node *n = NULL;
    int i;
    cls = dict_get(props, "media.class");
    name = dict_get(props, "node.name");
    if (!cls || !name) return;
    if (strcmp(cls, "Audio/Source") != 0 && strcmp(cls, "Audio/Source/Virtual") != 0 && strcmp(cls, "Audio/Sink") != 0 &&
        strcmp(cls, "Audio/Duplex") != 0)
      return;
    for (i = 0; i < MAX_NODES; i++)
      if (!h->nodes[i].used) { n = &h->nodes[i]; break; }
    if (!n) return;
    memset(n, 0, sizeof *n);
    n->used = 1;
    n->id = id;
    n->h = h;
    copy_clean(n->name, sizeof n->name, name);
    copy_clean(n->cls, sizeof n->cls, cls);
    copy_clean(n->desc, sizeof n->desc, name);
    node_apply_props(n, props);
    /* Bind for the full property set (audio.channels / audio.position / audio.rate). */
    n->proxy = ((const struct pw_registry_methods *)IFACE(h->registry)->cb.funcs)
                   ->bind(IFACE(h->registry)->cb.data, id, PW_TYPE_INTERFACE_Node, PW_VERSION_NODE, 0);
    if (n->proxy)
      ((const struct pw_node_methods *)IFACE(n->proxy)->cb.funcs)->add_listener(IFACE(n->proxy)->cb.data, &n->listener, &NODE_EVENTS, n);
    bump(h);
    reconcile(h);
  } else if (strcmp(type, PW_TYPE_INTERFACE_Metadata) == 0) {
    name = dict_get(props, "metadata.name");
    if (!name || strcmp(name, "default") != 0 || h->metadata) return;
    h->metadata = ((const struct pw_registry_methods *)IFACE(h->registry)->cb.funcs)
                      ->bind(IFACE(h->registry)->cb.data, id, PW_TYPE_INTERFACE_Metadata, PW_VERSION_METADATA, 0);
    if (h->metadata) {
      h->metadata_id = id;
      ((const struct pw_metadata_methods *)IFACE(h->metadata)->cb.funcs)
          ->add_listener(IFACE(h->metadata)->cb.data, &h->metadata_listener, &METADATA_EVENTS, h);
    }
  }
}

static void drop_node(struct node *n) {
  if (n->proxy) {
    hook_remove(&n->listener);
    PW.pw_proxy_destroy(n->proxy);
  }
  memset(n, 0, sizeof *n);
}

static void drop_metadata(struct hk *h) {
  if (!h->metadata) return;
  hook_remove(&h->metadata_listener);
  PW.pw_proxy_destroy(h->metadata);
  h->metadata = NULL;
  h->metadata_id = 0;
}

static void on_global_remove(void *data, uint32_t id) {
  struct hk *h = data;
  struct node *n = find_node_id(h, id);
  if (n) {
    drop_node(n);
    bump(h);
    reconcile(h);
  } else if (h->metadata && id == h->metadata_id) {
    drop_metadata(h);
    h->default_source[0] = h->default_sink[0] = 0;
    bump(h);
  }
}
static const struct pw_registry_events REGISTRY_EVENTS = { 0, on_global, on_global_remove };

/* ---- core ---- */
static void on_core_done(void *data, uint32_t id, int seq) {
  struct hk *h = data;
  if (id != PW_ID_CORE || seq != h->sync_seq || h->initial_done) return;
  if (!h->sync_round) {
    /* First round trip: every global is known and bound. Second: their node info arrived. */
    h->sync_round = 1;
    h->sync_seq = CORE_M(h)->sync(CORE_D(h), PW_ID_CORE, 1);
    return;
  }
  h->initial_done = 1;
  bump(h);
  reconcile(h);
}

static void on_core_error(void *data, uint32_t id, int seq, int res, const char *message) {
  struct hk *h = data;
  (void)seq;
  if (id == PW_ID_CORE && res == -EPIPE) {
    h->conn_state = HK_CONN_LOST;
    set_error(h, "PipeWire connection lost", message);
    sem_post(&h->sem);
  } else {
    set_error(h, "PipeWire error", message);
  }
}
static const struct pw_core_events CORE_EVENTS = { 0, NULL, on_core_done, NULL, on_core_error };

static int needs_client_rt_conf(void) {
  const char *v = PW.pw_get_library_version();
  char *end;
  long maj = strtol(v, &end, 10), min = 0, mic = 0;
  if (*end == '.') min = strtol(end + 1, &end, 10);
  if (*end == '.') mic = strtol(end + 1, &end, 10);
  return maj < 1 || (maj == 1 && (min < 3 || (min == 3 && mic < 81)));
}

/* ---- public API (called from JS threads) ---- */

static void teardown(struct hk *h) {
  int i;
  if (h->tloop) PW.pw_thread_loop_stop(h->tloop); /* joins the loop thread: nothing runs after */
  destroy_stream(h);
  destroy_sink(h);
  for (i = 0; i < MAX_NODES; i++)
    if (h->nodes[i].used) drop_node(&h->nodes[i]);
  drop_metadata(h);
  if (h->registry) {
    hook_remove(&h->registry_listener);
    PW.pw_proxy_destroy(h->registry);
  }
  if (h->timer) ((const struct spa_loop_utils_methods *)h->loop->utils->cb.funcs)->destroy_source(h->loop->utils->cb.data, h->timer);
  if (h->core) {
    hook_remove(&h->core_listener);
    PW.pw_core_disconnect(h->core);
  }
  if (h->context) PW.pw_context_destroy(h->context); /* also stops the data-loop thread */
  if (h->tloop) PW.pw_thread_loop_destroy(h->tloop);
  sem_destroy(&h->sem);
  free(h->ring);
  free(h);
}

/**
 * Connect to PipeWire and start the loop thread. mode: 0 capture `target` ('' = default
 * source), 1 pipewire-sink (create node `target`, capture its monitor), 2 registry only.
 * `remote` is a socket path or NULL (libpipewire's own lookup). ring_frames: power of two.
 * Returns a handle (free with hk_close) or NULL with the reason in err and *kind set:
 * 1 library missing, 2 cannot connect, 3 other.
 */
struct hk *hk_open(int mode, const char *target, int channels, int latency, const char *remote, uint32_t ring_frames,
                   char *err, int errlen, int *kind) {
  struct hk *h;
  struct spa_dict_item it[2];
  struct spa_dict d;
  void *props;
  if (!pw_loaded) { snprintf(err, errlen, "libpipewire not loaded (call hk_load first)"); *kind = HK_OPEN_ERR_NO_LIBRARY; return NULL; }
  if (channels < HK_OPEN_CHANNELS_MIN || channels > HK_OPEN_CHANNELS_MAX || (ring_frames & (ring_frames - 1)) || ring_frames < HK_OPEN_RING_MIN_FRAMES) {
    snprintf(err, errlen, "bad arguments (channels %d, ring %u)", channels, ring_frames);
    *kind = HK_OPEN_ERR_OTHER;
    return NULL;
  }
  h = calloc(1, sizeof *h);
  if (!h) { snprintf(err, errlen, "out of memory"); *kind = HK_OPEN_ERR_OTHER; return NULL; }
  h->ring = calloc((size_t)ring_frames * channels, sizeof(float));
  if (!h->ring) { free(h); snprintf(err, errlen, "out of memory"); *kind = HK_OPEN_ERR_OTHER; return NULL; }
  sem_init(&h->sem, 0, 0);
  h->ring_frames = ring_frames;
  h->mask = ring_frames - 1;
  h->mode = mode;
  h->channels = channels;
  h->latency = latency;
  h->retry_delay = 100000000ul;
  h->dev_state = HK_DEV_STARTING;
  h->want = 1;
  copy_clean(h->target, sizeof h->target, target);
  copy_clean(h->remote, sizeof h->remote, remote);

  h->tloop = PW.pw_thread_loop_new("hark-pw", NULL);
  if (!h->tloop) { snprintf(err, errlen, "pw_thread_loop_new failed"); *kind = HK_OPEN_ERR_OTHER; teardown(h); return NULL; }
  h->loop = PW.pw_thread_loop_get_loop(h->tloop);
  if (needs_client_rt_conf()) {
    /* libpipewire < 1.3.81: only client-rt.conf loads module-rt, which makes the data thread
     * SCHED_FIFO (as pw-play's is). Newer ones do that in client.conf and warn on the old name. */
    it[0].key = "config.name", it[0].value = "client-rt.conf";
    d.flags = 0, d.n_items = 1, d.items = it;
    h->context = PW.pw_context_new(h->loop, PW.pw_properties_new_dict(&d), 0); /* takes the props */
  }
  if (!h->context) h->context = PW.pw_context_new(h->loop, NULL, 0);
  if (!h->context) { snprintf(err, errlen, "pw_context_new failed"); *kind = HK_OPEN_ERR_OTHER; teardown(h); return NULL; }
  if (PW.pw_thread_loop_start(h->tloop) < 0) {
    snprintf(err, errlen, "pw_thread_loop_start failed");
    *kind = HK_OPEN_ERR_OTHER;
    PW.pw_context_destroy(h->context);
    h->context = NULL;
    teardown(h);
    return NULL;
  }
  PW.pw_thread_loop_lock(h->tloop);
  d.flags = 0, d.n_items = 0, d.items = it;
  if (h->remote[0]) it[d.n_items].key = "remote.name", it[d.n_items++].value = h->remote;
  props = PW.pw_properties_new_dict(&d); /* ownership passes to pw_context_connect */
  h->core = PW.pw_context_connect(h->context, props, 0);
  if (!h->core) {
    int e = *__errno_location();
    PW.pw_thread_loop_unlock(h->tloop);
    if (e == 112 /* EHOSTDOWN: no socket where libpipewire looked */ && !h->remote[0]) {
      const char *rt = getenv("PIPEWIRE_RUNTIME_DIR");
      if (!rt) rt = getenv("XDG_RUNTIME_DIR");
      if (rt) snprintf(err, errlen, "cannot connect to PipeWire: no socket %s/pipewire-0 (is PipeWire running for this user?)", rt);
      else snprintf(err, errlen, "cannot connect to PipeWire: XDG_RUNTIME_DIR is not set, so there is nowhere to look for its socket");
    } else {
      snprintf(err, errlen, "cannot connect to PipeWire%s%s (errno %d)", h->remote[0] ? " at " : "", h->remote, e);
    }
    *kind = HK_OPEN_ERR_UNAVAILABLE;
    teardown(h);
    return NULL;
  }
  CORE_M(h)->add_listener(CORE_D(h), &h->core_listener, &CORE_EVENTS, h);
  h->registry = CORE_M(h)->get_registry(CORE_D(h), PW_VERSION_REGISTRY, 0);
  ((const struct pw_registry_methods *)IFACE(h->registry)->cb.funcs)
      ->add_listener(IFACE(h->registry)->cb.data, &h->registry_listener, &REGISTRY_EVENTS, h);
  h->sync_seq = CORE_M(h)->sync(CORE_D(h), PW_ID_CORE, 0);
  h->timer = ((const struct spa_loop_utils_methods *)h->loop->utils->cb.funcs)->add_timer(h->loop->utils->cb.data, on_timer, h);
  arm_timer(h, RECONCILE_FAST_NS); /* until capture runs (reconcile() then picks the period) */
  PW.pw_thread_loop_unlock(h->tloop);
  return h;
}

/** Stop the threads and free everything (the handle is invalid afterwards). */
void hk_close(struct hk *h) {
  if (h) teardown(h);
}

static uint64_t ts_of(struct hk *h, uint64_t frame, uint64_t qw) {
  /* The record whose pos is the last one <= frame. Records older than QREC are gone. */
  if (qw == 0) return 0;
  if (h->qr + QREC <= qw) h->qr = qw - QREC + 1;
  while (h->qr + 1 < qw && h->q[(h->qr + 1) & (QREC - 1)].pos <= frame) h->qr++;
  return h->q[h->qr & (QREC - 1)].ns;
}

/** Frames readable now. */
static uint64_t avail(struct hk *h) {
  uint64_t w = h->wpos;
  hk_fence();
  return w - h->rpos;
}

/**
 * Block the calling thread until at least min_frames (>= 1) are readable, the connection is
 * lost or timeout_ms passes. Returns 1 when min_frames are readable; on timeout, 1 if any
 * frame is, else 0.
 */
int hk_wait(struct hk *h, int timeout_ms, int min_frames) {
  struct timespec ts;
  uint64_t deadline = mono_ns() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0) * 1000000ul;
  uint64_t want = min_frames > 1 ? (uint64_t)min_frames : 1;
  if (want > h->ring_frames / 2) want = h->ring_frames / 2;
  h->want = want;
  for (;;) {
    while (sem_trywait(&h->sem) == 0) {}
    hk_fence(); /* pairs with the producer's: publish `want` before reading wpos */
    if (avail(h) >= want) return 1;
    if (h->urgent && *h->urgent) return avail(h) > 0; /* someone needs audio sooner */
    if (h->conn_state != HK_CONN_OK || timeout_ms <= 0) return avail(h) > 0;
    ts.tv_sec = (long)(deadline / 1000000000ul);
    ts.tv_nsec = (long)(deadline % 1000000000ul);
    if (sem_clockwait(&h->sem, CLOCK_MONOTONIC, &ts) != 0) {
      int e = *__errno_location();
      if (e != EINTR) return avail(h) > 0; /* ETIMEDOUT */
    }
    if (mono_ns() >= deadline) return avail(h) >= want || avail(h) > 0;
  }
}

/**
 * Copy up to max_frames interleaved frames into dst; never blocks. info (u64[4], may be
 * NULL; untouched when nothing is read) receives: callback timestamp (CLOCK_MONOTONIC ns) of the quantum holding the first
 * and the last frame copied, the time of this read, and the ring index of the first frame.
 */
int hk_read(struct hk *h, float *dst, int max_frames, uint64_t *info) {
  uint64_t w = h->wpos, r = h->rpos, qw;
  uint32_t n, at, first, ch = (uint32_t)h->channels;
  hk_fence();
  qw = h->qw;
  n = (uint32_t)(w - r < (uint64_t)max_frames ? w - r : (uint64_t)max_frames);
  if (max_frames <= 0) n = 0;
  if (n) {
    at = (uint32_t)r & h->mask;
    first = h->ring_frames - at < n ? h->ring_frames - at : n;
    memcpy(dst, h->ring + (size_t)at * ch, (size_t)first * ch * 4);
    if (first < n) memcpy(dst + (size_t)first * ch, h->ring, (size_t)(n - first) * ch * 4);
  }
  if (info && n) { /* an empty read leaves the last read's info alone */
    info[HK_READ_FIRST_QUANTUM_NS] = ts_of(h, r, qw);
    info[HK_READ_LAST_QUANTUM_NS] = ts_of(h, r + n - 1, qw);
    info[HK_READ_READ_NS] = mono_ns();
    info[HK_READ_FRAME_INDEX] = r;
  }
  hk_fence(); /* finish reading before the producer may reuse the space */
  h->rpos = r + n;
  return (int)n;
}

/**
 * Playback mode: append up to `frames` interleaved frames from src to the ring (the data thread
 * plays them); never blocks. Returns the frames taken (fewer when the ring is full).
 */
int hk_write(struct hk *h, const float *src, int frames) {
  uint64_t w = h->wpos, r = h->rpos;
  uint32_t n, at, first, ch = (uint32_t)h->channels, space;
  hk_fence(); /* the consumer's reads are done before we overwrite */
  space = h->ring_frames - (uint32_t)(w - r);
  n = frames <= 0 ? 0 : ((uint32_t)frames < space ? (uint32_t)frames : space);
  if (n) {
    at = (uint32_t)w & h->mask;
    first = h->ring_frames - at < n ? h->ring_frames - at : n;
    memcpy(h->ring + (size_t)at * ch, src, (size_t)first * ch * 4);
    if (first < n) memcpy(h->ring, src + (size_t)first * ch, (size_t)(n - first) * ch * 4);
  }
  hk_fence(); /* data before wpos */
  h->wpos = w + n;
  return (int)n;
}

/*
 * One value per HK_STAT_* slot (PW_STATS in ffi/pw_abi.ts names them); returns the number of
 * distinct slots written, which must be HK_STATS_COUNT (ffi/pipewire.ts checks every call).
 */
static int write_stats(struct hk *h, double *out) {
  uint64_t seen = 0;
  int i, n = 0;
#define STAT(slot, v) (out[slot] = (double)(v), seen |= 1ul << (slot))
  STAT(HK_STAT_CALLBACKS, h->callbacks);
  STAT(HK_STAT_FRAMES, h->frames);
  STAT(HK_STAT_RING_OVERRUNS, h->overruns);
  STAT(HK_STAT_DROPPED_FRAMES, h->dropped);
  STAT(HK_STAT_XRUNS, h->xruns);
  STAT(HK_STAT_QUANTUM, h->quantum);
  STAT(HK_STAT_GRAPH_RATE, h->graph_rate);
  STAT(HK_STAT_NEGOTIATED_RATE, h->neg_rate);
  STAT(HK_STAT_NEGOTIATED_CHANNELS, h->neg_channels);
  STAT(HK_STAT_DEV_STATE, h->dev_state);
  STAT(HK_STAT_CONN_LOST, h->conn_state);
  STAT(HK_STAT_REGISTRY_VERSION, h->reg_version);
  STAT(HK_STAT_RING_FILL, h->wpos - h->rpos);
  STAT(HK_STAT_STREAM_NODE_ID, h->stream_node_id);
  STAT(HK_STAT_TARGET_NODE_ID, h->target_id);
  STAT(HK_STAT_INITIAL_SYNC_DONE, h->initial_done);
  STAT(HK_STAT_STREAMS_CREATED, h->streams_created);
  STAT(HK_STAT_FRAMES_PER_CALLBACK, h->per_cb);
  STAT(HK_STAT_CAPTURE_SINK_MONITOR, h->stream_is_monitor);
  STAT(HK_STAT_RING_FRAMES, h->ring_frames);
  STAT(HK_STAT_QUANTUM_CHANGES, h->qchanges);
  STAT(HK_STAT_QUANTUM_CHANGE_XRUNS, h->qchange_xruns);
  STAT(HK_STAT_RECONCILE_TICKS, h->reconciles);
  STAT(HK_STAT_RECONCILE_PERIOD_MS, h->timer_ns / 1000000ul);
  STAT(HK_STAT_XRUN_FRAMES, h->xrun_frames);
#undef STAT
  for (i = 0; i < 64; i++) n += (int)((seen >> i) & 1);
  return n;
}

/** Counters into out (double[HK_STATS_COUNT]); returns the slots written (HK_STATS_COUNT). */
int hk_stats(struct hk *h, double *out) { return write_stats(h, out); }

/**
 * hk_stats() on a zeroed handle, with no PipeWire: what the test of the ABI calls to see which
 * slots the C side writes. out: the caller's memory (at least HK_STATS_COUNT doubles).
 */
int hk_stats_probe(double *out) {
  struct hk *h = calloc(1, sizeof *h);
  int n;
  if (!h) return -1;
  n = write_stats(h, out);
  free(h);
  return n;
}

/** dev_state | conn_state << HK_STATE_CONN_SHIFT | initial_done << HK_STATE_SYNCED_SHIFT: the cheap poll for state changes. */
int hk_state(struct hk *h) { return h->dev_state | (h->conn_state << HK_STATE_CONN_SHIFT) | (h->initial_done << HK_STATE_SYNCED_SHIFT); }

/**
 * Change node.latency (frames at 48 kHz) of the running stream, and of every stream created
 * after (a re-opened device keeps it). PipeWire then re-times the graph to the smallest
 * latency any node asks for. Returns 0, or -1 for a value out of range.
 */
int hk_set_latency(struct hk *h, int frames) {
  struct spa_dict_item it[1];
  struct spa_dict d;
  char lat[32];
  if (frames < HK_OPEN_LATENCY_MIN || frames > HK_OPEN_LATENCY_MAX) return -1;
  PW.pw_thread_loop_lock(h->tloop);
  if (frames != h->latency) {
    h->latency = frames;
    if (h->stream) {
      snprintf(lat, sizeof lat, "%d/48000", frames);
      it[0].key = "node.latency", it[0].value = lat;
      d.flags = 0, d.n_items = 1, d.items = it;
      PW.pw_stream_update_properties(h->stream, &d);
    }
  }
  PW.pw_thread_loop_unlock(h->tloop);
  return 0;
}

/**
 * Point hk_wait and the data thread at a flag in shared memory (NULL: none): while it is
 * non-zero, the data thread wakes the reader every quantum and hk_wait returns what there is.
 * The memory must outlive the handle (hark's is a SharedArrayBuffer held for good).
 */
void hk_set_urgent(struct hk *h, int32_t *flag) { h->urgent = flag; }

/** Registry version: bumps on every node/default change. */
uint32_t hk_reg_version(struct hk *h) { return h->reg_version; }

/** CLOCK_MONOTONIC ns of the newest quantum's callback (0 before the first). */
uint64_t hk_last_callback_ns(struct hk *h) { return h->last_ns; }

/** Copy the last error text into buf (under the loop lock); returns its length. */
int hk_last_error(struct hk *h, char *buf, int len) {
  int n;
  PW.pw_thread_loop_lock(h->tloop);
  n = snprintf(buf, len, "%s", h->last_error);
  PW.pw_thread_loop_unlock(h->tloop);
  return n;
}

/**
 * Registry snapshot as text (under the loop lock): a first line
 * "default_source\tdefault_sink\tinitial_done", then one line per node:
 * "id\tname\tdescription\tmedia.class\tchannels\trate\tpositions". Returns the length
 * written, or the negated size needed when cap is too small.
 */
int hk_snapshot(struct hk *h, char *buf, int cap) {
  int i, o = 0, need;
  char line[1200];
  PW.pw_thread_loop_lock(h->tloop);
  need = snprintf(line, sizeof line, "%s\t%s\t%d\n", h->default_source, h->default_sink, h->initial_done);
  if (need < cap) memcpy(buf, line, need), o = need;
  else o = cap + 1;
  for (i = 0; i < MAX_NODES; i++) {
    struct node *n = &h->nodes[i];
    int l;
    if (!n->used) continue;
    l = snprintf(line, sizeof line, "%u\t%s\t%s\t%s\t%d\t%d\t%s\n", n->id, n->name, n->desc, n->cls, n->channels, n->rate, n->pos);
    if (l >= (int)sizeof line) l = sizeof line - 1;
    if (o + l < cap) memcpy(buf + o, line, l);
    o += l;
  }
  PW.pw_thread_loop_unlock(h->tloop);
  if (o >= cap) return -(o + 1);
  buf[o] = 0;
  return o;
}
