/* Loads every input FASTA file into one tokenized, validated, input-ordered sequence set. The
 * per-record step (ribo_seqset_add_record) is shared with the streaming reader (input_stream.c). */
#include "engine/input/seqset.h"

#include <stdlib.h>
#include <string.h>

#include "engine/io/fasta.h"
#include "engine/input/seqprep.h"

/* Where a kept sequence came from (for duplicate-id messages). */
typedef struct seq_origin {
    int file;
    size_t record;
} seq_origin;

/* Open-addressing hash set of kept ids; slot value is index+1 into the set (0 = empty). */
typedef struct id_slot {
    uint64_t hash;
    size_t idx1;
} id_slot;

typedef struct id_table {
    id_slot *slots;
    size_t cap, n; /* cap is a power of two */
} id_table;

/* Duplicate-id index of one ribo_seqset_load (the id check callback's state). */
typedef struct id_index {
    const ribo_seqset *set;
    const char *const *paths;
    seq_origin *origins;    /* per set index */
    size_t origins_cap;
    id_table ids;
} id_index;

/* State of one record step. */
typedef struct seq_loader {
    ribo_seqset *set;
    const char *const *paths;
    const ribo_tokenizer *tok;
    ribo_seqset_options opts;
    const ribo_record_context *ctx;
} seq_loader;

/* FNV-1a over the id, with a final avalanche so that low bits are usable as a table index. */
static uint64_t hash_id(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; ++s) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

/* Index+1 of id in the set, or 0. */
static size_t id_find(const id_index *L, const char *id, uint64_t h) {
    if (!L->ids.cap) return 0;
    size_t mask = L->ids.cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        const id_slot *sl = &L->ids.slots[i];
        if (!sl->idx1) return 0;
        if (sl->hash == h && strcmp(L->set->ids[sl->idx1 - 1], id) == 0) return sl->idx1;
    }
}

/* Places a slot into a table that has room (no duplicate check). */
static void id_place(id_slot *slots, size_t cap, id_slot s) {
    size_t mask = cap - 1, i = s.hash & mask;
    while (slots[i].idx1) i = (i + 1) & mask;
    slots[i] = s;
}

/* Adds set index idx under hash h, doubling the table to keep the load at most 1/2. */
static ribo_status id_insert(id_index *L, uint64_t h, size_t idx, ribo_error *err) {
    id_table *t = &L->ids;
    if ((t->n + 1) * 2 > t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 1024;
        id_slot *slots = calloc(cap, sizeof *slots);
        if (!slots) return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "out of memory indexing %zu sequence ids", t->n);
        for (size_t i = 0; i < t->cap; ++i)
            if (t->slots[i].idx1) id_place(slots, cap, t->slots[i]);
        free(t->slots);
        t->slots = slots;
        t->cap = cap;
    }
    id_place(t->slots, t->cap, (id_slot){h, idx + 1});
    ++t->n;
    return RIBO_OK;
}

/* Grows the per-sequence arrays to hold one more sequence (offsets[0] = 0 once allocated). */
static ribo_status reserve_seq(ribo_seqset *s, ribo_error *err) {
    if (s->offsets && s->n + 1 <= s->cap_seqs) return RIBO_OK;
    size_t cap = s->cap_seqs ? s->cap_seqs * 2 : 1024;
    char **ids = realloc(s->ids, cap * sizeof *ids);
    if (ids) s->ids = ids;
    int64_t *off = ids ? realloc(s->offsets, (cap + 1) * sizeof *off) : NULL;
    if (!off) return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "out of memory holding %zu sequences", s->n + 1);
    if (!s->offsets) off[0] = 0;
    s->offsets = off;
    s->cap_seqs = cap;
    return RIBO_OK;
}

/* Grows the token array to hold need more ids. */
static ribo_status reserve_tokens(seq_loader *L, size_t need, ribo_error *err) {
    ribo_seqset *s = L->set;
    size_t used = (size_t)s->offsets[s->n];
    if (used + need <= s->cap_tokens) return RIBO_OK;
    size_t cap = s->cap_tokens ? s->cap_tokens : 1u << 16;
    while (cap < used + need) cap *= 2;
    int32_t *p = realloc(s->tokens, cap * sizeof *p);
    if (!p) return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "out of memory holding %zu tokens", used + need);
    s->tokens = p;
    s->cap_tokens = cap;
    return RIBO_OK;
}

