/* Windowed FASTA reading with whole-input duplicate-id detection (see input_stream.h). */
#include "engine/input/input_stream.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

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

/* The ids read from inputs that cannot be read a second time (pipes, FIFOs, sockets, character
 * devices such as /dev/stdin): the exact check behind a hash match looks them up here instead of
 * re-reading. One entry per id, in input order: varint file, varint record, varint length, the id's
 * bytes (about length + 3 bytes per id; nothing is kept for regular files, which are re-read). */
typedef struct id_log {
    unsigned char *bytes;
    size_t n, cap;
} id_log;

static void put_varint(unsigned char *p, size_t *at, uint64_t v) {
    for (; v >= 0x80; v >>= 7) p[(*at)++] = (unsigned char)(v | 0x80);
    p[(*at)++] = (unsigned char)v;
}

static uint64_t get_varint(const unsigned char *p, size_t *at) {
    uint64_t v = 0;
    for (int shift = 0;; shift += 7) {
        unsigned char b = p[(*at)++];
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) return v;
    }
}

/* Appends (file, record, id), growing the buffer by half as needed. */
static ribo_status id_log_add(id_log *l, int file, size_t record, const char *id, ribo_error *err) {
    size_t len = strlen(id), need = l->n + len + 30; /* three varints of at most 10 bytes */
    if (need > l->cap) {
        size_t cap = l->cap ? l->cap + l->cap / 2 : 4096;
        if (cap < need) cap = need;
        unsigned char *b = realloc(l->bytes, cap);
        if (!b) return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "out of memory keeping the ids of a piped input");
        l->bytes = b;
        l->cap = cap;
    }
    put_varint(l->bytes, &l->n, (uint64_t)file);
    put_varint(l->bytes, &l->n, (uint64_t)record);
    put_varint(l->bytes, &l->n, (uint64_t)len);
    memcpy(l->bytes + l->n, id, len);
    l->n += len;
    return RIBO_OK;
}

/* Looks for id in the log: *found_file < 0 when it is not there. */
static void id_log_find(const id_log *l, const char *id, int *found_file, size_t *found_record) {
    size_t len = strlen(id);
    for (size_t at = 0; at < l->n;) {
        int f = (int)get_varint(l->bytes, &at);
        size_t rec = (size_t)get_varint(l->bytes, &at), n = (size_t)get_varint(l->bytes, &at);
        if (n == len && memcmp(l->bytes + at, id, len) == 0) {
            *found_file = f;
            *found_record = rec;
            return;
        }
        at += n;
    }
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
    bool *rereadable;           /* per file: a regular file (re-read by the exact check) */
    id_log piped_ids;           /* the ids of the other inputs (see id_log) */
    uint64_t hash_mask;         /* all ones; RIBO_TEST_ID_HASH_BITS=n keeps n bits (forces collisions) */
    uint64_t *sizes;            /* file sizes */
    uint64_t bytes_total, bytes_before; /* all files; files finished before `file` */
    _Atomic uint64_t bytes_done;
    /* in-memory records (cfg.mem_ids): the next one, and the cleaned sequence of the current one */
    size_t mem_next;
    char *mem_seq;
    size_t mem_cap;
    const char *mem_paths[1];
};

static uint64_t id_hash(const ribo_input *in, const char *id) {
    uint64_t h = ribo_hash_final(ribo_hash_str(RIBO_HASH_INIT, id)) & in->hash_mask;
    return h ? h : 1;
}

/* The next in-memory record as a FASTA record would be: the sequence without its whitespace; an
 * empty id or a control character refused, naming the record. */
