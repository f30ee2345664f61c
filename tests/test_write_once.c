/* Write-once output (issue 17) through the `ribo` binary:
 *   - .npy rows are written in place: the final file has numpy's exact header and size, the same bytes
 *     with 1 or several writer threads, 1 or 2 pipelines, pooled or per-residue, and through the
 *     header fallback (RIBO_TEST_NPY_RESERVE_EXTRA); .h5 the same with and without copy_file_range;
 *   - SIGKILL between a window's rows reaching the disk and its record, after n records with several
 *     writers, while writing (a write delay and a kill at a random moment), after the header, and
 *     after the rename: --resume gives the uninterrupted run's bytes; no complete-looking output
 *     appears before the end;
 *   - a flipped byte in a recorded window's rows is found by its checksum and only that window is
 *     recomputed;
 *   - a file size limit hit in the middle of the run (RLIMIT_FSIZE): one error line naming the rows
 *     file and the bytes; the recorded windows survive and --resume finishes the same bytes;
 *   - too little free space (RIBO_TEST_AVAILABLE_BYTES) is refused before anything is computed,
 *     naming the sizes and the filesystem;
 *   - --report shows the writers, their busy fractions and the write throughput. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "engine/io/npy.h"
#include "test_util.h"
#include "tiny_model.h"

static char errbuf[16384];
static char tiny[1024];     /* tiny model directory */
static char proteins[1024]; /* fixture FASTA, 40 records: 10 windows of 4 */

static bool exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* Runs `env 'ribo' args` (env may be ""), stderr captured; with fsize > 0 under RLIMIT_FSIZE (bytes,
 * SIGXFSZ ignored so writes fail with EFBIG). Returns the exit code (128+signal when killed). */
static int run_limited(const char *env, const char *args, long long fsize) {
    char cmd[8192];
    const char *errfile = ribo_test_tmp("stderr.txt");
    snprintf(cmd, sizeof cmd, "%s exec '%s' %s 2>'%s'", env, RIBO_BINARY_PATH, args, errfile);
    pid_t pid = fork();
    if (pid == 0) {
        if (fsize > 0) {
            signal(SIGXFSZ, SIG_IGN);
            struct rlimit rl = {(rlim_t)fsize, (rlim_t)fsize};
            setrlimit(RLIMIT_FSIZE, &rl);
        }
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    char *e = ribo_test_read_file(errfile, NULL);
    snprintf(errbuf, sizeof errbuf, "%s", e ? e : "");
    free(e);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int run(const char *env, const char *args) { return run_limited(env, args, 0); }

/* Starts ribo with env, SIGKILLs it after `seconds`; returns how it ended. */
static int run_and_kill(const char *env, const char *args, double seconds) {
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "%s exec '%s' %s 2>'%s'", env, RIBO_BINARY_PATH, args, ribo_test_tmp("stderr.txt"));
    pid_t pid = fork();
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    struct timespec ts = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    nanosleep(&ts, NULL);
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static bool same_file(const char *a, const char *b) {
    size_t na = 0, nb = 0;
    char *x = ribo_test_read_file(a, &na), *y = ribo_test_read_file(b, &nb);
    bool same = x && y && na == nb && memcmp(x, y, na) == 0;
    free(x);
    free(y);
    return same;
}

/* X.npy vs Y.npy with their side files (or two .h5 files). */
static bool same_output(const char *a, const char *b) {
    bool ok = same_file(a, b);
    size_t la = strlen(a), lb = strlen(b);
    if (la < 4 || strcmp(a + la - 4, ".npy") != 0) return ok;
    const char *side[] = {".ids.txt", ".offsets.npy"};
    for (int k = 0; k < 2; ++k) {
        char a2[1100], b2[1100];
        snprintf(a2, sizeof a2, "%.*s%s", (int)la - 4, a, side[k]);
        snprintf(b2, sizeof b2, "%.*s%s", (int)lb - 4, b, side[k]);
        if (exists(a2) || exists(b2)) ok = ok && same_file(a2, b2);
    }
    return ok;
}

static void remove_output(const char *out) {
    char cmd[3000];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%.*s.ids.txt' '%.*s.offsets.npy' '%s.ribo-work'", out, (int)strlen(out) - 4,
             out, (int)strlen(out) - 4, out, out);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", out);
}

static void check_clean(const char *label, const char *out) {
    char work[1100], cmd[1400];
    snprintf(work, sizeof work, "%s.ribo-work", out);
    CHECK(!exists(work), "%s: %s left behind", label, work);
    snprintf(cmd, sizeof cmd, "ls '%s' | grep -q partial", ribo_test_tmpdir());
    CHECK(system(cmd) != 0, "%s: a .partial file was left in %s", label, ribo_test_tmpdir());
}

static int count_records(const char *out) {
    char work[1100];
    snprintf(work, sizeof work, "%s.ribo-work", out);
    DIR *d = opendir(work);
    if (!d) return 0;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) n += strstr(e->d_name, ".rpart") && !strstr(e->d_name, ".tmp");
    closedir(d);
    return n;
}

