/* A graph's weights streamed to one device (ribo_weights_upload, weights.h). Every weight source is cut
 * into chunks of at most one staging slot; several host threads take the chunks in order and fill
 * pinned slots from the mapped checkpoint (a plain copy where the checkpoint holds the storage type,
 * a conversion to float32 otherwise), scanning for NaN/inf on the way; each filled slot goes to the
 * device through the one stream's host-to-device copy, followed, for 16-bit storage of a converted
 * chunk, by the device's float32 -> storage conversion. Host memory stays bounded by the slots (two
 * per thread), whatever the model's size; the first bad chunk in checkpoint order is the error. */
#include "engine/graph/weights.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
    SLOT_BYTES = 16 << 20,  /* one staging slot: large enough for full-speed DMA (RIBO_LOAD_SLOT_BYTES
                               sets another size, e.g. a small one to test the chunking) */
    SCAN_BLOCK = 64 << 10,  /* copied, then scanned while it is in the cache */
    MAX_THREADS = 8,
    SLOTS_PER_THREAD = 2,   /* one filling while the other's copy runs */
};

/* Elements [begin, begin + count) of source `source` of weight w. */
typedef struct chunk {
    const ribo_gtensor *w;
    int source;
    size_t begin, count;
} chunk;

typedef struct slot {
    void *host;          /* pinned, slot_bytes */
    ribo_dbuf *dev_f32;  /* device float32 staging of a converted chunk (16-bit storage only) */
    ribo_event *done;    /* recorded after the slot's last enqueued work */
    bool in_flight;
} slot;

typedef struct uploader {
    ribo_device *dev;
    ribo_stream *stream;
    ribo_storage storage;
    chunk *chunks;
    size_t n_chunks;
    size_t slot_bytes;
    bool need_dev_f32;     /* some chunk is converted and the storage is 16-bit */
    atomic_size_t next;    /* next chunk to take */
    atomic_size_t first_bad; /* lowest failed chunk (n_chunks = none): later chunks are not started */
    pthread_mutex_t lock;  /* the stream's enqueues, and err/status below */
    size_t err_chunk;
    ribo_status status;
    ribo_error err;
} uploader;

/* True when a checkpoint dtype is bit-for-bit the device storage type (copied, not converted). */
static bool same_storage(ribo_st_dtype d, ribo_storage s) {
    return (d == RIBO_ST_F32 && s == RIBO_STORAGE_F32) || (d == RIBO_ST_F16 && s == RIBO_STORAGE_F16) ||
           (d == RIBO_ST_BF16 && s == RIBO_STORAGE_BF16);
}

static size_t storage_size(ribo_storage s) {
    return s == RIBO_STORAGE_F32 ? 4 : 2;
}

/* Index of the first NaN/inf among n raw F32/F16/BF16 values (all-ones exponent), or -1. The data
 * may be unaligned (safetensors does not align tensors): each value is read with memcpy. */
static int64_t first_non_finite(const void *data, ribo_st_dtype d, size_t n) {
    const unsigned char *p = data;
    if (d == RIBO_ST_F32) {
        for (size_t i = 0; i < n; ++i) {
            uint32_t v;
            memcpy(&v, p + 4 * i, sizeof v);
            if ((v & 0x7f800000u) == 0x7f800000u) return (int64_t)i;
        }
        return -1;
    }
    uint16_t exp_mask = d == RIBO_ST_F16 ? 0x7c00u : 0x7f80u;
    for (size_t i = 0; i < n; ++i) {
        uint16_t v;
        memcpy(&v, p + 2 * i, sizeof v);
        if ((v & exp_mask) == exp_mask) return (int64_t)i;
    }
    return -1;
}

static bool chunk_converted(const uploader *u, const chunk *c) {
    return !same_storage(c->w->resolved[c->source]->dtype, u->storage);
}

static size_t source_elements(const ribo_gtensor *w) {
    return (size_t)(w->shape[0] / w->n_sources) * (size_t)w->shape[1];
}

/* Cuts every weight source into chunks of at most one slot (in the bytes the slot will hold). */
static ribo_status plan_chunks(uploader *u, const ribo_graph *g, ribo_error *err) {
    size_t n = 0, cap = 0;
    for (int i = 0; i < g->n_tensors; ++i) {
        const ribo_gtensor *w = &g->tensors[i];
        if (w->role != RIBO_TENSOR_WEIGHT) continue;
        for (int s = 0; s < w->n_sources; ++s) {
            bool conv = !same_storage(w->resolved[s]->dtype, u->storage);
            size_t el = conv ? 4 : storage_size(u->storage);
            size_t per = u->slot_bytes / el, total = source_elements(w);
            if (conv && u->storage != RIBO_STORAGE_F32) u->need_dev_f32 = true;
            for (size_t b = 0; b < total || (b == 0 && total == 0); b += per) {
                if (n == cap) {
                    cap = cap ? 2 * cap : 256;
                    chunk *c = realloc(u->chunks, cap * sizeof *c);
                    if (!c) return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "model weights: out of host memory");
                    u->chunks = c;
                }
                u->chunks[n++] = (chunk){w, s, b, total - b < per ? total - b : per};
                if (total == 0) break;
            }
        }
    }
    u->n_chunks = n;
    return RIBO_OK;
}