static ribo_status mem_record(ribo_input *in, ribo_fasta_record *rec, bool *has, ribo_error *err) {
    *has = false;
    if (in->mem_next >= in->cfg.n_mem) return RIBO_OK;
    size_t i = in->mem_next++;
    atomic_store(&in->bytes_done, (uint64_t)in->mem_next); /* progress counts records */
    const char *name = in->mem_paths[0], *id = in->cfg.mem_ids[i], *seq = in->cfg.mem_seqs[i];
    if (!id || !id[0]) return ribo_error_set(err, RIBO_ERR_INPUT, "%s: record %zu: empty id", name, i + 1);
    if (!seq) return ribo_error_set(err, RIBO_ERR_INPUT, "%s: record %zu ('%s'): no sequence", name, i + 1, id);
    for (const unsigned char *c = (const unsigned char *)id; *c; ++c)
        if (*c < 0x20 || *c == 0x7f)
            return ribo_error_set(err, RIBO_ERR_INPUT, "%s: record %zu: id holds control character 0x%02x", name, i + 1,
                                  *c);
    size_t len = strlen(seq);
    if (len + 1 > in->mem_cap) {
        char *b = realloc(in->mem_seq, len + 1);
        if (!b) return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "out of host memory");
        in->mem_seq = b;
        in->mem_cap = len + 1;
    }
    size_t n = 0;
    for (size_t k = 0; k < len; ++k) {
        unsigned char c = (unsigned char)seq[k];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f') continue;
        if (c < 0x20 || c == 0x7f)
            return ribo_error_set(err, RIBO_ERR_INPUT, "%s: record %zu ('%s'): control character 0x%02x at position %zu",
                                  name, i + 1, id, c, k + 1);
        in->mem_seq[n++] = (char)c;
    }
    in->mem_seq[n] = '\0';
    *rec = (ribo_fasta_record){.id = id, .header = id, .seq = in->mem_seq, .seq_len = n, .record_number = i + 1,
                               .line_number = 0};
    *has = true;
    return RIBO_OK;
}

/* Re-reads the regular-file inputs from the start up to (file, record) and looks for a kept sequence
 * with this id (inputs that cannot be re-read are skipped: their ids are in the id log). */