/* The base command (no --output) for pooling `pool`. */
static void base_args(char *buf, size_t cap, const char *pool, const char *extra) {
    snprintf(buf, cap, "embed --model '%s' --input '%s' --window-seqs 4 --pool %s %s", tiny, proteins, pool, extra);
}

/* The .npy header is numpy's for the array's shape, byte for byte, and the file is header + rows. */
static void check_npy_layout(const char *path) {
    size_t n = 0;
    char *bytes = ribo_test_read_file(path, &n);
    ribo_npy_array a;
    ribo_error err;
    CHECK(bytes && ribo_npy_read(path, &a, &err) == RIBO_OK, "%s: unreadable", path);
    if (!bytes) return;
    char hdr[256];
    size_t hl = ribo_npy_header(hdr, sizeof hdr, "<f4", a.shape, 2);
    CHECK(hl == 128 && n >= hl && memcmp(bytes, hdr, hl) == 0, "%s: header is not numpy's for its shape", path);
    CHECK(n == hl + a.n_elements * 4, "%s: %zu bytes, want %zu", path, n, hl + a.n_elements * 4);
    ribo_npy_free(&a);
    free(bytes);
}

/* ---------------------------------------------------------------- identical bytes */

static void test_identical(void) {
    const char *pools[] = {"mean", "none"};
    const char *variants[][2] = {
        {"", "--writers 1"},
        {"", "--writers 4"},
        {"", "--devices 0,0 --writers 3"},
        {"", "--devices 0,0 --writers 1"},
        {"", "--sync"},
        {"RIBO_TEST_NPY_RESERVE_EXTRA=64", "--writers 2"}, /* header shorter than reserved: rows moved */
    };
    for (int p = 0; p < 2; ++p) {
        char ref[1100], out[1100], base[2048], args[4096];
        snprintf(ref, sizeof ref, "%s", ribo_test_tmp("iref.npy"));
        snprintf(out, sizeof out, "%s", ribo_test_tmp("iout.npy"));
        base_args(base, sizeof base, pools[p], "-q");
        snprintf(args, sizeof args, "%s --output '%s'", base, ref);
        CHECK(run("", args) == 0, "reference (%s): %s", pools[p], errbuf);
        check_npy_layout(ref);
        for (size_t v = 0; v < sizeof variants / sizeof *variants; ++v) {
            snprintf(args, sizeof args, "%s %s --output '%s'", base, variants[v][1], out);
            CHECK(run(variants[v][0], args) == 0, "'%s %s': %s", variants[v][0], variants[v][1], errbuf);
            CHECK(same_output(ref, out), "--pool %s '%s %s' wrote other bytes", pools[p], variants[v][0], variants[v][1]);
            check_clean(variants[v][1], out);
            remove_output(out);
        }
#ifdef RIBO_WITH_HDF5
        char href[1100], hout[1100];
        snprintf(href, sizeof href, "%s", ribo_test_tmp("iref.h5"));
        snprintf(hout, sizeof hout, "%s", ribo_test_tmp("iout.h5"));
        snprintf(args, sizeof args, "%s --writers 1 --output '%s'", base, href);
        CHECK(run("", args) == 0, "h5 reference: %s", errbuf);
        snprintf(args, sizeof args, "%s --writers 3 --devices 0,0 --output '%s'", base, hout);
        CHECK(run("", args) == 0 && same_file(href, hout), "h5 --writers 3 --devices 0,0 differs: %s", errbuf);
        unlink(hout);
        CHECK(run("RIBO_TEST_NO_COPY_FILE_RANGE=1", args) == 0 && same_file(href, hout),
              "h5 assembled by read/write differs: %s", errbuf);
        check_clean("h5", hout);
        unlink(href);
        unlink(hout);
#endif
        remove_output(ref);
    }
}

