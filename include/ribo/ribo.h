/* ribo public C API: embeddings for protein and DNA language models.
 * Only opaque handles and plain option/result structs cross this boundary. */
#ifndef RIBO_RIBO_H
#define RIBO_RIBO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RIBO_VERSION_STRING "0.1.0"

/* Every fallible call returns a status; details go into a ribo_error. */
typedef enum ribo_status {
    RIBO_OK = 0,
    RIBO_ERR_INVALID_ARGUMENT, /* bad option or API misuse */
    RIBO_ERR_IO,               /* cannot open/read/write a file */
    RIBO_ERR_INPUT,            /* malformed input data (FASTA, sequence) */
    RIBO_ERR_MODEL,            /* malformed or inconsistent model directory / weights */
    RIBO_ERR_UNSUPPORTED,      /* valid request the chosen backend/device/model cannot do */
    RIBO_ERR_OUT_OF_MEMORY,    /* host or device allocation failed */
    RIBO_ERR_DEVICE,           /* a backend (vendor API) call failed */
    RIBO_ERR_INTERNAL          /* a bug in ribo */
} ribo_status;

/* One-line message naming what failed, where and why. Room for three paths of PATH_MAX (4096 on
 * Linux) and the reason, so a long path does not push the reason out of the message. */
#define RIBO_ERROR_MESSAGE_MAX 16384
typedef struct ribo_error {
    ribo_status status;
    char message[RIBO_ERROR_MESSAGE_MAX];
} ribo_error;

const char *ribo_status_name(ribo_status status);

typedef enum ribo_dtype { RIBO_DTYPE_AUTO = 0, RIBO_DTYPE_FP32, RIBO_DTYPE_FP16, RIBO_DTYPE_BF16 } ribo_dtype;

typedef enum ribo_pool {
    RIBO_POOL_DEFAULT = 0, /* the model family's convention (ESM-2: mean over residues) */
    RIBO_POOL_MEAN,        /* mean over residues (ESM-2: specials excluded; DNABERT: all tokens incl. specials) */
    RIBO_POOL_CLS,         /* the first (<cls>) token's final state */
    RIBO_POOL_NONE         /* per-residue states */
} ribo_pool;

#define RIBO_MAX_DEVICES 64

/* Progress of a running embed, passed to ribo_embed_options.progress every progress_interval_s. */
typedef struct ribo_progress {
    double elapsed_s;
    uint64_t sequences_done;   /* rows written (or kept from an interrupted run with --resume) */
    uint64_t tokens_done;
    double tokens_per_s;       /* over the last interval */
    double fraction_done;      /* estimated from the input bytes read; < 0 when unknown */
    double eta_s;              /* < 0 when unknown */
    double packing_density;    /* real tokens / batch budget, so far */
    int n_devices;
    double device_busy[RIBO_MAX_DEVICES]; /* compute-stream busy fraction of each device, last interval */
    bool final;                /* the last call, once every row is written */
} ribo_progress;

typedef void (*ribo_progress_fn)(void *user, const ribo_progress *progress);
/* One line ("warning: ..." / "note: ...") while a run goes on; called from the run's threads, one at a time. */
typedef void (*ribo_log_fn)(void *user, const char *line);

/* Options of one embedding run (the `ribo embed` command). Zero means "default". */
typedef struct ribo_embed_options {
    const char *model_dir;
    const char *const *inputs; /* FASTA files (.gz allowed) */
    int n_inputs;
    const char *output;        /* X.npy (+ X.ids.txt) or X.h5 */
    const char *backend;       /* "auto", "opencl", ... ; NULL = auto */
    int device;                /* device index within the backend */
    ribo_dtype dtype;
    ribo_pool pool;
    int max_tokens;            /* token budget of one packed batch; 0 = default */
    int max_batch_seqs;        /* at most this many sequences per batch; 0 = unlimited */
    int truncate;              /* max residues per sequence; -1 = default (1022); 0 = error if longer */
    bool skip_invalid;         /* skip empty records (warn) instead of failing */
    int translate_frames;      /* 0 = off; 6 = inputs are DNA: embed the six translated reading frames of
                                  each record (ids <id>_F1.._F3, <id>_R1.._R3; protein models only) */
    bool drop_stop_frames;     /* with translate_frames: leave out frames containing a stop codon */
    bool lenient;              /* DNA input: characters outside ACGTN are counted instead of failing
                                  (a DNA model's tokenizer sees them as unknown; translation reads them as N) */
    bool quiet;                /* no warnings / summary on stderr */
    /* stream pipeline, devices, resumable output */
    const char *devices;       /* "all" or a list "0,2" (an index may repeat: two pipelines on one device);
                                  NULL = just `device` */
    bool sync;                 /* --sync: one batch at a time on one thread, each stage waited for */
    int ring_depth;            /* pinned staging slots per device; 0 = 3 */
    int queue_depth;           /* packed batches queued per device; 0 = 4 */
    int window_tokens;         /* input window (= output part) limit in tokens; 0 = 16 x max_tokens */
    int window_seqs;           /* ... and in sequences; 0 = 32768 */
    bool resume;               /* continue an interrupted run from the parts in OUTPUT.ribo-work */
    const char *report_path;   /* JSON run report; NULL = none */
    const char *trace_path;    /* Chrome/Perfetto trace of streams and host threads; NULL = none */
    ribo_progress_fn progress; /* NULL = no progress calls */
    void *progress_user;
    double progress_interval_s; /* 0 = 1 s */
    ribo_log_fn log;           /* warnings/notes during the run; NULL = dropped */
    void *log_user;
    int writers;               /* threads converting and writing finished batches; 0 = 2, 1 = one thread */
} ribo_embed_options;

