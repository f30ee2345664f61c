/* FASTA reader: record structure, line endings, gzip, and every malformed-input error. */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "engine/io/fasta.h"
#include "test_util.h"

#define MAX_RECS 8

/* What a whole file read produced. */
typedef struct read_result {
    ribo_status status;
    ribo_error err;
    size_t n;
    char ids[MAX_RECS][64];
    char headers[MAX_RECS][128];
    char *seqs[MAX_RECS];
    size_t lens[MAX_RECS];
    size_t lines[MAX_RECS];
    size_t numbers[MAX_RECS];
} read_result;

/* Reads every record of path (copying them) until the end or the first error. */
static void read_all(const char *path, read_result *r) {
    memset(r, 0, sizeof *r);
    ribo_fasta_reader *rd = NULL;
    r->status = ribo_fasta_open(path, &rd, &r->err);
    if (r->status != RIBO_OK) return;
    for (;;) {
        ribo_fasta_record rec;
        bool has = false;
        r->status = ribo_fasta_next(rd, &rec, &has, &r->err);
        if (r->status != RIBO_OK || !has) break;
        if (r->n < MAX_RECS) {
            snprintf(r->ids[r->n], sizeof r->ids[0], "%s", rec.id);
            snprintf(r->headers[r->n], sizeof r->headers[0], "%s", rec.header);
            r->seqs[r->n] = malloc(rec.seq_len + 1);
            if (r->seqs[r->n]) memcpy(r->seqs[r->n], rec.seq, rec.seq_len + 1);
            r->lens[r->n] = rec.seq_len;
            r->lines[r->n] = rec.line_number;
            r->numbers[r->n] = rec.record_number;
        }
        ++r->n;
    }
    ribo_fasta_close(rd);
}

static void free_result(read_result *r) {
    for (size_t i = 0; i < MAX_RECS; ++i) free(r->seqs[i]);
}

/* Writes text to a temp file and reads it back. */
static void read_text(const char *name, const char *text, read_result *r) {
    const char *path = ribo_test_tmp(name);
    CHECK(ribo_test_write_file(path, text, strlen(text)), "cannot write %s", path);
    read_all(path, r);
}

/* Writes bytes gzip-compressed with zlib's gzopen. */
static bool write_gz(const char *path, const char *data, size_t n) {
    gzFile g = gzopen(path, "wb");
    if (!g) return false;
    bool ok = gzwrite(g, data, (unsigned)n) == (int)n;
    return gzclose(g) == Z_OK && ok;
}

static void test_multiline_and_headers(void) {
    read_result r;
    read_text("multi.fa",
              ">sp|P1|A desc one\nMKV\nLLA\n  G G\t\n>P2\tsecond   record\nAC\n>P3\nW", &r);
    CHECK_STATUS(r.status, RIBO_OK, &r.err);
    CHECK(r.n == 3, "n=%zu", r.n);
    CHECK(strcmp(r.ids[0], "sp|P1|A") == 0, "id0=%s", r.ids[0]);
    CHECK(strcmp(r.headers[0], "sp|P1|A desc one") == 0, "hdr0=%s", r.headers[0]);
    CHECK(r.seqs[0] && strcmp(r.seqs[0], "MKVLLAGG") == 0, "seq0=%s", r.seqs[0]);
    CHECK(r.lens[0] == 8, "len0=%zu", r.lens[0]);
    CHECK(strcmp(r.ids[1], "P2") == 0, "id1=%s", r.ids[1]);
    CHECK(strcmp(r.headers[1], "P2\tsecond   record") == 0, "hdr1=%s", r.headers[1]);
    CHECK(r.seqs[1] && strcmp(r.seqs[1], "AC") == 0, "seq1=%s", r.seqs[1]);
    CHECK(r.seqs[2] && strcmp(r.seqs[2], "W") == 0, "last record without final newline: %s", r.seqs[2]);
    CHECK(r.lines[0] == 1 && r.lines[1] == 5 && r.lines[2] == 7, "lines %zu %zu %zu", r.lines[0], r.lines[1],
          r.lines[2]);
    CHECK(r.numbers[0] == 1 && r.numbers[2] == 3, "record numbers");
    free_result(&r);
}

