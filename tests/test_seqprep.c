/* One record -> the sequences the tokenizer receives: as it is, DNA folded and checked, six frames. */
#include <string.h>

#include "engine/input/seqprep.h"
#include "test_util.h"

/* A record as the FASTA reader would return it. */
static ribo_fasta_record record(const char *id, const char *seq, size_t number) {
    return (ribo_fasta_record){.id = id, .header = id, .seq = seq, .seq_len = strlen(seq), .record_number = number};
}

static void test_protein_as_is(void) {
    ribo_seqprep p = {0};
    ribo_seqprep_stats st = {0};
    ribo_error err;
    ribo_fasta_record r = record("P1", "mkV*x", 1);
    CHECK_STATUS(ribo_seqprep_record(&p, "in.fa", &r, &st, &err), RIBO_OK, &err);
    CHECK(p.n == 1 && p.entries[0].seq == r.seq && p.entries[0].len == 5 && p.entries[0].id == r.id, "as is");
    ribo_seqprep_free(&p);
}

static void test_dna_model(void) {
    ribo_seqprep p = {.opts = {.dna_input = true}};
    ribo_seqprep_stats st = {0};
    ribo_error err;
    ribo_fasta_record r = record("d", "acgtnACGTN", 3);
    CHECK_STATUS(ribo_seqprep_record(&p, "in.fa", &r, &st, &err), RIBO_OK, &err);
    CHECK(p.n == 1 && strcmp(p.entries[0].seq, "ACGTNACGTN") == 0 && p.entries[0].len == 10, "folded: %s",
          p.entries[0].seq);
    r = record("e", "ACGTu", 4);
    CHECK_STATUS(ribo_seqprep_record(&p, "in.fa", &r, &st, &err), RIBO_ERR_INPUT, &err);
    CHECK_MESSAGE(&err, "in.fa: record 4 ('e'): invalid DNA character 'u' at position 5");
    CHECK_MESSAGE(&err, "--lenient passes it to the tokenizer as unknown");
    p.opts.lenient = true;
    r = record("e", "aC-gr", 4);
    CHECK_STATUS(ribo_seqprep_record(&p, "in.fa", &r, &st, &err), RIBO_OK, &err);
    CHECK(p.n == 1 && strcmp(p.entries[0].seq, "AC-GR") == 0 && st.n_lenient == 2, "lenient: %s, %zu",
          p.entries[0].seq, st.n_lenient);
    ribo_seqprep_free(&p);
}

static void test_frames(void) {
    ribo_seqprep p = {.opts = {.translate_frames = 6}};
    ribo_seqprep_stats st = {0};
    ribo_error err;
    ribo_fasta_record r = record("gene", "ATGTAAT", 1); /* F1 M*, F2 CN, F3 V; rc ATTACAT: R1 IT, R2 LH, R3 Y */
    CHECK_STATUS(ribo_seqprep_record(&p, "in.fa", &r, &st, &err), RIBO_OK, &err);
    const char *ids[] = {"gene_F1", "gene_F2", "gene_F3", "gene_R1", "gene_R2", "gene_R3"};
    const char *prot[] = {"M*", "CN", "V", "IT", "LH", "Y"};
    CHECK(p.n == 6, "n=%zu", p.n);
    for (size_t i = 0; i < p.n && i < 6; ++i)
        CHECK(strcmp(p.entries[i].id, ids[i]) == 0 && strcmp(p.entries[i].seq, prot[i]) == 0 &&
                  p.entries[i].len == strlen(prot[i]),
              "frame %zu: %s %s", i, p.entries[i].id, p.entries[i].seq);
    p.opts.drop_stop_frames = true;
    r = record("g2", "ATGTA", 2); /* F1 M, F2 C, F3 V; rc TACAT: R1 Y, R2 T, R3 H */
    CHECK_STATUS(ribo_seqprep_record(&p, "in.fa", &r, &st, &err), RIBO_OK, &err);
    CHECK(p.n == 6 && strcmp(p.entries[5].id, "g2_R3") == 0 && strcmp(p.entries[5].seq, "H") == 0, "g2");
    CHECK_STATUS(ribo_seqprep_record(&p, "in.fa", &(ribo_fasta_record){.id = "g3", .seq = "TAAT", .seq_len = 4},
                                     &st, &err),
                 RIBO_OK, &err); /* F1 *, F2 N; rc ATTA: R1 I, R2 L; F3, R3 short */
    CHECK(p.n == 3 && strcmp(p.entries[0].id, "g3_F2") == 0 && strcmp(p.entries[0].seq, "N") == 0 &&
              strcmp(p.entries[1].id, "g3_R1") == 0 && strcmp(p.entries[2].id, "g3_R2") == 0,
          "g3: n=%zu", p.n);
    CHECK(st.n_stop_frames == 1 && st.n_short_frames == 2, "stop=%zu short=%zu", st.n_stop_frames, st.n_short_frames);
    r = record("g4", "ACGT\x01", 9);
    CHECK_STATUS(ribo_seqprep_record(&p, "x.fa", &r, &st, &err), RIBO_ERR_INPUT, &err);
    CHECK_MESSAGE(&err, "x.fa: record 9 ('g4'): invalid DNA character byte 0x01 at position 5");
    CHECK_MESSAGE(&err, "--lenient reads it as N");
    /* a long id and sequence grow the buffer */
    char id[300], seq[9001];
    memset(id, 'i', sizeof id - 1);
    id[sizeof id - 1] = '\0';
    memset(seq, 'A', sizeof seq - 1);
    seq[sizeof seq - 1] = '\0';
    r = record(id, seq, 10);
    CHECK_STATUS(ribo_seqprep_record(&p, "x.fa", &r, &st, &err), RIBO_OK, &err);
    CHECK(p.n == 6 && p.entries[0].len == 3000 && p.entries[2].len == 2999 && strlen(p.entries[5].id) == 302 &&
              strncmp(p.entries[3].seq, "FFF", 3) == 0 && strcmp(p.entries[5].id + 299, "_R3") == 0,
          "long record");
    ribo_seqprep_free(&p);
}

int main(void) {
    test_protein_as_is();
    test_dna_model();
    test_frames();
    return ribo_test_finish("seqprep");
}