/* ribo_seqset_load's id check: the id against all earlier ones (the message names both places),
 * then remembered under the set index it is about to get. */
static ribo_status check_duplicate(void *user, int file, const ribo_fasta_record *rec, const char *id,
                                   ribo_error *err) {
    id_index *L = user;
    uint64_t h = hash_id(id);
    size_t idx1 = id_find(L, id, h);
    if (idx1) {
        const seq_origin *o = &L->origins[idx1 - 1];
        return ribo_error_set(err, RIBO_ERR_INPUT,
                              "%s: record %zu ('%s'): duplicate id '%s' (first seen in %s, record %zu)",
                              L->paths[file], rec->record_number, rec->id, id, L->paths[o->file], o->record);
    }
    size_t idx = L->set->n;
    if (idx >= L->origins_cap) {
        size_t cap = L->origins_cap ? L->origins_cap * 2 : 1024;
        seq_origin *org = realloc(L->origins, cap * sizeof *org);
        if (!org) return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "out of memory holding %zu sequences", idx + 1);
        L->origins = org;
        L->origins_cap = cap;
    }
    L->origins[idx] = (seq_origin){file, rec->record_number};
    return id_insert(L, h, idx, err);
}

/* Tokenizes one sequence of a record onto the end of the token array; fails if too long with
 * error_if_longer (naming the sequence's own id, e.g. a translated frame's). */
static ribo_status encode_entry(seq_loader *L, int file, const ribo_fasta_record *rec, const ribo_seqprep_entry *e,
                                ribo_error *err) {
    ribo_seqset *s = L->set;
    size_t limit = L->opts.error_if_longer ? 0 : L->opts.max_residues;
    size_t keep = (limit && limit < e->len) ? limit : e->len; /* content tokens <= characters */
    size_t before = 0, after = 0;
    ribo_tokenizer_added_counts(L->tok, &before, &after);
    RIBO_TRY(reserve_tokens(L, keep + before + after, err));
    size_t used = (size_t)s->offsets[s->n], n_out = 0;
    ribo_encode_stats st = {0};
    ribo_status rc = ribo_tokenizer_encode(L->tok, e->seq, e->len, limit, s->tokens + used, s->cap_tokens - used,
                                           &n_out, &st, err);
    if (rc != RIBO_OK)
        return ribo_error_prefix(err, "%s: record %zu ('%s')", L->paths[file], rec->record_number, e->id);
    size_t max = L->opts.max_residues;
    if (L->opts.error_if_longer && max && st.n_residues_in > max)
        return ribo_error_set(err, RIBO_ERR_INPUT,
                              "%s: record %zu ('%s'): sequence has %zu %s, more than the limit of %zu "
                              "(pass --truncate N to keep only the first N %s)",
                              L->paths[file], rec->record_number, e->id, st.n_residues_in,
                              L->opts.dna_input ? "tokens" : "residues", max, L->opts.dna_input ? "tokens" : "residues");
    s->n_unknown += st.n_unknown;
    s->n_truncated += st.truncated;
    s->offsets[s->n + 1] = (int64_t)(used + n_out);
    if (n_out > s->max_len) s->max_len = n_out;
    return RIBO_OK;
}

/* Checks, tokenizes and keeps one sequence of a record under its id. */
static ribo_status add_entry(seq_loader *L, int file, const ribo_fasta_record *rec, const ribo_seqprep_entry *e,
                             ribo_error *err) {
    ribo_seqset *s = L->set;
    if (L->ctx->check_id) RIBO_TRY(L->ctx->check_id(L->ctx->check_user, file, rec, e->id, err));
    RIBO_TRY(reserve_seq(s, err));
    RIBO_TRY(encode_entry(L, file, rec, e, err));
    s->ids[s->n] = strdup(e->id);
    if (!s->ids[s->n]) return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "out of memory copying ids");
    ++s->n;
    return RIBO_OK;
}

/* Validates one record, turns it into its sequences (as it is, DNA-checked, or translated frames;
 * the set's own seqprep buffer) and keeps each of them. */