static void test_crlf_and_blank_lines(void) {
    read_result r;
    read_text("crlf.fa", "\r\n\n  \r\n>a x\r\nMK\r\n\r\nVL\r\n\r\n\r\n>b\r\n\r\nQQ\r\n\r\n", &r);
    CHECK_STATUS(r.status, RIBO_OK, &r.err);
    CHECK(r.n == 2, "n=%zu", r.n);
    CHECK(strcmp(r.ids[0], "a") == 0 && strcmp(r.headers[0], "a x") == 0, "hdr0='%s'", r.headers[0]);
    CHECK(r.seqs[0] && strcmp(r.seqs[0], "MKVL") == 0, "seq0=%s", r.seqs[0]);
    CHECK(strcmp(r.headers[1], "b") == 0, "CR stripped from header: '%s'", r.headers[1]);
    CHECK(r.seqs[1] && strcmp(r.seqs[1], "QQ") == 0, "seq1=%s", r.seqs[1]);
    CHECK(r.lines[0] == 4 && r.lines[1] == 10, "lines %zu %zu", r.lines[0], r.lines[1]);
    free_result(&r);
}

static void test_empty_records(void) {
    read_result r;
    read_text("emptyrec.fa", ">a\n>b\nMK\n>c\n\n", &r);
    CHECK_STATUS(r.status, RIBO_OK, &r.err);
    CHECK(r.n == 3 && r.lens[0] == 0 && r.lens[1] == 2 && r.lens[2] == 0, "empty sequences are returned");
    CHECK(r.seqs[0] && r.seqs[0][0] == '\0', "empty sequence is NUL-terminated");
    free_result(&r);
    read_text("empty.fa", "", &r);
    CHECK_STATUS(r.status, RIBO_OK, &r.err);
    CHECK(r.n == 0, "empty file: %zu records", r.n);
    read_text("blank.fa", "\n\n  \r\n", &r);
    CHECK_STATUS(r.status, RIBO_OK, &r.err);
    CHECK(r.n == 0, "blank file: %zu records", r.n);
}

static void test_gzip(void) {
    const char *text = ">g1 gz\nMKV\nLL\n>g2\nAAA\n";
    const char *path = ribo_test_tmp("in.fa.gz");
    CHECK(write_gz(path, text, strlen(text)), "write gz");
    read_result r;
    read_all(path, &r);
    CHECK_STATUS(r.status, RIBO_OK, &r.err);
    CHECK(r.n == 2 && r.seqs[0] && strcmp(r.seqs[0], "MKVLL") == 0 && r.seqs[1] && strcmp(r.seqs[1], "AAA") == 0,
          "gz records");
    free_result(&r);

    /* gzip detected by content, not by name */
    const char *noext = ribo_test_tmp("gz_without_extension.txt");
    CHECK(write_gz(noext, text, strlen(text)), "write gz");
    read_all(noext, &r);
    CHECK(r.status == RIBO_OK && r.n == 2, "gz without .gz name: %s", r.err.message);
    free_result(&r);
}

static void test_truncated_gzip(void) {
    /* big enough that the compressed stream spans several blocks */
    size_t n = 400000;
    char *text = malloc(n + 1);
    CHECK(text != NULL, "malloc");
    if (!text) return;
    unsigned x = 1;
    size_t k = (size_t)snprintf(text, n, ">t1\n");
    for (; k < n; ++k) {
        x = x * 1103515245u + 12345u;
        text[k] = (k % 61 == 60) ? '\n' : "ACDEFGHIKLMNPQRSTVWY"[(x >> 16) % 20];
    }
    const char *full = ribo_test_tmp("full.fa.gz");
    CHECK(write_gz(full, text, n), "write gz");
    free(text);
    size_t zn = 0;
    char *z = ribo_test_read_file(full, &zn);
    CHECK(z && zn > 100, "read gz back");
    if (!z) return;
    const char *cut[] = {"cut_half.fa.gz", "cut_trailer.fa.gz"};
    size_t keep[] = {zn / 2, zn - 4};
    for (int i = 0; i < 2; ++i) {
        const char *path = ribo_test_tmp(cut[i]);
        CHECK(ribo_test_write_file(path, z, keep[i]), "write");
        read_result r;
        read_all(path, &r);
        CHECK_STATUS(r.status, RIBO_ERR_INPUT, &r.err);
        CHECK_MESSAGE(&r.err, cut[i]);
        CHECK_MESSAGE(&r.err, "truncated gzip");
        free_result(&r);
    }
    /* cut inside the 10-byte gzip header */
    const char *tiny = ribo_test_tmp("cut_header.fa.gz");
    CHECK(ribo_test_write_file(tiny, z, 6), "write");
    read_result r;
    read_all(tiny, &r);
    CHECK_STATUS(r.status, RIBO_ERR_INPUT, &r.err);
    CHECK_MESSAGE(&r.err, "cut_header.fa.gz");
    /* corrupted data: flipped bytes are caught by inflate or by the CRC check */
    for (size_t i = zn / 3; i < zn / 3 + 16; ++i) z[i] = (char)~z[i];
    const char *bad = ribo_test_tmp("corrupt.fa.gz");
    CHECK(ribo_test_write_file(bad, z, zn), "write");
    read_all(bad, &r);
    CHECK_STATUS(r.status, RIBO_ERR_INPUT, &r.err);
    CHECK_MESSAGE(&r.err, "corrupt.fa.gz");
    CHECK_MESSAGE(&r.err, "gzip");
    free_result(&r);
    free(z);
}

