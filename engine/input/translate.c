/* Standard genetic code translation and six-frame reading (convention in translate.h). */
#include "engine/input/translate.h"

/* NCBI table 1, codons ordered by base index T=0, C=1, A=2, G=3 (first base slowest), as in the
 * NCBI "AAs" line of the table. */
static const char CODE_TABLE_1[65] = "FFLLSSSSYY**CC*WLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG";

/* Index of a base in the table order (T, C, A, G), or -1 for anything else. */
static int base_index(char b) {
    switch (b) {
    case 'T': case 't': return 0;
    case 'C': case 'c': return 1;
    case 'A': case 'a': return 2;
    case 'G': case 'g': return 3;
    default: return -1;
    }
}

/* Watson-Crick complement of a base (case kept); any other character is returned as it is, so it
 * still makes its codon 'X'. */
static char complement(char b) {
    switch (b) {
    case 'A': return 'T';
    case 'C': return 'G';
    case 'G': return 'C';
    case 'T': return 'A';
    case 'a': return 't';
    case 'c': return 'g';
    case 'g': return 'c';
    case 't': return 'a';
    default: return b;
    }
}

const char *ribo_frame_name(int frame) {
    static const char *const names[RIBO_N_FRAMES] = {"F1", "F2", "F3", "R1", "R2", "R3"};
    return frame >= 0 && frame < RIBO_N_FRAMES ? names[frame] : 0;
}

char ribo_translate_codon(char b0, char b1, char b2) {
    int i0 = base_index(b0), i1 = base_index(b1), i2 = base_index(b2);
    if (i0 < 0 || i1 < 0 || i2 < 0) return 'X';
    return CODE_TABLE_1[i0 * 16 + i1 * 4 + i2];
}

size_t ribo_frame_length(size_t n_bases, int frame) {
    size_t offset = (size_t)(frame % 3);
    return n_bases > offset ? (n_bases - offset) / 3 : 0;
}

size_t ribo_translate_frame(const char *seq, size_t n, int frame, char *out, bool *has_stop) {
    size_t len = ribo_frame_length(n, frame), offset = (size_t)(frame % 3);
    bool stop = false;
    for (size_t i = 0; i < len; ++i) {
        size_t j = offset + 3 * i; /* codon start on the strand being read */
        char aa = frame < 3 ? ribo_translate_codon(seq[j], seq[j + 1], seq[j + 2])
                            : ribo_translate_codon(complement(seq[n - 1 - j]), complement(seq[n - 2 - j]),
                                                   complement(seq[n - 3 - j]));
        stop |= aa == '*';
        out[i] = aa;
    }
    out[len] = '\0';
    if (has_stop) *has_stop = stop;
    return len;
}

size_t ribo_dna_check(const char *seq, size_t n, char *bad) {
    for (size_t i = 0; i < n; ++i) {
        char c = seq[i];
        if (base_index(c) < 0 && c != 'N' && c != 'n') {
            if (bad) *bad = c;
            return i + 1;
        }
    }
    return 0;
}