/* ---------------------------------------------------------------- kill and resume */

/* Kills a run (env: a RIBO_TEST_KILL_* hook), checks nothing complete-looking appeared (unless
 * output_may_exist), resumes, compares. */
static void kill_resume(const char *label, const char *env, const char *base, const char *ref, const char *out,
                        int min_records, bool output_may_exist) {
    char args[4096];
    snprintf(args, sizeof args, "%s --output '%s'", base, out);
    int rc = run(env, args);
    CHECK(rc == 128 + SIGKILL, "%s: not killed (rc %d): %s", label, rc, errbuf);
    CHECK(count_records(out) >= min_records, "%s: %d window record(s), want >= %d", label, count_records(out),
          min_records);
    CHECK(output_may_exist || !exists(out), "%s: the output exists although the run was killed", label);
    snprintf(args, sizeof args, "%s --output '%s' --resume", base, out);
    rc = run("", args);
    CHECK(rc == 0, "%s: resume: rc %d %s", label, rc, errbuf);
    CHECK(same_output(ref, out), "%s: the resumed output differs from the uninterrupted run", label);
    check_clean(label, out);
    remove_output(out);
}

static void test_kills(void) {
    char ref[1100], out[1100], base[2048], args[4096];
    snprintf(ref, sizeof ref, "%s", ribo_test_tmp("kref.npy"));
    snprintf(out, sizeof out, "%s", ribo_test_tmp("kout.npy"));
    for (int p = 0; p < 2; ++p) {
        const char *pool = p ? "none" : "mean";
        base_args(base, sizeof base, pool, "-q");
        snprintf(args, sizeof args, "%s --output '%s'", base, ref);
        CHECK(run("", args) == 0, "kill reference: %s", errbuf);
        base_args(base, sizeof base, pool, "--writers 3");
        /* the other two writers may still be writing windows 1 and 2 when window 3's hook fires (a fast
         * GPU finishes every batch at once), so no record is certain to be on disk */
        kill_resume("rows on disk, record not written", "RIBO_TEST_KILL_BEFORE_RECORD=3", base, ref, out, 0, false);
        kill_resume("after 5 records, 3 writers", "RIBO_TEST_KILL_AFTER_PARTS=5", base, ref, out, 5, false);
        kill_resume("header and side files written", "RIBO_TEST_KILL_IN_ASSEMBLY=1", base, ref, out, 10, false);
        kill_resume("output renamed, work directory left", "RIBO_TEST_KILL_AFTER_COMMIT=1", base, ref, out, 10, true);
        /* during the writes: each batch's write waits 30 ms, killed at a moment that moves */
        for (int k = 0; k < 3; ++k) {
            snprintf(args, sizeof args, "%s --output '%s'", base, out);
            int rc = run_and_kill("RIBO_TEST_WRITE_DELAY_MS=30", args, 0.45 + 0.25 * k + 0.05 * p);
            fprintf(stderr, "kill while writing (--pool %s, %d): %s, %d record(s)\n", pool, k,
                    rc == 128 + SIGKILL ? "killed" : "finished", count_records(out));
            snprintf(args, sizeof args, "%s --output '%s' --resume", base, out);
            CHECK(run("", args) == 0, "kill while writing %d: resume: %s", k, errbuf);
            CHECK(same_output(ref, out), "kill while writing %d (--pool %s): the resumed output differs", k, pool);
            check_clean("kill while writing", out);
            remove_output(out);
        }
        remove_output(ref);
    }
}

/* Byte offset of a window's rows in the rows file, read from its record (part_file.h: ext_offset at 104). */
static long long record_offset(const char *out, int window) {
    char path[1200];
    snprintf(path, sizeof path, "%s.ribo-work/part-%06d.rpart", out, window);
    size_t n = 0;
    unsigned char *b = (unsigned char *)ribo_test_read_file(path, &n);
    long long off = -1;
    if (b && n >= 256) {
        uint64_t v;
        memcpy(&v, b + 104, 8);
        off = (long long)v;
    }
    free(b);
    return off;
}