static void test_not_fasta(void) {
    read_result r;
    read_text("notfasta.txt", "\n\nid,sequence\nP1,MKV\n", &r);
    CHECK_STATUS(r.status, RIBO_ERR_INPUT, &r.err);
    CHECK_MESSAGE(&r.err, "notfasta.txt");
    CHECK_MESSAGE(&r.err, "line 3");
    CHECK_MESSAGE(&r.err, "not FASTA");
    CHECK(strchr(r.err.message, '\n') == NULL, "one line");
    CHECK(r.n == 0, "no records");
}

static void test_binary(void) {
    read_result r;
    const char data[] = ">a\nMK\n>sp|X desc\nMKV\nLL\0V\n";
    const char *path = ribo_test_tmp("binary.fa");
    CHECK(ribo_test_write_file(path, data, sizeof data - 1), "write");
    read_all(path, &r);
    CHECK_STATUS(r.status, RIBO_ERR_INPUT, &r.err);
    CHECK_MESSAGE(&r.err, "binary.fa: record 2 ('sp|X'), line 5: binary data (byte 0x00)");
    CHECK(r.n == 1, "first record read before the error: %zu", r.n);
    free_result(&r);

    read_text("ctrl.fa", ">a\nMK\x01V\n", &r);
    CHECK_STATUS(r.status, RIBO_ERR_INPUT, &r.err);
    CHECK_MESSAGE(&r.err, "byte 0x01");
    free_result(&r);

    read_text("ctrlhdr.fa", ">a\x1b[0m\nMKV\n", &r);
    CHECK_STATUS(r.status, RIBO_ERR_INPUT, &r.err);
    CHECK_MESSAGE(&r.err, "ctrlhdr.fa: record 1, line 1: binary data (byte 0x1b)");
    free_result(&r);

    const char png[] = "\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
    const char *ppath = ribo_test_tmp("image.png");
    CHECK(ribo_test_write_file(ppath, png, sizeof png - 1), "write");
    read_all(ppath, &r);
    CHECK_STATUS(r.status, RIBO_ERR_INPUT, &r.err);
    CHECK_MESSAGE(&r.err, "image.png: line 1");
    free_result(&r);

    /* reading on after an error fails instead of resuming from a broken state */
    ribo_fasta_reader *rd = NULL;
    ribo_error err;
    CHECK_STATUS(ribo_fasta_open(path, &rd, &err), RIBO_OK, &err);
    ribo_fasta_record rec;
    bool has = true;
    ribo_status s = RIBO_OK;
    for (int i = 0; i < 3 && s == RIBO_OK; ++i) s = ribo_fasta_next(rd, &rec, &has, &err);
    CHECK(s == RIBO_ERR_INPUT, "error reached");
    s = ribo_fasta_next(rd, &rec, &has, &err);
    CHECK(s != RIBO_OK && !has, "sticky error");
    ribo_fasta_close(rd);
}