/* Fills slot host memory with chunk c: a copy of the checkpoint bytes or their float32 values,
 * refusing NaN/inf with the tensor and element named. */
static ribo_status fill_slot(const uploader *u, const chunk *c, void *host, ribo_error *err) {
    const ribo_st_tensor *t = c->w->resolved[c->source];
    const char *name = c->w->sources[c->source];
    if (!chunk_converted(u, c)) {
        size_t el = storage_size(u->storage);
        const unsigned char *src = (const unsigned char *)t->data + c->begin * el;
        for (size_t b = 0; b < c->count; b += SCAN_BLOCK / el) {
            size_t n = c->count - b < SCAN_BLOCK / el ? c->count - b : SCAN_BLOCK / el;
            unsigned char *dst = (unsigned char *)host + b * el;
            memcpy(dst, src + b * el, n * el);
            int64_t bad = first_non_finite(dst, t->dtype, n);
            if (bad >= 0)
                return ribo_error_set(err, RIBO_ERR_MODEL, "model weights: tensor '%s' holds a non-finite value (element %zu)",
                                      name, c->begin + b + (size_t)bad);
        }
        return RIBO_OK;
    }
    float *f = host;
    for (size_t b = 0; b < c->count; b += SCAN_BLOCK / 4) {
        size_t n = c->count - b < SCAN_BLOCK / 4 ? c->count - b : SCAN_BLOCK / 4;
        RIBO_TRY(ribo_st_range_to_f32(t, c->begin + b, n, f + b, err));
        for (size_t i = 0; i < n; ++i)
            if (f[b + i] != f[b + i] || f[b + i] - f[b + i] != 0.0f)
                return ribo_error_set(err, RIBO_ERR_MODEL, "model weights: tensor '%s' holds a non-finite value (element %zu)",
                                      name, c->begin + b + i);
    }
    return RIBO_OK;
}

/* Enqueues slot s (filled with chunk c) on the stream and records its event; the caller holds the lock. */
static ribo_status enqueue_slot(uploader *u, const chunk *c, slot *s, ribo_error *err) {
    size_t el = storage_size(u->storage);
    ribo_dptr dst = ribo_dptr_at(c->w->dev, ((size_t)c->source * source_elements(c->w) + c->begin) * el);
    if (!chunk_converted(u, c)) {
        RIBO_TRY(ribo_stream_copy_h2d(u->stream, dst, s->host, c->count * el, err));
    } else if (u->storage == RIBO_STORAGE_F32) {
        RIBO_TRY(ribo_stream_copy_h2d(u->stream, dst, s->host, c->count * 4, err));
    } else {
        ribo_dptr tmp = {s->dev_f32, 0};
        RIBO_TRY(ribo_stream_copy_h2d(u->stream, tmp, s->host, c->count * 4, err));
        RIBO_TRY(ribo_kernel_convert_from_f32(u->stream, dst, tmp, c->count, err));
    }
    RIBO_TRY(ribo_stream_record_event(u->stream, s->done, err));
    s->in_flight = true;
    return RIBO_OK;
}

/* Records chunk i's failure unless an earlier chunk already failed. */
static void fail(uploader *u, size_t i, ribo_status st, const ribo_error *e) {
    pthread_mutex_lock(&u->lock);
    if (i < u->err_chunk) {
        u->err_chunk = i;
        u->status = st;
        u->err = *e;
    }
    size_t cur = atomic_load(&u->first_bad);
    while (i < cur && !atomic_compare_exchange_weak(&u->first_bad, &cur, i)) {
    }
    pthread_mutex_unlock(&u->lock);
}

typedef struct worker {
    uploader *u;
    slot slots[SLOTS_PER_THREAD];
    pthread_t thread;
    bool started;
} worker;

/* One thread's loop: take the next chunk, wait for one of its own slots to be free, fill, enqueue. */
static void *worker_main(void *arg) {
    worker *wk = arg;
    uploader *u = wk->u;
    ribo_error e = {0};
    ribo_status st = ribo_device_bind_thread(u->dev, &e);
    if (st != RIBO_OK) {
        fail(u, 0, st, &e);
        return NULL;
    }
    for (unsigned k = 0;; ++k) {
        size_t i = atomic_fetch_add(&u->next, 1);
        if (i >= u->n_chunks || i > atomic_load(&u->first_bad)) break;
        slot *s = &wk->slots[k % SLOTS_PER_THREAD];
        if (s->in_flight) {
            st = ribo_event_synchronize(s->done, &e);
            s->in_flight = false;
        }
        if (st == RIBO_OK) st = fill_slot(u, &u->chunks[i], s->host, &e);
        if (st == RIBO_OK) {
            pthread_mutex_lock(&u->lock);
            st = enqueue_slot(u, &u->chunks[i], s, &e);
            pthread_mutex_unlock(&u->lock);
        }
        if (st != RIBO_OK) {
            fail(u, i, st, &e);
            break;
        }
    }
    for (int k = 0; k < SLOTS_PER_THREAD; ++k)
        if (wk->slots[k].in_flight) {
            ribo_error e2 = {0};
            ribo_status s2 = ribo_event_synchronize(wk->slots[k].done, &e2);
            wk->slots[k].in_flight = false;
            if (s2 != RIBO_OK) fail(u, u->n_chunks, s2, &e2);
        }
    return NULL;
}

