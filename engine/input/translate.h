/* DNA -> protein with the standard genetic code (NCBI translation table 1), the six reading frames
 * of a DNA sequence, and the ACGTN check of a DNA record.
 *
 * Frame convention (n = number of bases, positions 0-based on the forward strand as given):
 *   F1, F2, F3: the forward strand read from base 0, 1, 2.
 *   R1, R2, R3: the reverse complement read from its base 0, 1, 2; base j of the reverse
 *               complement is complement(seq[n-1-j]), so R1's first codon is the reverse
 *               complement of the last three bases of seq, R2's skips the last base, R3's the last two.
 * Each frame has floor((n - offset) / 3) codons (0 when n <= offset): a partial codon at the end is
 * dropped. Codons with any base other than A/C/G/T (N, or anything a lenient caller let through)
 * become 'X'; stop codons (TAA, TAG, TGA) become '*'. Lowercase bases are read as uppercase. */
#ifndef RIBO_ENGINE_TRANSLATE_H
#define RIBO_ENGINE_TRANSLATE_H

#include <stdbool.h>
#include <stddef.h>

#define RIBO_N_FRAMES 6

/* Name of frame index 0..5: "F1", "F2", "F3", "R1", "R2", "R3" (NULL outside 0..5). */
const char *ribo_frame_name(int frame);

/* Amino acid of one codon (three bases, any case): one of the 20 letters, '*' for a stop, 'X' when
 * a base is not A/C/G/T. */
char ribo_translate_codon(char b0, char b1, char b2);

/* Number of amino acids frame `frame` (0..5) of an n-base sequence translates to. */
size_t ribo_frame_length(size_t n_bases, int frame);

/* Translates frame `frame` (0..5) of seq[0..n) into out, which must hold ribo_frame_length(n, frame)
 * + 1 chars; out is NUL-terminated. Returns the protein length; *has_stop (may be NULL) is set when
 * the protein contains '*'. */
size_t ribo_translate_frame(const char *seq, size_t n, int frame, char *out, bool *has_stop);

/* First character of seq[0..n) that is not A, C, G, T or N (either case): returns its 1-based
 * position and stores it in *bad, or returns 0 when every character is valid. */
size_t ribo_dna_check(const char *seq, size_t n, char *bad);

#endif
