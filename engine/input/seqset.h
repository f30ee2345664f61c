/* A set of input sequences, validated and tokenized, in input order: what the streaming reader
 * (input_stream.h) fills one window at a time, one FASTA record at a time. */
#ifndef RIBO_ENGINE_SEQSET_H
#define RIBO_ENGINE_SEQSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/base/error.h"
#include "engine/io/fasta.h"
#include "engine/tokenize/tokenizer.h"

typedef struct ribo_seqset_options {
    size_t max_residues;   /* truncate longer sequences to this many residues (warning count) */
    bool error_if_longer;  /* instead of truncating, fail naming the record (--truncate 0) */
    bool skip_invalid;     /* skip empty records with a warning count instead of failing */
    int translate_frames;  /* 0, or 6: each record is DNA and becomes its six translated frames,
                              ids <id>_F1 .. <id>_R3 (frame convention in translate.h) */
    bool drop_stop_frames; /* with translate_frames: leave out frames containing a stop codon */
    bool dna_input;        /* the model reads DNA: records must be ACGTN (case folded to uppercase) */
    bool lenient;          /* DNA input: count characters outside ACGTN instead of failing (seqprep.h) */
} ribo_seqset_options;

typedef struct ribo_seqset {
    size_t n;              /* sequences kept, in input order */
    char **ids;            /* n ids (malloc'd) */
    int64_t *offsets;      /* n+1 offsets into tokens */
    int32_t *tokens;       /* all token ids, <cls> ... <eos> per sequence */
    size_t n_unknown;      /* residues mapped to <unk> */
    size_t n_truncated;    /* sequences truncated */
    size_t n_skipped;      /* empty records skipped */
    size_t n_stop_frames;  /* translated frames left out for a stop codon */
    size_t n_short_frames; /* translated frames shorter than one codon (left out) */
    size_t n_lenient;      /* DNA characters outside ACGTN let through (lenient) */
    size_t max_len;        /* longest token count */
    size_t cap_seqs, cap_tokens; /* allocated room, grown by ribo_seqset_add_record */
    struct ribo_seqprep *prep;   /* per-record preparation buffer (seqprep.h), owned */
} ribo_seqset;

/* Called for every id just before it is added to a set: returns an error naming both places when
 * the id was seen before (in this window or an earlier one), else remembers it. */
typedef ribo_status (*ribo_seqset_id_check)(void *user, int file, const ribo_fasta_record *rec, const char *id,
                                            ribo_error *err);

/* What the per-record step needs besides the record. */
typedef struct ribo_record_context {
    const ribo_tokenizer *tok;
    const ribo_seqset_options *opts;
    const char *const *paths;       /* input paths (messages name paths[file]) */
    ribo_seqset_id_check check_id;  /* NULL: no duplicate check */
    void *check_user;
} ribo_record_context;

/* Refuses option combinations the per-record step cannot do (translate_frames other than 0/6, or
 * with dna_input). ribo_input_open checks once; ribo_seqset_add_record trusts them. */
ribo_status ribo_seqset_check_options(const ribo_seqset_options *opts, ribo_error *err);

/* The per-record step of the streaming reader (input_stream.c): validates one FASTA record of file
 * `file`, turns it into its sequence(s) through ribo_seqprep_record (as it is, DNA-checked, or six
 * translated frames, each under its own id), checks each id with ctx->check_id and appends the
 * sequences, tokenized, to set (counting skipped / truncated / unknown / frames / lenient). Errors
 * name the file and record (number and id): empty record (unless skip_invalid), too long with
 * error_if_longer, a character outside ACGTN when reading DNA (with its position), and the id
 * check's own errors (a duplicate id). */
ribo_status ribo_seqset_add_record(ribo_seqset *set, const ribo_record_context *ctx, int file,
                                   const ribo_fasta_record *rec, ribo_error *err);

/* Empties set for reuse (n = 0, counters zeroed) and keeps its allocations. */
void ribo_seqset_clear(ribo_seqset *set);

static inline int32_t ribo_seqset_len(const ribo_seqset *s, size_t i) {
    return (int32_t)(s->offsets[i + 1] - s->offsets[i]);
}

void ribo_seqset_free(ribo_seqset *set);

#endif
