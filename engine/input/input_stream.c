/* Windowed FASTA reading with whole-input duplicate-id detection (see input_stream.h). */
#include "engine/input/input_stream.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "engine/base/batch_queue.h"
#include "engine/io/fasta.h"
#include "engine/base/hash.h"

/* Set of 64-bit id hashes: 256 open-addressing tables chosen by the hash's top byte, each grown on
 * its own (so growing never holds two copies of the whole set). 0 marks an empty slot; a hash of 0
 * is stored as 1. About 11-21 bytes per id. */
#define HASH_PARTS 256

typedef struct hash_part {
    uint64_t *slots;
    size_t cap, n;
} hash_part;

typedef struct hash_set {
    hash_part part[HASH_PARTS];
} hash_set;

static hash_part *part_of(hash_set *s, uint64_t h) { return &s->part[h >> 56]; }

/* True when h is in the set. */
static bool hash_find(hash_set *s, uint64_t h) {
    const hash_part *p = part_of(s, h);
    if (!p->cap) return false;
    size_t mask = p->cap - 1;
    for (size_t i = h & mask; p->slots[i]; i = (i + 1) & mask)
        if (p->slots[i] == h) return true;
    return false;
}

static void hash_place(uint64_t *slots, size_t cap, uint64_t h) {
    size_t mask = cap - 1, i = h & mask;
    while (slots[i]) i = (i + 1) & mask;
    slots[i] = h;
}

/* Adds h, doubling its table to keep the load at most 3/4. */
static ribo_status hash_add(hash_set *s, uint64_t h, ribo_error *err) {
    hash_part *p = part_of(s, h);
    if ((p->n + 1) * 4 > p->cap * 3) {
        size_t cap = p->cap ? p->cap * 2 : 64;
        uint64_t *slots = calloc(cap, sizeof *slots);
        if (!slots) return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "out of memory indexing sequence ids");
        for (size_t i = 0; i < p->cap; ++i)
            if (p->slots[i]) hash_place(slots, cap, p->slots[i]);
        free(p->slots);
        p->slots = slots;
        p->cap = cap;
    }
    hash_place(p->slots, p->cap, h);
    ++p->n;
    return RIBO_OK;
}

struct ribo_input {
    ribo_input_config cfg;
    ribo_seqset_options opts;
    ribo_record_context ctx;
    int file;                   /* file being read */
    ribo_fasta_reader *reader;  /* open reader of `file`, NULL between files */
    bool exhausted;
    size_t windows;
    uint64_t rows;              /* sequences returned so far */
    hash_set ids;
    uint64_t hash_mask;         /* all ones; RIBO_TEST_ID_HASH_BITS=n keeps n bits (forces collisions) */
    uint64_t *sizes;            /* file sizes */
    uint64_t bytes_total, bytes_before; /* all files; files finished before `file` */
    _Atomic uint64_t bytes_done;
};

static uint64_t id_hash(const ribo_input *in, const char *id) {
    uint64_t h = ribo_hash_final(ribo_hash_str(RIBO_HASH_INIT, id)) & in->hash_mask;
    return h ? h : 1;
}

/* Re-reads the inputs from the start up to (file, record) and looks for a kept sequence with this
 * id: the exact check behind a hash match. *found_file < 0 when there is none (a hash collision). */
static ribo_status rescan(const ribo_input *in, int file, size_t record, const char *id, int *found_file,
                          size_t *found_record, ribo_error *err) {
    *found_file = -1;
    ribo_record_context ctx = in->ctx;
    ctx.check_id = NULL;
    ribo_seqset scratch;
    memset(&scratch, 0, sizeof scratch);
    ribo_status s = RIBO_OK;
    for (int f = 0; s == RIBO_OK && f <= file && *found_file < 0; ++f) {
        ribo_fasta_reader *r = NULL;
        s = ribo_fasta_open(in->cfg.paths[f], &r, err);
        while (s == RIBO_OK && *found_file < 0) {
            ribo_fasta_record rec;
            bool has = false;
            s = ribo_fasta_next(r, &rec, &has, err);
            if (s != RIBO_OK || !has || (f == file && rec.record_number >= record)) break;
            ribo_seqset_clear(&scratch);
            s = ribo_seqset_add_record(&scratch, &ctx, f, &rec, err);
            for (size_t i = 0; s == RIBO_OK && i < scratch.n; ++i)
                if (strcmp(scratch.ids[i], id) == 0) {
                    *found_file = f;
                    *found_record = rec.record_number;
                }
        }
        ribo_fasta_close(r);
    }
    ribo_seqset_free(&scratch);
    return s;
}

/* The id check of the per-record step: hash screen, exact re-read on a match, then remember. */
static ribo_status check_id(void *user, int file, const ribo_fasta_record *rec, const char *id, ribo_error *err) {
    ribo_input *in = user;
    uint64_t h = id_hash(in, id);
    if (hash_find(&in->ids, h)) {
        int ff = -1;
        size_t fr = 0;
        RIBO_TRY(rescan(in, file, rec->record_number, id, &ff, &fr, err));
        if (ff >= 0)
            return ribo_error_set(err, RIBO_ERR_INPUT,
                                  "%s: record %zu ('%s'): duplicate id '%s' (first seen in %s, record %zu)",
                                  in->cfg.paths[file], rec->record_number, rec->id, id, in->cfg.paths[ff], fr);
        return RIBO_OK; /* a collision of two different ids: the table already holds h */
    }
    return hash_add(&in->ids, h, err);
}

