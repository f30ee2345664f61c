/* One FASTA record -> the sequences the model's tokenizer receives: the record as it is (protein
 * model), the record checked and case-folded (DNA model), or its six translated reading frames
 * (protein model fed DNA). Used per record by the sequence set; a streaming reader can call it the
 * same way. */
#ifndef RIBO_ENGINE_SEQPREP_H
#define RIBO_ENGINE_SEQPREP_H

#include <stdbool.h>
#include <stddef.h>

#include "engine/base/error.h"
#include "engine/io/fasta.h"
#include "engine/input/translate.h"

typedef struct ribo_seqprep_options {
    int translate_frames;  /* 0: off; 6: the record is DNA, embed its six frames (ids <id>_F1.._R3) */
    bool drop_stop_frames; /* with translate_frames: leave out frames whose protein has a stop ('*') */
    bool dna_input;        /* the model reads DNA: fold to uppercase, only A, C, G, T, N allowed */
    bool lenient;          /* characters outside ACGTN are counted instead of failing: passed on
                              (folded) to the tokenizer with dna_input, read as N when translating */
} ribo_seqprep_options;

/* One sequence to tokenize; pointers are valid until the next ribo_seqprep_record call. */
typedef struct ribo_seqprep_entry {
    const char *id;  /* the record id, or "<id>_F1" .. "<id>_R3" */
    const char *seq; /* residues (or bases), NUL-terminated */
    size_t len;
} ribo_seqprep_entry;

/* Counts a run adds up over all records. */
typedef struct ribo_seqprep_stats {
    size_t n_stop_frames;  /* frames left out for a stop codon (drop_stop_frames) */
    size_t n_short_frames; /* frames shorter than one codon (left out) */
    size_t n_lenient;      /* characters outside ACGTN let through (lenient) */
} ribo_seqprep_stats;

/* Reusable state: options and the buffer the entries point into. Zero-initialize, set opts. */
typedef struct ribo_seqprep {
    ribo_seqprep_options opts;
    char *buf;
    size_t buf_cap;
    ribo_seqprep_entry entries[RIBO_N_FRAMES];
    size_t n; /* entries of the last record, in order (F1, F2, F3, R1, R2, R3 when translating) */
} ribo_seqprep;

/* Prepares one record (of file `path`, for messages) into p->entries / p->n and adds to *stats.
 * An empty record gives one empty entry (or, translating, six short frames): callers that refuse
 * empty records check first. Errors name the file, record number and id: a character outside ACGTN
 * (with translate_frames or dna_input, unless lenient), naming the character and its 1-based
 * position in the sequence (line breaks not counted); out of memory. */
ribo_status ribo_seqprep_record(ribo_seqprep *p, const char *path, const ribo_fasta_record *rec,
                                ribo_seqprep_stats *stats, ribo_error *err);

void ribo_seqprep_free(ribo_seqprep *p);

#endif
