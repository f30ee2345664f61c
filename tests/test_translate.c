/* Standard genetic code and six-frame translation. Expected frames were worked out by hand and
 * re-derived with tests/fixtures/check_translate.py (its own per-amino-acid codon table, and
 * Biopython's translate where installed); nothing here needs Python. */
#include <string.h>

#include "engine/input/translate.h"
#include "test_util.h"

/* Translates every frame of seq and compares with want[0..5] (F1, F2, F3, R1, R2, R3). */
static void check_frames(const char *seq, const char *const want[RIBO_N_FRAMES]) {
    size_t n = strlen(seq);
    for (int f = 0; f < RIBO_N_FRAMES; ++f) {
        char out[512];
        bool stop = true;
        CHECK(ribo_frame_length(n, f) == strlen(want[f]), "'%s' %s: length %zu, want %zu", seq, ribo_frame_name(f),
              ribo_frame_length(n, f), strlen(want[f]));
        size_t len = ribo_translate_frame(seq, n, f, out, &stop);
        CHECK(len == strlen(want[f]) && strcmp(out, want[f]) == 0, "'%s' %s: got '%s', want '%s'", seq,
              ribo_frame_name(f), out, want[f]);
        CHECK(stop == (strchr(want[f], '*') != NULL), "'%s' %s: has_stop %d", seq, ribo_frame_name(f), stop);
    }
}

/* All 64 codons against the standard code written per amino acid (NCBI table 1). */
static void test_codon_table(void) {
    static const struct {
        char aa;
        const char *codons;
    } code[] = {
        {'A', "GCT GCC GCA GCG"}, {'R', "CGT CGC CGA CGG AGA AGG"}, {'N', "AAT AAC"}, {'D', "GAT GAC"},
        {'C', "TGT TGC"}, {'Q', "CAA CAG"}, {'E', "GAA GAG"}, {'G', "GGT GGC GGA GGG"}, {'H', "CAT CAC"},
        {'I', "ATT ATC ATA"}, {'L', "TTA TTG CTT CTC CTA CTG"}, {'K', "AAA AAG"}, {'M', "ATG"},
        {'F', "TTT TTC"}, {'P', "CCT CCC CCA CCG"}, {'S', "TCT TCC TCA TCG AGT AGC"},
        {'T', "ACT ACC ACA ACG"}, {'W', "TGG"}, {'Y', "TAT TAC"}, {'V', "GTT GTC GTA GTG"},
        {'*', "TAA TAG TGA"},
    };
    int seen = 0;
    for (size_t i = 0; i < sizeof code / sizeof code[0]; ++i)
        for (const char *c = code[i].codons; *c; c += c[3] ? 4 : 3) {
            char got = ribo_translate_codon(c[0], c[1], c[2]);
            CHECK(got == code[i].aa, "%.3s -> %c, want %c", c, got, code[i].aa);
            char lower = ribo_translate_codon((char)(c[0] | 0x20), (char)(c[1] | 0x20), (char)(c[2] | 0x20));
            CHECK(lower == code[i].aa, "lowercase %.3s -> %c, want %c", c, lower, code[i].aa);
            ++seen;
        }
    CHECK(seen == 64, "%d codons listed", seen);
    /* any codon with N (or another non-ACGT character) is X, even where the code would not care */
    CHECK(ribo_translate_codon('N', 'N', 'N') == 'X', "NNN");
    CHECK(ribo_translate_codon('G', 'G', 'N') == 'X', "GGN");
    CHECK(ribo_translate_codon('n', 'T', 'G') == 'X', "nTG");
    CHECK(ribo_translate_codon('A', 'R', 'G') == 'X', "ARG (IUPAC R)");
    CHECK(ribo_translate_codon('A', 'U', 'G') == 'X', "AUG (RNA is not read)");
}

static void test_frame_names(void) {
    const char *names[] = {"F1", "F2", "F3", "R1", "R2", "R3"};
    for (int f = 0; f < RIBO_N_FRAMES; ++f) CHECK(strcmp(ribo_frame_name(f), names[f]) == 0, "frame %d", f);
    CHECK(ribo_frame_name(-1) == NULL && ribo_frame_name(6) == NULL, "out of range");
}

/* Both strands, all offsets, stops inside and at the end, partial codons dropped (39 bases:
 * F1 13 codons, F2/F3 12 each, likewise on the reverse complement). */
static void test_six_frames(void) {
    /* Biopython tutorial sequence; F1 is its well-known MAIVMGR*KGAR* */
    const char *seq = "ATGGCCATTGTAATGGGCCGCTGAAAGGGTGCCCGATAG";
    const char *want[] = {"MAIVMGR*KGAR*", "WPL*WAAERVPD", "GHCNGPLKGCPI",
                          "LSGTLSAAHYNGH", "YRAPFQRPITMA", "IGHPFSGPLQWP"};
    check_frames(seq, want);
    /* 7 bases: F1 TTT AAA (C dropped), F2 TTA AAC, F3 TAA (AC dropped); reverse complement
     * GTTTAAA: R1 GTT TAA, R2 TTT AAA, R3 TTA (AA dropped) */
    const char *seq7 = "TTTAAAC";
    const char *want7[] = {"FK", "LN", "*", "V*", "FK", "L"};
    check_frames(seq7, want7);
}