ribo_status ribo_input_open(const ribo_input_config *cfg, ribo_input **out, ribo_error *err) {
    *out = NULL;
    if (cfg->n_paths < 1 || !cfg->paths || !cfg->tok || !cfg->opts || !cfg->window_tokens || !cfg->window_seqs)
        return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "ribo_input_open: bad arguments");
    RIBO_TRY(ribo_seqset_check_options(cfg->opts, err));
    ribo_input *in = calloc(1, sizeof *in);
    if (in) in->sizes = calloc((size_t)cfg->n_paths, sizeof *in->sizes);
    if (!in || !in->sizes) {
        free(in);
        return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    in->cfg = *cfg;
    in->opts = *cfg->opts;
    in->ctx = (ribo_record_context){.tok = cfg->tok, .opts = &in->opts, .paths = cfg->paths, .check_id = check_id,
                                    .check_user = in};
    atomic_init(&in->bytes_done, 0);
    in->hash_mask = ~UINT64_C(0);
    const char *bits = getenv("RIBO_TEST_ID_HASH_BITS"); /* test hook: exercise the exact re-read */
    if (bits && atoi(bits) > 0 && atoi(bits) < 64) in->hash_mask = ((UINT64_C(1) << atoi(bits)) - 1) << (64 - atoi(bits));
    for (int f = 0; f < cfg->n_paths; ++f) {
        struct stat sb;
        if (stat(cfg->paths[f], &sb) == 0) in->sizes[f] = (uint64_t)sb.st_size;
        in->bytes_total += in->sizes[f];
    }
    /* Opening the first file now reports a missing input before any device work starts. */
    ribo_status s = ribo_fasta_open(cfg->paths[0], &in->reader, err);
    if (s != RIBO_OK) {
        ribo_input_close(in);
        return s;
    }
    *out = in;
    return RIBO_OK;
}

/* Reads the next record of the input into rec (opening the following files as needed). */
static ribo_status next_record(ribo_input *in, ribo_fasta_record *rec, bool *has, ribo_error *err) {
    *has = false;
    while (in->file < in->cfg.n_paths) {
        if (!in->reader) RIBO_TRY(ribo_fasta_open(in->cfg.paths[in->file], &in->reader, err));
        RIBO_TRY(ribo_fasta_next(in->reader, rec, has, err));
        atomic_store(&in->bytes_done, in->bytes_before + ribo_fasta_bytes_read(in->reader));
        if (*has) return RIBO_OK;
        ribo_fasta_close(in->reader);
        in->reader = NULL;
        in->bytes_before += in->sizes[in->file];
        atomic_store(&in->bytes_done, in->bytes_before);
        ++in->file;
    }
    return RIBO_OK;
}

/* Hash of the window's ids and tokens, in order. */
static uint64_t window_hash(const ribo_seqset *set) {
    uint64_t h = RIBO_HASH_INIT;
    for (size_t i = 0; i < set->n; ++i) h = ribo_hash_str(h, set->ids[i]);
    if (set->n) h = ribo_hash_bytes(h, set->tokens, (size_t)set->offsets[set->n] * sizeof *set->tokens);
    return ribo_hash_final(h);
}

ribo_status ribo_input_next(ribo_input *in, ribo_input_window *win, bool *has, ribo_error *err) {
    *has = false;
    if (in->exhausted) return RIBO_OK;
    ribo_seqset_clear(&win->set);
    win->read_s = win->tokenize_s = 0;
    bool any = false;
    for (;;) {
        ribo_fasta_record rec;
        bool got = false;
        double t0 = ribo_now_seconds();
        RIBO_TRY(next_record(in, &rec, &got, err));
        double t1 = ribo_now_seconds();
        win->read_s += t1 - t0;
        if (!got) {
            in->exhausted = true;
            break;
        }
        any = true;
        RIBO_TRY(ribo_seqset_add_record(&win->set, &in->ctx, in->file, &rec, err));
        win->tokenize_s += ribo_now_seconds() - t1;
        size_t tokens = win->set.n ? (size_t)win->set.offsets[win->set.n] : 0;
        if (win->set.n >= in->cfg.window_seqs || tokens >= in->cfg.window_tokens) break;
    }
    if (!any && win->set.n == 0) return RIBO_OK;
    win->index = in->windows++;
    win->row_begin = in->rows;
    win->n_tokens = win->set.n ? (uint64_t)win->set.offsets[win->set.n] : 0;
    win->hash = window_hash(&win->set);
    in->rows += win->set.n;
    *has = true;
    return RIBO_OK;
}

bool ribo_input_exhausted(const ribo_input *in) { return in->exhausted; }

void ribo_input_progress(const ribo_input *in, uint64_t *done, uint64_t *total) {
    *done = atomic_load(&((ribo_input *)in)->bytes_done);
    *total = in->bytes_total;
}

void ribo_input_close(ribo_input *in) {
    if (!in) return;
    ribo_fasta_close(in->reader);
    for (int i = 0; i < HASH_PARTS; ++i) free(in->ids.part[i].slots);
    free(in->sizes);
    free(in);
}

void ribo_input_window_free(ribo_input_window *win) {
    if (!win) return;
    ribo_seqset_free(&win->set);
    memset(win, 0, sizeof *win);
}