void ribo_embed_options_init(ribo_embed_options *opts);

/* What a finished run did. */
typedef struct ribo_embed_summary {
    size_t n_sequences;        /* rows written */
    size_t n_skipped;          /* empty records skipped (--skip-invalid) */
    size_t n_truncated;        /* sequences cut to --truncate */
    size_t truncate_limit;     /* the limit applied (residues; BPE tokens for DNA models) */
    bool dna_model;            /* the model read DNA (truncation and unknowns count BPE tokens) */
    size_t n_unknown_chars;    /* residues mapped to <unk> */
    size_t n_stop_frames;      /* translated frames left out for a stop codon (drop_stop_frames) */
    size_t n_short_frames;     /* translated frames shorter than one codon (left out) */
    size_t n_lenient_chars;    /* DNA characters outside ACGTN let through (lenient) */
    size_t n_tokens;           /* real tokens of the input (no padding) */
    size_t n_tokens_computed;  /* of those, run through the model by this run (not kept by --resume) */
    size_t n_batches;
    double packing_density;    /* real tokens / (batches * max_tokens) */
    double seconds;            /* wall time of the whole run */
    double batch_seconds;      /* from the first batch's upload to the last row handed to the writer */
    int embedding_dim;
    int n_devices;             /* pipelines that ran */
    int max_tokens;            /* batch token budget used (after any out-of-memory lowering) */
    size_t n_parts;            /* output parts (windows) */
    size_t n_parts_resumed;    /* parts kept from an interrupted run */
    double assemble_seconds;   /* building the final file from the parts */
    char bottleneck[256];      /* the run report's one-line verdict */
} ribo_embed_summary;

ribo_status ribo_embed(const ribo_embed_options *opts, ribo_embed_summary *summary, ribo_error *err);

/* Token ids of every input sequence (`ribo tokenize`), read and tokenized exactly as ribo_embed
 * would with the same options (model_dir, inputs, truncate, skip_invalid, translate_frames,
 * drop_stop_frames, lenient; max_tokens, window_tokens and window_seqs set the input windows as for
 * ribo_embed; the rest is ignored). cb is called once per sequence in input order, window by window
 * as the input is read: when an error stops the reading (e.g. a duplicate id), the sequences of the
 * windows before the one holding the error have already been passed to cb. */
typedef void (*ribo_tokens_callback)(const char *id, const int32_t *ids, size_t n_ids, void *user);
ribo_status ribo_tokenize(const ribo_embed_options *opts, ribo_tokens_callback cb, void *user, ribo_error *err);

/* Model description (`ribo info`). */
typedef struct ribo_model_info {
    char architecture[64];     /* e.g. "esm2" */
    char weights_dtype[16];    /* dtype found in the checkpoint */
    int n_layers, hidden_size, n_heads, head_dim, intermediate_size, vocab_size;
    int max_positions;
    uint64_t n_parameters;     /* parameters the graph uses */
    uint64_t weight_bytes_fp32, weight_bytes_fp16;
    uint64_t activation_bytes_per_token_fp32; /* arena + batch I/O, per token of --max-tokens */
    int default_max_residues;  /* default --truncate */
    char default_pool[16];
    bool pool_includes_specials; /* mean/none cover the special tokens too (DNABERT-S convention) */
    bool dna_model;            /* reads DNA (ACGTN); its --truncate counts BPE tokens, not residues */
} ribo_model_info;

ribo_status ribo_model_describe(const char *model_dir, ribo_model_info *info, ribo_error *err);

/* Device memory ribo needs for a model at a token budget: weights + activation arena + batch I/O. */
uint64_t ribo_memory_estimate(const ribo_model_info *info, ribo_dtype dtype, int max_tokens);

/* Default token budget of one packed batch (--max-tokens). */
#define RIBO_DEFAULT_MAX_TOKENS 16384

