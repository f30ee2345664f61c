/* Turns one FASTA record into the sequences the tokenizer receives (see seqprep.h). */
#include "engine/input/seqprep.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Grows p->buf to at least need bytes (contents are not kept). */
static ribo_status reserve_buf(ribo_seqprep *p, size_t need, const char *path, const ribo_fasta_record *rec,
                               ribo_error *err) {
    if (need <= p->buf_cap) return RIBO_OK;
    size_t cap = p->buf_cap ? p->buf_cap : 4096;
    while (cap < need) cap *= 2;
    char *b = malloc(cap);
    if (!b)
        return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "%s: record %zu ('%s'): out of memory preparing %zu bases",
                              path, rec->record_number, rec->id, rec->seq_len);
    free(p->buf);
    p->buf = b;
    p->buf_cap = cap;
    return RIBO_OK;
}

/* True for A, C, G, T, N in either case. */
static bool is_acgtn(char c) {
    switch (c) {
    case 'A': case 'C': case 'G': case 'T': case 'N':
    case 'a': case 'c': case 'g': case 't': case 'n': return true;
    default: return false;
    }
}

/* The error for the first character outside ACGTN; `hint` says what --lenient would do. */
static ribo_status bad_base(const char *path, const ribo_fasta_record *rec, const char *hint, ribo_error *err) {
    char c = 0;
    size_t pos = ribo_dna_check(rec->seq, rec->seq_len, &c);
    unsigned char u = (unsigned char)c;
    char shown[16];
    if (u > 0x20 && u < 0x7f) snprintf(shown, sizeof shown, "'%c'", c);
    else snprintf(shown, sizeof shown, "byte 0x%02x", u);
    return ribo_error_set(err, RIBO_ERR_INPUT,
                          "%s: record %zu ('%s'): invalid DNA character %s at position %zu (only A, C, G, T, N are "
                          "allowed; --lenient %s)",
                          path, rec->record_number, rec->id, shown, pos, hint);
}

/* Characters outside ACGTN in the record: fails at the first one unless lenient, else counts them. */
static ribo_status check_bases(const ribo_seqprep *p, const char *path, const ribo_fasta_record *rec,
                               const char *hint, ribo_seqprep_stats *stats, ribo_error *err) {
    if (!p->opts.lenient) return ribo_dna_check(rec->seq, rec->seq_len, NULL) ? bad_base(path, rec, hint, err) : RIBO_OK;
    for (size_t i = 0; i < rec->seq_len; ++i) stats->n_lenient += !is_acgtn(rec->seq[i]);
    return RIBO_OK;
}

/* DNA model: the record checked and folded to uppercase (a lenient character is folded, not changed). */
static ribo_status prep_dna(ribo_seqprep *p, const char *path, const ribo_fasta_record *rec,
                            ribo_seqprep_stats *stats, ribo_error *err) {
    RIBO_TRY(check_bases(p, path, rec, "passes it to the tokenizer as unknown", stats, err));
    RIBO_TRY(reserve_buf(p, rec->seq_len + 1, path, rec, err));
    for (size_t i = 0; i < rec->seq_len; ++i) {
        char c = rec->seq[i];
        p->buf[i] = c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
    }
    p->buf[rec->seq_len] = '\0';
    p->entries[0] = (ribo_seqprep_entry){rec->id, p->buf, rec->seq_len};
    p->n = 1;
    return RIBO_OK;
}

/* Protein model fed DNA: the six frames, each as "<id>_<frame>"; short (and, if asked, stop) frames
 * are left out and counted. */
static ribo_status prep_frames(ribo_seqprep *p, const char *path, const ribo_fasta_record *rec,
                               ribo_seqprep_stats *stats, ribo_error *err) {
    RIBO_TRY(check_bases(p, path, rec, "reads it as N", stats, err));
    size_t id_len = strlen(rec->id), need = 0;
    for (int f = 0; f < RIBO_N_FRAMES; ++f) need += ribo_frame_length(rec->seq_len, f) + 1 + id_len + 4;
    RIBO_TRY(reserve_buf(p, need, path, rec, err));
    char *at = p->buf;
    p->n = 0;
    for (int f = 0; f < RIBO_N_FRAMES; ++f) {
        if (ribo_frame_length(rec->seq_len, f) == 0) {
            ++stats->n_short_frames;
            continue;
        }
        bool stop = false;
        size_t len = ribo_translate_frame(rec->seq, rec->seq_len, f, at, &stop);
        if (stop && p->opts.drop_stop_frames) {
            ++stats->n_stop_frames;
            continue;
        }
        char *id = at + len + 1;
        snprintf(id, id_len + 4, "%s_%s", rec->id, ribo_frame_name(f));
        p->entries[p->n++] = (ribo_seqprep_entry){id, at, len};
        at = id + id_len + 4;
    }
    return RIBO_OK;
}

ribo_status ribo_seqprep_record(ribo_seqprep *p, const char *path, const ribo_fasta_record *rec,
                                ribo_seqprep_stats *stats, ribo_error *err) {
    p->n = 0;
    if (p->opts.translate_frames) return prep_frames(p, path, rec, stats, err);
    if (p->opts.dna_input) return prep_dna(p, path, rec, stats, err);
    p->entries[0] = (ribo_seqprep_entry){rec->id, rec->seq, rec->seq_len};
    p->n = 1;
    return RIBO_OK;
}

void ribo_seqprep_free(ribo_seqprep *p) {
    if (!p) return;
    free(p->buf);
    p->buf = NULL;
    p->buf_cap = 0;
    p->n = 0;
}
