/* A tiny random-weight ESM-2 model (1 layer, hidden 8, 2 heads) written by the tests themselves:
 * fast enough on PoCL for runs over hundreds of thousands of sequences. Not a reference for
 * accuracy (test_esm2_model does that), only for the pipeline's plumbing. */
#ifndef RIBO_TESTS_TINY_MODEL_H
#define RIBO_TESTS_TINY_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Writes config.json, vocab.txt and model.safetensors into dir (created); seed varies the weights. */
bool ribo_test_write_tiny_model(const char *dir, uint64_t seed);
/* The same for a one-layer ESM-2 of any size: hidden width, attention heads, intermediate width. */
bool ribo_test_write_esm2_model(const char *dir, uint64_t seed, int hidden, int heads, int intermediate);

/* Writes a FASTA file of n records ("<prefix>NNNNNNN") with min_len..max_len random residues. */
bool ribo_test_write_random_fasta(const char *path, size_t n, int min_len, int max_len, const char *prefix,
                                  uint64_t seed);

#endif