static void test_corrupt_window(void) {
    char ref[1100], out[1100], base[2048], args[4096], rows[1200];
    snprintf(ref, sizeof ref, "%s", ribo_test_tmp("cref.npy"));
    snprintf(out, sizeof out, "%s", ribo_test_tmp("cout.npy"));
    base_args(base, sizeof base, "none", "");
    snprintf(args, sizeof args, "%s -q --output '%s'", base, ref);
    CHECK(run("", args) == 0, "corrupt reference: %s", errbuf);
    snprintf(args, sizeof args, "%s --output '%s'", base, out);
    CHECK(run("RIBO_TEST_KILL_AFTER_PARTS=4", args) == 128 + SIGKILL, "kill: %s", errbuf);
    int records = count_records(out); /* 4, or more when another writer finished a window meanwhile */
    CHECK(records >= 4, "kill after 4 parts: %d record(s)", records);
    char kept_msg[64];
    snprintf(kept_msg, sizeof kept_msg, "kept %d of 10", records - 1);
    snprintf(rows, sizeof rows, "%s.ribo-work/rows.npy.partial", out);
    long long off = record_offset(out, 1); /* window 2 */
    size_t n = 0;
    char *bytes = ribo_test_read_file(rows, &n);
    CHECK(bytes && off > 0 && (size_t)off + 10 < n, "%s: %zu bytes, window 2 at %lld", rows, n, off);
    if (bytes && off > 0 && (size_t)off + 10 < n) {
        bytes[off + 9] ^= 0x04; /* one bit of one embedding of window 2 */
        ribo_test_write_file(rows, bytes, n);
    }
    free(bytes);
    snprintf(args, sizeof args, "%s --output '%s' --resume", base, out);
    int rc = run("", args);
    CHECK(rc == 0 && strstr(errbuf, "rows.npy.partial: rows of window 2 (bytes ") &&
              strstr(errbuf, "damaged contents (checksum mismatch); recomputing window 2") && strstr(errbuf, kept_msg),
          "resume with a damaged window (want '%s'): rc %d %s", kept_msg, rc, errbuf);
    CHECK(same_output(ref, out), "resume with a damaged window differs");
    remove_output(out);
    remove_output(ref);
}

/* A file size limit reached in the middle of the run, then a resume without it. The rows (about
 * 19 MB) are far larger than anything else the run writes (records, PoCL's kernel cache), so only the
 * rows file reaches the limit. */
static void test_disk_full(void) {
    char in[1100], ref[1100], out[1100], base[2048], args[4096];
    snprintf(in, sizeof in, "%s", ribo_test_tmp("full.fasta"));
    snprintf(ref, sizeof ref, "%s", ribo_test_tmp("fref.npy"));
    snprintf(out, sizeof out, "%s", ribo_test_tmp("fout.npy"));
    CHECK(ribo_test_write_random_fasta(in, 3000, 100, 300, "f", 5), "writing %s", in);
    snprintf(base, sizeof base, "embed -q --model '%s' --input '%s' --window-seqs 375 --pool none", tiny, in);
    snprintf(args, sizeof args, "%s --output '%s'", base, ref);
    CHECK(run("", args) == 0, "disk-full reference: %s", errbuf);
    struct stat sb;
    CHECK(stat(ref, &sb) == 0 && sb.st_size > (1 << 20), "%s: no size", ref);
    snprintf(args, sizeof args, "%s --output '%s'", base, out);
    int rc = run_limited("", args, (long long)sb.st_size / 2); /* room for about half the rows */
    CHECK(rc == 1 && strstr(errbuf, "ribo: error: ") && strstr(errbuf, "rows.npy.partial: cannot reserve ") &&
              strstr(errbuf, " bytes at offset ") && strstr(errbuf, "File too large") &&
              strchr(errbuf, '\n') == errbuf + strlen(errbuf) - 1,
          "file size limit: rc %d: %s", rc, errbuf);
    int kept = count_records(out);
    CHECK(kept >= 2 && kept <= 6, "after the size limit: %d window record(s) of 8", kept);
    CHECK(!exists(out), "a failed run left an output");
    snprintf(args, sizeof args, "embed --model '%s' --input '%s' --window-seqs 375 --pool none --output '%s' --resume",
             tiny, in, out);
    char want[64];
    snprintf(want, sizeof want, "kept %d of 8", kept);
    rc = run("", args);
    CHECK(rc == 0 && strstr(errbuf, want), "resume after the size limit: rc %d %s", rc, errbuf);
    CHECK(same_output(ref, out), "resume after the size limit differs");
    check_clean("disk full", out);
    remove_output(out);
    remove_output(ref);
}