/* Lengths 0..5: frames shorter than one codon are empty. */
static void test_short(void) {
    const char *e[] = {"", "", "", "", "", ""};
    check_frames("", e);
    check_frames("A", e);
    check_frames("AC", e);
    const char *w3[] = {"T", "", "", "R", "", ""};       /* ACG; revcomp CGT */
    check_frames("ACG", w3);
    const char *w4[] = {"T", "R", "", "T", "R", ""};     /* ACGT; revcomp ACGT */
    check_frames("ACGT", w4);
    const char *w5[] = {"T", "R", "V", "Y", "T", "R"};   /* ACGTA; revcomp TACGT */
    check_frames("ACGTA", w5);
    const size_t len[6][6] = {{0, 0, 0, 0, 0, 0}, {0, 0, 0, 0, 0, 0}, {0, 0, 0, 0, 0, 0},
                              {1, 0, 0, 1, 0, 0}, {1, 1, 0, 1, 1, 0}, {1, 1, 1, 1, 1, 1}};
    for (size_t n = 0; n < 6; ++n)
        for (int f = 0; f < RIBO_N_FRAMES; ++f)
            CHECK(ribo_frame_length(n, f) == len[n][f], "n=%zu frame %d: %zu", n, f, ribo_frame_length(n, f));
    CHECK(ribo_frame_length(6, 0) == 2 && ribo_frame_length(6, 1) == 1 && ribo_frame_length(6, 5) == 1, "n=6");
}

/* N makes its codon X on both strands; lowercase is read as uppercase (and N's complement is N). */
static void test_ambiguous_and_case(void) {
    const char *seq = "ATGNNNTGGANNCCG"; /* revcomp CGGNNTCCANNNCAT */
    const char *want[] = {"MXWXP", "XXGX", "XXXX", "RXPXH", "XXXX", "XSXX"};
    check_frames(seq, want);
    const char *mixed = "atgAAAcccGGGtttTAA"; /* revcomp TTAaaaCCCgggTTTcat */
    const char *want_mixed[] = {"MKPGF*", "*NPGF", "ETRVL", "LKPGFH", "*NPGF", "KTRVS"};
    check_frames(mixed, want_mixed);
    const char *lower = "atggccattgtaatgggccgctgaaagggtgcccgatag";
    const char *want_lower[] = {"MAIVMGR*KGAR*", "WPL*WAAERVPD", "GHCNGPLKGCPI",
                                "LSGTLSAAHYNGH", "YRAPFQRPITMA", "IGHPFSGPLQWP"};
    check_frames(lower, want_lower);
}

/* Human insulin (INS) coding sequence, first 162 bases: F1 is preproinsulin residues 1-54
 * (UniProt P01308: MALWMRLLPLLALLALWGPDPAAAFVNQHLCGSHLVEALYLVCGERGFFYTPKT). */
static void test_real_gene(void) {
    const char *ins = "ATGGCCCTGTGGATGCGCCTCCTGCCCCTGCTGGCGCTGCTGGCCCTCTGGGGACCTGACCCAGCCGCAGCCTTTGTGAACCAACACCTG"
                      "TGCGGCTCACACCTGGTGGAAGCTCTCTACCTAGTGTGCGGGGAACGAGGCTTCTTCTACACACCCAAGACC";
    char out[64];
    bool stop = true;
    size_t len = ribo_translate_frame(ins, strlen(ins), 0, out, &stop);
    CHECK(len == 54 && !stop && strcmp(out, "MALWMRLLPLLALLALWGPDPAAAFVNQHLCGSHLVEALYLVCGERGFFYTPKT") == 0, "INS F1: %s",
          out);
    len = ribo_translate_frame(ins, strlen(ins), 3, out, &stop);
    CHECK(len == 54 && stop && strcmp(out, "GLGCVEEASFPAH*VESFHQV*AAQVLVHKGCGWVRSPEGQQRQQGQEAHPQGH") == 0, "INS R1: %s",
          out);
}

static void test_dna_check(void) {
    char bad = 0;
    CHECK(ribo_dna_check("ACGTNacgtn", 10, &bad) == 0, "all valid");
    CHECK(ribo_dna_check("", 0, &bad) == 0, "empty");
    CHECK(ribo_dna_check("ACGTRACGT", 9, &bad) == 5 && bad == 'R', "R at 5: %c", bad);
    CHECK(ribo_dna_check("xACGT", 5, &bad) == 1 && bad == 'x', "x at 1");
    CHECK(ribo_dna_check("ACGU", 4, &bad) == 4 && bad == 'U', "U at 4");
    CHECK(ribo_dna_check("ACG*", 4, &bad) == 4 && bad == '*', "* at 4");
    CHECK(ribo_dna_check("ACGT-", 5, NULL) == 5, "gap at 5, no char out");
    CHECK(ribo_dna_check("ACGTZ", 4, &bad) == 0, "only n characters are read");
}

int main(void) {
    test_codon_table();
    test_frame_names();
    test_six_frames();
    test_short();
    test_ambiguous_and_case();
    test_real_gene();
    test_dna_check();
    return ribo_test_finish("translate");
}