static ribo_status add_record(seq_loader *L, int file, const ribo_fasta_record *rec, ribo_error *err) {
    ribo_seqset *s = L->set;
    if (rec->seq_len == 0) {
        if (L->opts.skip_invalid) {
            ++s->n_skipped;
            return RIBO_OK;
        }
        return ribo_error_set(err, RIBO_ERR_INPUT, "%s: record %zu ('%s'): empty sequence (--skip-invalid skips such "
                              "records)", L->paths[file], rec->record_number, rec->id);
    }
    if (!s->prep) {
        s->prep = calloc(1, sizeof *s->prep);
        if (!s->prep) return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    s->prep->opts = (ribo_seqprep_options){L->opts.translate_frames, L->opts.drop_stop_frames, L->opts.dna_input,
                                           L->opts.lenient};
    ribo_seqprep_stats stats = {0};
    ribo_status st = ribo_seqprep_record(s->prep, L->paths[file], rec, &stats, err);
    s->n_stop_frames += stats.n_stop_frames;
    s->n_short_frames += stats.n_short_frames;
    s->n_lenient += stats.n_lenient;
    RIBO_TRY(st);
    for (size_t i = 0; i < s->prep->n; ++i) RIBO_TRY(add_entry(L, file, rec, &s->prep->entries[i], err));
    return RIBO_OK;
}

ribo_status ribo_seqset_check_options(const ribo_seqset_options *opts, ribo_error *err) {
    if (opts->translate_frames != 0 && opts->translate_frames != RIBO_N_FRAMES)
        return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "translate_frames must be 0 or 6, not %d",
                              opts->translate_frames);
    if (opts->translate_frames && opts->dna_input)
        return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "--translate needs a protein model (this model reads DNA)");
    return RIBO_OK;
}

ribo_status ribo_seqset_add_record(ribo_seqset *set, const ribo_record_context *ctx, int file,
                                   const ribo_fasta_record *rec, ribo_error *err) {
    seq_loader L = {.set = set, .paths = ctx->paths, .tok = ctx->tok, .opts = *ctx->opts, .ctx = ctx};
    RIBO_TRY(reserve_seq(set, err));
    return add_record(&L, file, rec, err);
}

/* Reads one file to its end. */
static ribo_status load_file(ribo_seqset *set, const ribo_record_context *ctx, int file, ribo_error *err) {
    ribo_fasta_reader *r = NULL;
    RIBO_TRY(ribo_fasta_open(ctx->paths[file], &r, err));
    ribo_status s = RIBO_OK;
    for (;;) {
        ribo_fasta_record rec;
        bool has = false;
        s = ribo_fasta_next(r, &rec, &has, err);
        if (s != RIBO_OK || !has) break;
        s = ribo_seqset_add_record(set, ctx, file, &rec, err);
        if (s != RIBO_OK) break;
    }
    ribo_fasta_close(r);
    return s;
}

ribo_status ribo_seqset_load(const char *const *paths, int n_paths, const ribo_tokenizer *tok,
                             const ribo_seqset_options *opts, ribo_seqset *out, ribo_error *err) {
    if (!out) return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "ribo_seqset_load: NULL output");
    memset(out, 0, sizeof *out);
    if (!tok || !opts || n_paths < 0 || (n_paths > 0 && !paths))
        return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "ribo_seqset_load: bad arguments");
    RIBO_TRY(ribo_seqset_check_options(opts, err));
    id_index ids = {.set = out, .paths = paths};
    ribo_record_context ctx = {.tok = tok, .opts = opts, .paths = paths, .check_id = check_duplicate, .check_user = &ids};
    ribo_status s = reserve_seq(out, err);
    for (int f = 0; s == RIBO_OK && f < n_paths; ++f) s = load_file(out, &ctx, f, err);
    free(ids.origins);
    free(ids.ids.slots);
    if (s != RIBO_OK) ribo_seqset_free(out);
    return s;
}

void ribo_seqset_clear(ribo_seqset *set) {
    if (!set) return;
    if (set->ids)
        for (size_t i = 0; i < set->n; ++i) free(set->ids[i]);
    set->n = 0;
    set->n_unknown = set->n_truncated = set->n_skipped = set->max_len = 0;
    set->n_stop_frames = set->n_short_frames = set->n_lenient = 0;
}

void ribo_seqset_free(ribo_seqset *set) {
    if (!set) return;
    if (set->ids)
        for (size_t i = 0; i < set->n; ++i) free(set->ids[i]);
    free(set->ids);
    free(set->offsets);
    free(set->tokens);
    if (set->prep) ribo_seqprep_free(set->prep);
    free(set->prep);
    memset(set, 0, sizeof *set);
}