static ribo_status rescan(const ribo_input *in, int file, size_t record, const char *id, int *found_file,
                          size_t *found_record, ribo_error *err) {
    *found_file = -1;
    ribo_record_context ctx = in->ctx;
    ctx.check_id = NULL;
    ribo_seqset scratch;
    memset(&scratch, 0, sizeof scratch);
    ribo_status s = RIBO_OK;
    if (in->cfg.mem_ids) {
        /* the records before this one, through the same per-record step (skipped records and
         * translated frames come out as they did) */
        ribo_input scan = *in;
        scan.mem_next = 0;
        scan.mem_seq = NULL;
        scan.mem_cap = 0;
        for (size_t i = 0; s == RIBO_OK && i + 1 < record && *found_file < 0; ++i) {
            ribo_fasta_record rec;
            bool has = false;
            s = mem_record(&scan, &rec, &has, err);
            if (s != RIBO_OK || !has) break;
            ribo_seqset_clear(&scratch);
            s = ribo_seqset_add_record(&scratch, &ctx, 0, &rec, err);
            for (size_t k = 0; s == RIBO_OK && k < scratch.n; ++k)
                if (strcmp(scratch.ids[k], id) == 0) {
                    *found_file = 0;
                    *found_record = rec.record_number;
                }
        }
        free(scan.mem_seq);
        ribo_seqset_free(&scratch);
        return s;
    }
    for (int f = 0; s == RIBO_OK && f <= file && *found_file < 0; ++f) {
        if (!in->rereadable[f]) continue;
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

/* The exact check behind a hash match: the id log (ids of inputs that cannot be re-read), then the
 * regular files re-read up to (file, record). *found_file < 0 when the id was not seen before (a
 * hash collision). */
static ribo_status find_earlier(const ribo_input *in, int file, size_t record, const char *id, int *found_file,
                                size_t *found_record, ribo_error *err) {
    *found_file = -1;
    id_log_find(&in->piped_ids, id, found_file, found_record);
    if (*found_file >= 0) return RIBO_OK;
    return rescan(in, file, record, id, found_file, found_record, err);
}

/* Remembers an id: its hash, and the id itself when its input cannot be re-read. */
static ribo_status remember_id(ribo_input *in, uint64_t h, int file, size_t record, const char *id, ribo_error *err) {
    if (!in->rereadable[file]) RIBO_TRY(id_log_add(&in->piped_ids, file, record, id, err));
    return hash_add(&in->ids, h, err);
}

/* The id check of the per-record step: hash screen, exact check on a match, then remember. */
static ribo_status check_id(void *user, int file, const ribo_fasta_record *rec, const char *id, ribo_error *err) {
    ribo_input *in = user;
    uint64_t h = id_hash(in, id);
    if (hash_find(&in->ids, h)) {
        int ff = -1;
        size_t fr = 0;
        RIBO_TRY(find_earlier(in, file, rec->record_number, id, &ff, &fr, err));
        if (ff >= 0)
            return ribo_error_set(err, RIBO_ERR_INPUT,
                                  "%s: record %zu ('%s'): duplicate id '%s' (first seen in %s, record %zu)",
                                  in->cfg.paths[file], rec->record_number, rec->id, id, in->cfg.paths[ff], fr);
        /* A collision of two different ids: the table already holds h, the log needs the id. */
        return in->rereadable[file] ? RIBO_OK : id_log_add(&in->piped_ids, file, rec->record_number, id, err);
    }
    return remember_id(in, h, file, rec->record_number, id, err);
}

/* Test hook: RIBO_TEST_INPUT_OPEN_DELAY_MS=n waits n ms before the inputs are opened for reading (a
 * FIFO writer that finishes meanwhile must still be read). */
static void test_open_delay(void) {
    const char *ms = getenv("RIBO_TEST_INPUT_OPEN_DELAY_MS");
    long n = ms ? atol(ms) : 0;
    if (n <= 0) return;
    struct timespec ts = {.tv_sec = n / 1000, .tv_nsec = (n % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

ribo_status ribo_input_open(const ribo_input_config *cfg, ribo_input **out, ribo_error *err) {
    *out = NULL;
    bool mem = cfg->mem_ids != NULL;
    if ((mem ? !cfg->mem_seqs : cfg->n_paths < 1 || !cfg->paths) || !cfg->tok || !cfg->opts || !cfg->window_tokens ||
        !cfg->window_seqs)
        return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "ribo_input_open: bad arguments");
    RIBO_TRY(ribo_seqset_check_options(cfg->opts, err));
    ribo_input *in = calloc(1, sizeof *in);
    int n_files = mem ? 1 : cfg->n_paths;
    if (in) in->sizes = calloc((size_t)n_files, sizeof *in->sizes);
    if (in) in->rereadable = calloc((size_t)n_files, sizeof *in->rereadable);
    if (!in || !in->sizes || !in->rereadable) {
        ribo_input_close(in);
        return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    in->cfg = *cfg;
    if (mem) { /* one "file": the batch, re-readable by the duplicate check */
        in->mem_paths[0] = cfg->mem_name ? cfg->mem_name : "sequences";
        in->cfg.paths = in->mem_paths;
        in->cfg.n_paths = 1;
    }
    in->opts = *cfg->opts;
    in->ctx = (ribo_record_context){.tok = cfg->tok, .opts = &in->opts, .paths = in->cfg.paths, .check_id = check_id,
                                    .check_user = in};
    atomic_init(&in->bytes_done, 0);
    in->hash_mask = ~UINT64_C(0);
    const char *bits = getenv("RIBO_TEST_ID_HASH_BITS"); /* test hook: exercise the exact re-read */
    if (bits && atoi(bits) > 0 && atoi(bits) < 64) in->hash_mask = ((UINT64_C(1) << atoi(bits)) - 1) << (64 - atoi(bits));
    if (mem) {
        in->rereadable[0] = true;
        in->bytes_total = (uint64_t)cfg->n_mem;
        *out = in;
        return RIBO_OK;
    }
    for (int f = 0; f < cfg->n_paths; ++f) {
        struct stat sb; /* stat, not open: a FIFO is opened once, to be read */
        bool regular = stat(cfg->paths[f], &sb) == 0 && S_ISREG(sb.st_mode);
        in->rereadable[f] = regular;
        in->sizes[f] = regular ? (uint64_t)sb.st_size : 0;
        in->bytes_total += in->sizes[f];
    }
    test_open_delay();
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
    if (in->cfg.mem_ids) return mem_record(in, rec, has, err);
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
    free(in->mem_seq);
    for (int i = 0; i < HASH_PARTS; ++i) free(in->ids.part[i].slots);
    free(in->piped_ids.bytes);
    free(in->rereadable);
    free(in->sizes);
    free(in);
}

void ribo_input_window_free(ribo_input_window *win) {
    if (!win) return;
    ribo_seqset_free(&win->set);
    memset(win, 0, sizeof *win);
}