/* Devices (`ribo devices`): calls back once per device of every compiled-in backend. */
typedef struct ribo_device_description {
    const char *backend;
    int index;
    char name[256];
    uint64_t memory_bytes;
    bool fp16, bf16;
    char note[256];            /* e.g. why a backend has no device */
    int warp_size;             /* lanes of a warp / wave (32 NVIDIA, 64 AMD CDNA, 1 CPU) */
    char matrix_units[48];     /* matrix instructions the kernels use ("mma.sync sm_90", "MFMA gfx90a") or "" */
} ribo_device_description;

typedef void (*ribo_device_callback)(const ribo_device_description *dev, void *user);
ribo_status ribo_list_devices(ribo_device_callback cb, void *user, ribo_error *err);


/* ---------------------------------------------------------------- sessions
 *
 * A model that stays loaded: ribo_session_open reads and checks the model directory, opens the
 * devices and uploads the weights once (one pipeline per device, as `ribo embed` runs them); then
 * ribo_session_embed embeds any number of in-memory batches of (id, sequence) and
 * ribo_session_embed_files runs whole `ribo embed` jobs (FASTA in, file out, --resume) on it;
 * ribo_session_close frees it. `ribo embed` itself is a session opened for one run.
 *
 * Options: ribo_session_open takes the device side of a ribo_embed_options (model_dir, backend,
 * device, devices, dtype, max_tokens, max_batch_seqs, ring_depth, queue_depth, sync; NULL = all
 * defaults). Each call takes the rest (pool, truncate, skip_invalid, translate_frames,
 * drop_stop_frames, lenient, window_tokens/window_seqs, progress, log; for files also inputs, output,
 * resume, report_path, trace_path); the device-side fields of a call's options are ignored (the
 * session's hold). The pooling may change from call to call without reloading anything.
 *
 * Threads: one call at a time per session (a second concurrent call is refused with
 * RIBO_ERR_INVALID_ARGUMENT); several sessions may live in one process. A failed call (bad input,
 * a callback that stops) leaves the session usable; a device failure (RIBO_ERR_DEVICE) may not. */
typedef struct ribo_session ribo_session;

ribo_status ribo_session_open(const ribo_embed_options *opts, ribo_session **out, ribo_error *err);

/* Called once per output sequence, in input order: its 0-based row, id, and n_rows x dim floats
 * (n_rows = 1 pooled; its residues with RIBO_POOL_NONE). The rows are valid only during the call.
 * Return 0 to go on; anything else stops the call (RIBO_ERR_INVALID_ARGUMENT, "stopped by the
 * caller"). Called from one of the session's threads. */
typedef int (*ribo_rows_callback)(void *user, uint64_t row, const char *id, const float *rows, size_t n_rows,
                                  size_t dim);

/* Embeds n sequences (ids[i], seqs[i]; NUL-terminated; whitespace inside a sequence is dropped as a
 * FASTA reader drops line breaks) with the same tokenization, checks, truncation, packing and
 * messages as `ribo embed` ("sequences: record N ('id'): ..."; record N = seqs[N-1]). Pooled rows go
 * to out (row r at out + r * dim; out_rows rows of room; NULL = none) and/or cb; per-residue rows
 * only to cb. Rows are sequences kept, in input order: with skip_invalid or translate_frames they
 * are not one per input (summary->n_sequences says how many; cb gives each row's id). n = 0 is an
 * empty call. */
ribo_status ribo_session_embed(ribo_session *session, const char *const *ids, const char *const *seqs, size_t n,
                               const ribo_embed_options *opts, float *out, size_t out_rows, ribo_rows_callback cb,
                               void *cb_user, ribo_embed_summary *summary, ribo_error *err);

/* A `ribo embed` run (opts->inputs, opts->output, resume, report ...) on the loaded model. */
ribo_status ribo_session_embed_files(ribo_session *session, const ribo_embed_options *opts,
                                     ribo_embed_summary *summary, ribo_error *err);

/* What a session runs on. */
typedef struct ribo_session_info {
    ribo_model_info model;
    char backend[32];
    char dtype[8];             /* "fp32", "fp16", "bf16": what the devices store */
    int n_devices;             /* pipelines */
    char devices[RIBO_MAX_DEVICES][192]; /* "cuda device 0 (NVIDIA H200)" */
    int embedding_dim;
    int max_tokens;            /* packing budget (after any out-of-memory lowering) */
    char default_pool[16];
} ribo_session_info;

ribo_status ribo_session_describe(const ribo_session *session, ribo_session_info *info, ribo_error *err);

void ribo_session_close(ribo_session *session);

/* sizeof of a public struct by name ("ribo_embed_options", "ribo_embed_summary", "ribo_error",
 * "ribo_progress", "ribo_model_info", "ribo_device_description", "ribo_session_info"); 0 for
 * another name. Language bindings check their mirrored layouts with it. */
size_t ribo_abi_struct_size(const char *name);

#ifdef __cplusplus
}
#endif
#endif