static void test_empty_id(void) {
    read_result r;
    read_text("noid.fa", ">ok\nMK\n>\nMKV\n", &r);
    CHECK_STATUS(r.status, RIBO_ERR_INPUT, &r.err);
    CHECK_MESSAGE(&r.err, "noid.fa: record 2, line 3");
    CHECK_MESSAGE(&r.err, "empty id");
    free_result(&r);
    read_text("spaceid.fa", "> description only\nMKV\n", &r);
    CHECK_STATUS(r.status, RIBO_ERR_INPUT, &r.err);
    CHECK_MESSAGE(&r.err, "spaceid.fa: record 1, line 1");
    CHECK_MESSAGE(&r.err, "empty id");
    free_result(&r);
    read_text("crid.fa", ">\r\nMKV\r\n", &r);
    CHECK_STATUS(r.status, RIBO_ERR_INPUT, &r.err);
    CHECK_MESSAGE(&r.err, "empty id");
    free_result(&r);
    /* a bare CR inside the id (not trailing): refused when read, naming file, record and the byte */
    read_text("bare_cr.fa", ">ok\nMK\n>ab\rcd desc\r\nMKV\n", &r);
    CHECK_STATUS(r.status, RIBO_ERR_INPUT, &r.err);
    CHECK_MESSAGE(&r.err, "bare_cr.fa: record 2 ('ab?cd'), line 3: id contains a carriage return (byte 0x0d at column 4");
    CHECK(r.n == 1, "records before the bad one: %zu", r.n);
    free_result(&r);
    /* a CR in the description only leaves the id alone */
    read_text("desc_cr.fa", ">ab cd\ref\nMKV\n", &r);
    CHECK_STATUS(r.status, RIBO_OK, &r.err);
    CHECK(r.n == 1 && strcmp(r.ids[0], "ab") == 0, "id with a CR in the description: '%s'", r.ids[0]);
    free_result(&r);
}

static void test_long_lines(void) {
    size_t n = 1u << 20;
    size_t hdr_len = 300000;
    char *text = malloc(hdr_len + n + 64);
    CHECK(text != NULL, "malloc");
    if (!text) return;
    size_t k = 0;
    text[k++] = '>';
    memcpy(text + k, "long ", 5);
    k += 5;
    memset(text + k, 'd', hdr_len); /* a 300 kB header */
    k += hdr_len;
    text[k++] = '\n';
    for (size_t i = 0; i < n; ++i) text[k++] = "ACDEFGHIKLMNPQRSTVWY"[i % 20];
    memcpy(text + k, "\n>short\nMK\n", 11);
    k += 11;
    const char *path = ribo_test_tmp("long.fa");
    CHECK(ribo_test_write_file(path, text, k), "write");
    read_result r;
    read_all(path, &r);
    CHECK_STATUS(r.status, RIBO_OK, &r.err);
    CHECK(r.n == 2 && r.lens[0] == n, "1 MB line: n=%zu len=%zu", r.n, r.lens[0]);
    CHECK(strcmp(r.ids[0], "long") == 0, "id=%s", r.ids[0]);
    CHECK(r.seqs[0] && memcmp(r.seqs[0], text + hdr_len + 7, n) == 0, "sequence content");
    CHECK(r.seqs[1] && strcmp(r.seqs[1], "MK") == 0 && r.lines[1] == 3, "record after the long line");
    free_result(&r);

    /* same through gzip, so that lines straddle decompression chunks */
    const char *gz = ribo_test_tmp("long.fa.gz");
    CHECK(write_gz(gz, text, k), "write gz");
    read_all(gz, &r);
    CHECK(r.status == RIBO_OK && r.n == 2 && r.lens[0] == n, "gz long line: %s", r.err.message);
    free_result(&r);
    free(text);
}

static void test_missing_file(void) {
    const char *path = ribo_test_tmp("does-not-exist.fa");
    ribo_fasta_reader *rd = (ribo_fasta_reader *)&rd;
    ribo_error err;
    ribo_status s = ribo_fasta_open(path, &rd, &err);
    CHECK_STATUS(s, RIBO_ERR_IO, &err);
    CHECK_MESSAGE(&err, path);
    CHECK(rd == NULL, "out cleared");
    s = ribo_fasta_open(ribo_test_tmpdir(), &rd, &err);
    CHECK_STATUS(s, RIBO_ERR_IO, &err);
    CHECK_MESSAGE(&err, "directory");
}

static void test_path_accessor(void) {
    const char *path = ribo_test_tmp("acc.fa");
    CHECK(ribo_test_write_file(path, ">a\nM\n", 5), "write");
    ribo_fasta_reader *rd = NULL;
    ribo_error err;
    CHECK_STATUS(ribo_fasta_open(path, &rd, &err), RIBO_OK, &err);
    CHECK(rd && strcmp(ribo_fasta_path(rd), path) == 0, "path");
    ribo_fasta_close(rd);
    ribo_fasta_close(NULL);
}

int main(void) {
    test_multiline_and_headers();
    test_crlf_and_blank_lines();
    test_empty_records();
    test_gzip();
    test_truncated_gzip();
    test_not_fasta();
    test_binary();
    test_empty_id();
    test_long_lines();
    test_missing_file();
    test_path_accessor();
    return ribo_test_finish("fasta");
}