static void test_space_refused(void) {
    char out[1100], base[2048], args[4096];
    snprintf(out, sizeof out, "%s", ribo_test_tmp("sout.npy"));
    base_args(base, sizeof base, "none", "");
    snprintf(args, sizeof args, "%s --window-seqs 1000 --output '%s'", base, out);
    int rc = run("RIBO_TEST_AVAILABLE_BYTES=1000", args);
    CHECK(rc == 1 && strstr(errbuf, "ribo: error: output '") && strstr(errbuf, "needs ") &&
              strstr(errbuf, " rows x ") && strstr(errbuf, "has 1000 bytes available") && strstr(errbuf, "the filesystem at /") &&
              !strstr(errbuf, "about") && strchr(errbuf, '\n') == errbuf + strlen(errbuf) - 1,
          "too little space (exact size): rc %d %s", rc, errbuf);
    check_clean("space refused", out);
    /* several windows: the size is estimated from the input size */
    snprintf(args, sizeof args, "%s --output '%s'", base, out);
    rc = run("RIBO_TEST_AVAILABLE_BYTES=1000", args);
    CHECK(rc == 1 && strstr(errbuf, "needs about ") && strstr(errbuf, "estimated from the input size"),
          "too little space (estimate): rc %d %s", rc, errbuf);
    check_clean("space refused (estimate)", out);
    rc = run("RIBO_TEST_AVAILABLE_BYTES=100000000000", args);
    CHECK(rc == 0, "enough space: rc %d %s", rc, errbuf);
    remove_output(out);
}

static void test_report(void) {
    char out[1100], rep[1100], base[2048], args[4096];
    snprintf(out, sizeof out, "%s", ribo_test_tmp("rout.npy"));
    snprintf(rep, sizeof rep, "%s", ribo_test_tmp("report.json"));
    base_args(base, sizeof base, "none", "-q --writers 3");
    snprintf(args, sizeof args, "%s --output '%s' --report '%s'", base, out, rep);
    CHECK(run("", args) == 0, "report run: %s", errbuf);
    char *text = ribo_test_read_file(rep, NULL);
    cJSON *j = text ? cJSON_Parse(text) : NULL;
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(j, "write");
    const cJSON *busy = cJSON_GetObjectItemCaseSensitive(o, "writer_busy_fraction");
    const cJSON *gbs = cJSON_GetObjectItemCaseSensitive(o, "write_gb_per_s");
    const cJSON *bytes = cJSON_GetObjectItemCaseSensitive(o, "bytes_written");
    const cJSON *lay = cJSON_GetObjectItemCaseSensitive(o, "layout");
    struct stat sb;
    CHECK(stat(out, &sb) == 0, "no output");
    CHECK(cJSON_GetArraySize(busy) == 3 && cJSON_IsNumber(gbs) && gbs->valuedouble > 0 && cJSON_IsNumber(bytes) &&
              bytes->valuedouble == (double)(sb.st_size - 128) && cJSON_IsString(lay) && strstr(lay->valuestring, "in place"),
          "report output section (file %lld bytes): %s", (long long)sb.st_size, text ? text : "(none)");
    for (int i = 0; i < cJSON_GetArraySize(busy); ++i) {
        double f = cJSON_GetArrayItem(busy, i)->valuedouble;
        CHECK(f >= 0 && f <= 1, "writer %d busy fraction %g", i, f);
    }
    cJSON_Delete(j);
    free(text);
    remove_output(out);
}

int main(void) {
    ribo_device *dev;
    ribo_stream *st;
    ribo_test_open_device(&dev, &st); /* the runs need a device: skip cleanly without one */
    ribo_test_close_device(dev, st);
    snprintf(tiny, sizeof tiny, "%s", ribo_test_tmp("tiny"));
    snprintf(proteins, sizeof proteins, "%s", ribo_test_fixture("proteins.fasta"));
    CHECK(ribo_test_write_tiny_model(tiny, 1), "writing the tiny model");
    const char *only = getenv("RIBO_TEST_ONLY"); /* e.g. "disk_full": run one part while debugging */
    if (!only || strstr(only, "identical")) test_identical();
    if (!only || strstr(only, "kills")) test_kills();
    if (!only || strstr(only, "corrupt")) test_corrupt_window();
    if (!only || strstr(only, "disk_full")) test_disk_full();
    if (!only || strstr(only, "space")) test_space_refused();
    if (!only || strstr(only, "report")) test_report();
    return ribo_test_finish("test_write_once");
}