/* Host threads for n chunks: RIBO_LOAD_THREADS, else the online cores, at most MAX_THREADS. */
static int thread_count(size_t n_chunks) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    const char *env = getenv("RIBO_LOAD_THREADS");
    if (env && atoi(env) > 0) n = atoi(env);
    if (n > MAX_THREADS) n = MAX_THREADS;
    if (n < 1) n = 1;
    if ((size_t)n > n_chunks) n = n_chunks ? (long)n_chunks : 1;
    return (int)n;
}

static void free_worker(uploader *u, worker *wk) {
    for (int k = 0; k < SLOTS_PER_THREAD; ++k) {
        slot *s = &wk->slots[k];
        if (s->done) ribo_event_destroy(s->done);
        if (s->dev_f32) ribo_buffer_free(u->dev, s->dev_f32);
        if (s->host) ribo_host_free(u->dev, s->host);
    }
}

static ribo_status init_worker(uploader *u, worker *wk, ribo_error *err) {
    wk->u = u;
    for (int k = 0; k < SLOTS_PER_THREAD; ++k) {
        slot *s = &wk->slots[k];
        RIBO_TRY(ribo_host_alloc(u->dev, u->slot_bytes, &s->host, err));
        RIBO_TRY(ribo_event_create(u->dev, false, &s->done, err));
        if (u->need_dev_f32) RIBO_TRY(ribo_buffer_alloc(u->dev, u->slot_bytes, "weight staging", &s->dev_f32, err));
    }
    return RIBO_OK;
}

ribo_status ribo_weights_upload(ribo_device *dev, ribo_stream *stream, const ribo_graph *g, ribo_storage storage,
                                ribo_error *err) {
    /* constants (position tables and the like) are small and live in the graph: plain copies */
    for (int i = 0; i < g->n_tensors; ++i) {
        const ribo_gtensor *t = &g->tensors[i];
        if (t->role == RIBO_TENSOR_CONSTANT)
            RIBO_TRY(ribo_stream_copy_h2d(stream, t->dev, t->const_data, (size_t)t->shape[0] * 4, err));
    }
    uploader u = {.dev = dev, .stream = stream, .storage = storage, .slot_bytes = SLOT_BYTES};
    const char *env = getenv("RIBO_LOAD_SLOT_BYTES");
    if (env && atol(env) >= 16) u.slot_bytes = (size_t)atol(env) & ~(size_t)3;
    ribo_status s = plan_chunks(&u, g, err);
    if (s != RIBO_OK) {
        free(u.chunks);
        return s;
    }
    atomic_init(&u.next, 0);
    atomic_init(&u.first_bad, u.n_chunks);
    u.err_chunk = (size_t)-1;
    u.status = RIBO_OK;
    pthread_mutex_init(&u.lock, NULL);
    int n_threads = thread_count(u.n_chunks);
    worker *workers = calloc((size_t)n_threads, sizeof *workers);
    if (!workers) s = ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "model weights: out of host memory");
    for (int t = 0; s == RIBO_OK && t < n_threads; ++t) s = init_worker(&u, &workers[t], err);
    /* the first thread's work runs on the caller's thread (one thread: no thread at all) */
    for (int t = 1; s == RIBO_OK && t < n_threads; ++t) {
        if (pthread_create(&workers[t].thread, NULL, worker_main, &workers[t]) != 0) {
            s = ribo_error_set(err, RIBO_ERR_INTERNAL, "model weights: cannot start an upload thread");
            atomic_store(&u.first_bad, 0);
            break;
        }
        workers[t].started = true;
    }
    if (s == RIBO_OK && u.n_chunks) worker_main(&workers[0]);
    for (int t = 1; workers && t < n_threads; ++t)
        if (workers[t].started) pthread_join(workers[t].thread, NULL);
    if (s == RIBO_OK && u.status != RIBO_OK) {
        s = u.status;
        if (err) *err = u.err;
    }
    if (s == RIBO_OK) s = ribo_stream_synchronize(stream, err); /* the constants' copies */
    else {
        ribo_error ignore = {0};
        (void)ribo_stream_synchronize(stream, &ignore); /* nothing in flight reads a freed slot */
    }
    for (int t = 0; workers && t < n_threads; ++t) free_worker(&u, &workers[t]);
    free(workers);
    pthread_mutex_destroy(&u.lock);
    free(u.chunks);
    return s;
}
