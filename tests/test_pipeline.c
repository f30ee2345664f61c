/* The stream pipeline end to end through the `ribo` binary (CI runs it on PoCL):
 *   - pipelined, --sync, several pipelines (--devices 0,0[,0]), small windows and rings all write
 *     the same bytes;
 *   - a run killed (SIGKILL) after n parts, during assembly, or at a random moment, then --resume'd,
 *     writes exactly the bytes of an uninterrupted run (nothing lost, nothing duplicated);
 *   - an injected kernel failure stops the run naming device, batch and op; its parts resume;
 *   - --resume against another model, changed input or other options is refused, saying what changed;
 *   - host memory stays flat over 200k short sequences (peak RSS of 20k vs 200k sequences);
 *   - --report names the limiting stage, --trace has the three streams of every batch;
 *   - out of device memory at start lowers the token budget once, with a warning. */
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

#include "embed_check.h"
#include "engine/run/report.h"
#include "test_util.h"
#include "tiny_model.h"

static char errbuf[16384];
static char tiny[1024];     /* tiny model directory */
static char proteins[1024]; /* fixture FASTA, 40 records */
static char backend[32];    /* backend of device 0 ("opencl", "cuda") */

static bool exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* Runs `env 'ribo' args` (env may be ""), stderr captured; returns the exit code (128+signal when killed). */
static int run(const char *env, const char *args) {
    char cmd[8192];
    const char *errfile = ribo_test_tmp("stderr.txt");
    snprintf(cmd, sizeof cmd, "%s '%s' %s 2>'%s'", env, RIBO_BINARY_PATH, args, errfile);
    int rc = system(cmd);
    char *e = ribo_test_read_file(errfile, NULL);
    snprintf(errbuf, sizeof errbuf, "%s", e ? e : "");
    free(e);
    if (rc == -1) return -1;
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128 + WTERMSIG(rc);
}

/* Starts ribo in the background, SIGKILLs it after `seconds`, waits; returns how it ended. */
static int run_and_kill(const char *args, double seconds, struct rusage *ru) {
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "exec '%s' %s 2>'%s'", RIBO_BINARY_PATH, args, ribo_test_tmp("stderr.txt"));
    pid_t pid = fork();
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    if (seconds > 0) {
        struct timespec ts = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
    }
    int status = 0;
    struct rusage local;
    wait4(pid, &status, 0, ru ? ru : &local);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* True when files a and b hold the same bytes. */
static bool same_file(const char *a, const char *b) {
    size_t na = 0, nb = 0;
    char *x = ribo_test_read_file(a, &na), *y = ribo_test_read_file(b, &nb);
    bool same = x && y && na == nb && memcmp(x, y, na) == 0;
    free(x);
    free(y);
    return same;
}

/* X.npy vs Y.npy, with their .ids.txt (and .offsets.npy when per-residue). */
static bool same_output(const char *a, const char *b, bool per_residue) {
    char a2[1100], b2[1100];
    bool ok = same_file(a, b);
    snprintf(a2, sizeof a2, "%.*s.ids.txt", (int)strlen(a) - 4, a);
    snprintf(b2, sizeof b2, "%.*s.ids.txt", (int)strlen(b) - 4, b);
    ok = ok && same_file(a2, b2);
    if (per_residue) {
        snprintf(a2, sizeof a2, "%.*s.offsets.npy", (int)strlen(a) - 4, a);
        snprintf(b2, sizeof b2, "%.*s.offsets.npy", (int)strlen(b) - 4, b);
        ok = ok && same_file(a2, b2);
    }
    return ok;
}

/* Same ids (and offsets) bytes, embeddings within 1e-6 per row: for runs whose batches differ (other
 * windows or budget), where a GPU's GEMMs may pick other algorithms for other shapes and round
 * differently; runs with the same batches must match byte for byte (same_output). */
static bool close_output(const char *a, const char *b, bool per_residue) {
    char a2[1100], b2[1100];
    snprintf(a2, sizeof a2, "%.*s.ids.txt", (int)strlen(a) - 4, a);
    snprintf(b2, sizeof b2, "%.*s.ids.txt", (int)strlen(b) - 4, b);
    bool ok = same_file(a2, b2);
    if (per_residue) {
        snprintf(a2, sizeof a2, "%.*s.offsets.npy", (int)strlen(a) - 4, a);
        snprintf(b2, sizeof b2, "%.*s.offsets.npy", (int)strlen(b) - 4, b);
        ok = ok && same_file(a2, b2);
    }
    double d = ribo_test_npy_max_rel_diff(a, b);
    if (d > 0) fprintf(stderr, "note: %s vs %s: max row rel diff %.3g (different batches)\n", a, b, d);
    return ok && d <= 1e-6;
}

static void remove_output(const char *out) {
    char cmd[3000];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%.*s.ids.txt' '%.*s.offsets.npy' '%s.ribo-work'", out, (int)strlen(out) - 4, out,
             (int)strlen(out) - 4, out, out);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", out);
}

/* Nothing of the run may be left besides the output: no work directory, no partial file. */
static void check_clean(const char *label, const char *out) {
    char work[1100], cmd[1400];
    snprintf(work, sizeof work, "%s.ribo-work", out);
    CHECK(!exists(work), "%s: %s left behind", label, work);
    snprintf(cmd, sizeof cmd, "ls '%s' | grep -q partial", ribo_test_tmpdir());
    CHECK(system(cmd) != 0, "%s: a .partial file was left in %s", label, ribo_test_tmpdir());
}

/* ---------------------------------------------------------------- identical outputs */

static void test_identical_modes(void) {
    const char *pools[] = {"mean", "none"};
    const char *variants[] = {
        "--sync",
        "--devices 0,0",
        "--devices 0,0,0 --window-seqs 5 --ring-depth 1 --queue-depth 1",
        "--window-seqs 3 --ring-depth 2 --max-tokens 3000",
        "--window-tokens 2000 --devices 0,0 --sync",
    };
    for (int p = 0; p < 2; ++p) {
        char ref[1100], out[1100], args[4096];
        snprintf(ref, sizeof ref, "%s", ribo_test_tmp("ref.npy"));
        snprintf(out, sizeof out, "%s", ribo_test_tmp("out.npy"));
        snprintf(args, sizeof args, "embed -q --model '%s' --input '%s' --output '%s' --pool %s", tiny, proteins, ref,
                 pools[p]);
        CHECK(run("", args) == 0, "reference run (%s): %s", pools[p], errbuf);
        for (size_t v = 0; v < sizeof variants / sizeof *variants; ++v) {
            snprintf(args, sizeof args, "embed -q --model '%s' --input '%s' --output '%s' --pool %s %s", tiny, proteins,
                     out, pools[p], variants[v]);
            int rc = run("", args);
            if (strstr(variants[v], "--devices 0,0 --sync")) { /* --sync takes one device */
                CHECK(rc == 1 && strstr(errbuf, "--sync runs one device"), "--sync with two devices: rc %d %s", rc, errbuf);
                continue;
            }
            CHECK(rc == 0, "'%s' (%s): rc %d %s", variants[v], pools[p], rc, errbuf);
            /* other windows or budget = other batches: bytes on PoCL, 1e-6 where GEMMs depend on the shape */
            bool rebatched = strstr(variants[v], "--window") || strstr(variants[v], "--max-tokens");
            if (rebatched)
                CHECK(close_output(ref, out, p == 1), "'%s' (--pool %s) differs from the default run", variants[v],
                      pools[p]);
            else
                CHECK(same_output(ref, out, p == 1), "'%s' (--pool %s) wrote other bytes than the default run",
                      variants[v], pools[p]);
            check_clean(variants[v], out);
        }
        remove_output(ref);
        remove_output(out);
    }
    /* a real fixture model, several pipelines and small windows */
    char ref[1100], out[1100], args[4096];
    snprintf(ref, sizeof ref, "%s", ribo_test_tmp("ref_a.npy"));
    snprintf(out, sizeof out, "%s", ribo_test_tmp("out_a.npy"));
    snprintf(args, sizeof args, "embed -q --model '%s' --input '%s' --output '%s'", ribo_test_fixture("esm2_a"), proteins,
             ref);
    CHECK(run("", args) == 0, "esm2_a reference: %s", errbuf);
    snprintf(args, sizeof args, "embed -q --model '%s' --input '%s' --output '%s' --devices 0,0 --window-seqs 6",
             ribo_test_fixture("esm2_a"), proteins, out);
    CHECK(run("", args) == 0, "esm2_a two pipelines: %s", errbuf);
    CHECK(close_output(ref, out, false), "esm2_a: two pipelines with small windows differ from one pipeline");
    remove_output(ref);
    remove_output(out);
}

/* ---------------------------------------------------------------- kill and resume */

/* Counts part-*.rpart files in a work directory. */
static int count_parts(const char *work) {
    DIR *d = opendir(work);
    if (!d) return 0;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) n += strstr(e->d_name, ".rpart") && !strstr(e->d_name, ".tmp");
    closedir(d);
    return n;
}

/* Kills a run with env (a RIBO_TEST_KILL_* hook), resumes it, compares with ref. */
static void kill_then_resume(const char *label, const char *env, const char *base_args, const char *out, const char *ref,
                             bool per_residue, int min_parts) {
    char args[4096], work[1100];
    snprintf(work, sizeof work, "%s.ribo-work", out);
    snprintf(args, sizeof args, "%s --output '%s'", base_args, out);
    int rc = run(env, args);
    CHECK(rc == 128 + SIGKILL, "%s: the run was not killed (rc %d): %s", label, rc, errbuf);
    int parts = count_parts(work);
    CHECK(parts >= min_parts, "%s: %d part(s) on disk after the kill, want >= %d", label, parts, min_parts);
    CHECK(!exists(out), "%s: the output exists although the run was killed", label);
    /* without --resume the earlier parts are not silently thrown away */
    rc = run("", args);
    CHECK(rc == 1 && strstr(errbuf, "--resume"), "%s: a second run without --resume: rc %d %s", label, rc, errbuf);
    snprintf(args, sizeof args, "%s --output '%s' --resume", base_args, out);
    rc = run("", args);
    CHECK(rc == 0, "%s: resume failed: rc %d %s", label, rc, errbuf);
    CHECK(same_output(ref, out, per_residue), "%s: the resumed output differs from the uninterrupted run", label);
    check_clean(label, out);
    remove_output(out);
}

static void test_kill_resume(void) {
    char ref[1100], out[1100], base[4096], args[4200];
    snprintf(ref, sizeof ref, "%s", ribo_test_tmp("kref.npy"));
    snprintf(out, sizeof out, "%s", ribo_test_tmp("kout.npy"));
    for (int pr = 0; pr < 2; ++pr) {
        snprintf(base, sizeof base, "embed --model '%s' --input '%s' --window-seqs 4 --pool %s", tiny, proteins,
                 pr ? "none" : "mean");
        snprintf(args, sizeof args, "%s --output '%s' -q", base, ref);
        CHECK(run("", args) == 0, "kill reference: %s", errbuf);
        /* 40 records in windows of 4: parts 1..10 */
        kill_then_resume("killed after 1 part", "RIBO_TEST_KILL_AFTER_PARTS=1", base, out, ref, pr, 1);
        kill_then_resume("killed after 6 parts", "RIBO_TEST_KILL_AFTER_PARTS=6", base, out, ref, pr, 6);
        kill_then_resume("killed after the last part", "RIBO_TEST_KILL_AFTER_PARTS=10", base, out, ref, pr, 10);
        kill_then_resume("killed while assembling", "RIBO_TEST_KILL_IN_ASSEMBLY=4", base, out, ref, pr, 10);
        remove_output(ref);
    }
#ifdef RIBO_WITH_HDF5
    /* HDF5 output: the file is written without timestamps, so a resumed run gives the same bytes too */
    char href[1100], hout[1100];
    snprintf(href, sizeof href, "%s", ribo_test_tmp("kref.h5"));
    snprintf(hout, sizeof hout, "%s", ribo_test_tmp("kout.h5"));
    snprintf(base, sizeof base, "embed --model '%s' --input '%s' --window-seqs 4 --pool none", tiny, proteins);
    snprintf(args, sizeof args, "%s -q --output '%s'", base, href);
    CHECK(run("", args) == 0, "h5 reference: %s", errbuf);
    snprintf(args, sizeof args, "%s --output '%s'", base, hout);
    CHECK(run("RIBO_TEST_KILL_AFTER_PARTS=3", args) == 128 + SIGKILL, "h5 kill: %s", errbuf);
    snprintf(args, sizeof args, "%s --output '%s' --resume", base, hout);
    CHECK(run("", args) == 0, "h5 resume: %s", errbuf);
    CHECK(same_file(href, hout), "h5: the resumed file differs from the uninterrupted run");
    unlink(href);
    unlink(hout);
#endif
    /* killed twice: after 2 parts, then 3 more parts into the resumed run */
    snprintf(base, sizeof base, "embed --model '%s' --input '%s' --window-seqs 4", tiny, proteins);
    snprintf(args, sizeof args, "%s --output '%s' -q", base, ref);
    CHECK(run("", args) == 0, "reference: %s", errbuf);
    snprintf(args, sizeof args, "%s --output '%s'", base, out);
    CHECK(run("RIBO_TEST_KILL_AFTER_PARTS=2", args) == 128 + SIGKILL, "first kill: %s", errbuf);
    snprintf(args, sizeof args, "%s --output '%s' --resume", base, out);
    CHECK(run("RIBO_TEST_KILL_AFTER_PARTS=3", args) == 128 + SIGKILL, "second kill: %s", errbuf);
    /* at least 2 + 3 parts; with several writer threads another window may be finished by the time
     * the kill lands (a fast GPU), so the resume must keep exactly as many as are on disk */
    int kept = count_parts(ribo_test_tmp("kout.npy.ribo-work"));
    CHECK(kept >= 5 && kept <= 10, "after two kills: %d parts", kept);
    char kept_msg[64];
    snprintf(kept_msg, sizeof kept_msg, "kept %d of 10 part(s)", kept);
    CHECK(run("", args) == 0 && strstr(errbuf, kept_msg), "resume after two kills (want '%s'): %s", kept_msg, errbuf);
    CHECK(same_output(ref, out, false), "resume after two kills differs from the uninterrupted run");
    check_clean("two kills", out);
    remove_output(out);
    remove_output(ref);
}

/* Kills at wall-clock moments (wherever the run happens to be: reading, computing, writing a part,
 * assembling), then resumes: always the same bytes. */
static void test_random_kills(void) {
    char in[1100], ref[1100], out[1100], base[4096], args[4200];
    snprintf(in, sizeof in, "%s", ribo_test_tmp("kills.fasta"));
    snprintf(ref, sizeof ref, "%s", ribo_test_tmp("rref.npy"));
    snprintf(out, sizeof out, "%s", ribo_test_tmp("rout.npy"));
    CHECK(ribo_test_write_random_fasta(in, 50000, 1, 30, "k", 11), "writing %s", in);
    snprintf(base, sizeof base, "embed -q --model '%s' --input '%s' --window-seqs 1500", tiny, in);
    snprintf(args, sizeof args, "%s --output '%s'", base, ref);
    CHECK(run("", args) == 0, "random-kill reference: %s", errbuf);
    const double delays[] = {0.05, 0.4, 1.0, 1.8, 2.6};
    for (size_t i = 0; i < sizeof delays / sizeof *delays; ++i) {
        snprintf(args, sizeof args, "%s --output '%s'", base, out);
        int rc = run_and_kill(args, delays[i], NULL);
        fprintf(stderr, "random kill after %.2f s: %s, %d part(s) on disk%s\n", delays[i],
                rc == 128 + SIGKILL ? "killed" : "had finished", count_parts(ribo_test_tmp("rout.npy.ribo-work")),
                exists(out) ? ", output complete" : "");
        /* resume whatever state it was killed in (even none, or a finished run) */
        snprintf(args, sizeof args, "%s --output '%s' --resume", base, out);
        int rc2 = run("", args);
        CHECK(rc2 == 0, "kill at %.2f s (rc %d), resume: rc %d %s", delays[i], rc, rc2, errbuf);
        CHECK(same_output(ref, out, false), "kill at %.2f s (rc %d): the resumed output differs", delays[i], rc);
        check_clean("random kill", out);
        remove_output(out);
    }
    remove_output(ref);
}

/* A failing kernel stops the run at once with device, batch and op; the parts written before it
 * are kept and --resume finishes the same bytes. */
static void test_failure_keeps_parts(void) {
    char ref[1100], out[1100], base[4096], args[4200];
    snprintf(ref, sizeof ref, "%s", ribo_test_tmp("fref.npy"));
    snprintf(out, sizeof out, "%s", ribo_test_tmp("fout.npy"));
    snprintf(base, sizeof base, "embed --model '%s' --input '%s' --window-seqs 4", tiny, proteins);
    snprintf(args, sizeof args, "%s -q --output '%s'", base, ref);
    CHECK(run("", args) == 0, "failure reference: %s", errbuf);
    snprintf(args, sizeof args, "%s --output '%s'", base, out);
    int rc = run("RIBO_TEST_FAIL_AT_BATCH=7", args);
    char dev_name[64];
    snprintf(dev_name, sizeof dev_name, "ribo: error: %s device 0 (", backend);
    CHECK(rc == 1 && strstr(errbuf, dev_name) && strstr(errbuf, "batch 7 (window 7)") &&
              strstr(errbuf, "op 0 (injected)") && strstr(errbuf, "simulated kernel failure"),
          "injected failure: rc %d: %s", rc, errbuf);
    CHECK(!exists(out), "a failed run left an output");
    int parts = count_parts(ribo_test_tmp("fout.npy.ribo-work"));
    CHECK(parts >= 3 && parts <= 6, "after a failure at batch 7: %d parts kept", parts);
    snprintf(args, sizeof args, "%s --output '%s' --resume", base, out);
    rc = run("", args);
    CHECK(rc == 0 && strstr(errbuf, "resumed: kept"), "resume after a failure: rc %d %s", rc, errbuf);
    CHECK(same_output(ref, out, false), "resume after a failure differs");
    check_clean("failure", out);
    remove_output(out);
    remove_output(ref);
}

/* A kept part that was damaged on disk is found by its checksum and recomputed. */
static void test_damaged_part(void) {
    char ref[1100], out[1100], base[4096], args[4200], part[1200];
    snprintf(ref, sizeof ref, "%s", ribo_test_tmp("dref.npy"));
    snprintf(out, sizeof out, "%s", ribo_test_tmp("dout.npy"));
    snprintf(base, sizeof base, "embed --model '%s' --input '%s' --window-seqs 4", tiny, proteins);
    snprintf(args, sizeof args, "%s -q --output '%s'", base, ref);
    CHECK(run("", args) == 0, "damaged-part reference: %s", errbuf);
    snprintf(args, sizeof args, "%s --output '%s'", base, out);
    CHECK(run("RIBO_TEST_KILL_AFTER_PARTS=4", args) == 128 + SIGKILL, "kill: %s", errbuf);
    snprintf(part, sizeof part, "%s.ribo-work/part-000001.rpart", out);
    size_t n = 0;
    char *bytes = ribo_test_read_file(part, &n);
    CHECK(bytes && n > 300, "%s: %zu bytes", part, n);
    if (bytes && n > 300) {
        bytes[n - 5] ^= 0x10; /* one bit of one embedding */
        ribo_test_write_file(part, bytes, n);
    }
    free(bytes);
    snprintf(args, sizeof args, "%s --output '%s' --resume", base, out);
    int rc = run("", args);
    CHECK(rc == 0 && strstr(errbuf, "part-000001.rpart: damaged contents (checksum mismatch); recomputing it") &&
              strstr(errbuf, "kept 3 of 10"),
          "resume with a damaged part: rc %d %s", rc, errbuf);
    CHECK(same_output(ref, out, false), "resume with a damaged part differs");
    remove_output(out);
    remove_output(ref);
    /* a duplicate id far apart (window 1 and window 9) is still an error naming both records */
    char dup[1100];
    snprintf(dup, sizeof dup, "%s", ribo_test_tmp("dup.fasta"));
    char *text = ribo_test_read_file(proteins, &n);
    if (text) {
        FILE *f = fopen(dup, "w");
        fprintf(f, "%s>seq001\nMKV\n", text);
        fclose(f);
    }
    free(text);
    snprintf(args, sizeof args, "embed --model '%s' --input '%s' --output '%s' --window-seqs 4", tiny, dup, out);
    rc = run("", args);
    CHECK(rc == 1 && strstr(errbuf, "record 41 ('seq001'): duplicate id 'seq001' (first seen in") &&
              strstr(errbuf, "record 1)") && strchr(errbuf, '\n') == errbuf + strlen(errbuf) - 1,
          "duplicate across windows: rc %d %s", rc, errbuf);
    check_clean("input error", out); /* parts of an input that must change are of no use */
    remove_output(out);
}

/* ---------------------------------------------------------------- refusals */

/* Leaves a killed run of `input` (2 parts) at out's work directory. */
static void leave_killed_run(const char *model, const char *input, const char *extra, const char *out) {
    char args[4096];
    remove_output(out);
    snprintf(args, sizeof args, "embed --model '%s' --input '%s' --output '%s' %s", model, input, out, extra);
    int rc = run("RIBO_TEST_KILL_AFTER_PARTS=2", args);
    CHECK(rc == 128 + SIGKILL, "setting up a killed run: rc %d %s", rc, errbuf);
}

static void expect_refused(const char *label, const char *args, const char *needle) {
    int rc = run("", args);
    CHECK(rc == 1 && strstr(errbuf, "ribo: error: --resume refused") && strstr(errbuf, needle),
          "%s: rc %d, message lacks '%s': %s", label, rc, needle, errbuf);
}

static void test_resume_refused(void) {
    char out[1100], args[4096], model2[1100], cfg[1200], in2[1100];
    snprintf(out, sizeof out, "%s", ribo_test_tmp("refuse.npy"));
    const char *w = "--window-seqs 4";
    leave_killed_run(tiny, proteins, w, out);
    /* another model (other weights, same layout) */
    snprintf(model2, sizeof model2, "%s", ribo_test_tmp("tiny2"));
    CHECK(ribo_test_write_tiny_model(model2, 99), "writing %s", model2);
    snprintf(args, sizeof args, "embed --model '%s' --input '%s' --output '%s' %s --resume", model2, proteins, out, w);
    expect_refused("other weights", args, "model.safetensors changed");
    /* the same weights, one config value changed */
    char cmd[3000];
    snprintf(cmd, sizeof cmd, "cp '%s/model.safetensors' '%s/vocab.txt' '%s/' && sed 's/1e-12/1e-05/' '%s/config.json' > '%s/config.json'",
             tiny, tiny, model2, tiny, model2);
    CHECK(system(cmd) == 0, "copying the model");
    snprintf(cfg, sizeof cfg, "%s/config.json", model2);
    snprintf(args, sizeof args, "embed --model '%s' --input '%s' --output '%s' %s --resume", model2, proteins, out, w);
    expect_refused("changed config", args, "config.json changed");
    /* another input */
    snprintf(in2, sizeof in2, "%s", ribo_test_tmp("other.fasta"));
    CHECK(ribo_test_write_random_fasta(in2, 40, 5, 50, "o", 5), "writing %s", in2);
    snprintf(args, sizeof args, "embed --model '%s' --input '%s' --output '%s' %s --resume", tiny, in2, out, w);
    expect_refused("other input", args, "input 1");
    /* other options */
    snprintf(args, sizeof args, "embed --model '%s' --input '%s' --output '%s' %s --resume --pool cls", tiny, proteins, out, w);
    expect_refused("--pool", args, "option --pool is 'cls', the interrupted run used 'mean'");
    snprintf(args, sizeof args, "embed --model '%s' --input '%s' --output '%s' --window-seqs 5 --resume", tiny, proteins, out);
    expect_refused("--window-seqs", args, "option --window-seqs");
    snprintf(args, sizeof args, "embed --model '%s' --input '%s' --output '%s' %s --resume --truncate 100", tiny, proteins, out, w);
    expect_refused("--truncate", args, "option --truncate");
    /* the refusals touched nothing: the original run still resumes */
    snprintf(args, sizeof args, "embed --model '%s' --input '%s' --output '%s' %s --resume", tiny, proteins, out, w);
    CHECK(run("", args) == 0 && strstr(errbuf, "kept 2 of 10"), "resume after refusals: %s", errbuf);
    remove_output(out);

    /* An input changed in its middle (past the first and last MiB the fingerprint samples, same
     * size): the kept part of that window no longer matches it. */
    char big[1100];
    snprintf(big, sizeof big, "%s", ribo_test_tmp("big.fasta"));
    CHECK(ribo_test_write_random_fasta(big, 60000, 3, 4, "a-long-identifier-to-make-the-file-large-", 3), "writing %s", big);
    leave_killed_run(tiny, big, "--window-seqs 30000", out); /* part 1 = records 0..29999, ~1.65 MB */
    size_t n = 0;
    char *text = ribo_test_read_file(big, &n);
    CHECK(text && n > 3000000, "big input is %zu bytes", n);
    if (text && n > 3000000) {
        char *p = strchr(text + 1500000, '\n'); /* a record inside window 1, outside the sampled MiBs */
        while (p && p[1] != '>') p = strchr(p + 1, '\n');
        char *seq = p ? strchr(p + 1, '\n') + 1 : NULL;
        if (seq) seq[0] = seq[0] == 'A' ? 'C' : 'A';
        ribo_test_write_file(big, text, n);
    }
    free(text);
    snprintf(args, sizeof args, "embed --model '%s' --input '%s' --output '%s' --window-seqs 30000 --resume", tiny, big, out);
    expect_refused("input changed in the middle", args, "the input changed since the interrupted run");
    remove_output(out);
}

/* ---------------------------------------------------------------- memory */

/* Peak RSS (bytes) of a run, the smaller of two (the first may compile kernels into PoCL's cache). */
static uint64_t peak_rss(const char *args) {
    uint64_t best = UINT64_MAX;
    for (int i = 0; i < 2; ++i) {
        struct rusage ru;
        int rc = run_and_kill(args, 0, &ru);
        CHECK(rc == 0, "memory run failed: rc %d %s", rc, errbuf);
        uint64_t b = (uint64_t)ru.ru_maxrss * 1024u;
        if (b < best) best = b;
    }
    return best;
}

static void test_bounded_memory(void) {
    char small[1100], large[1100], out[1100], args[4096];
    snprintf(small, sizeof small, "%s", ribo_test_tmp("m20k.fasta"));
    snprintf(large, sizeof large, "%s", ribo_test_tmp("m200k.fasta"));
    snprintf(out, sizeof out, "%s", ribo_test_tmp("mem.npy"));
    CHECK(ribo_test_write_random_fasta(small, 20000, 1, 4, "seq", 21), "writing %s", small);
    CHECK(ribo_test_write_random_fasta(large, 200000, 1, 4, "seq", 22), "writing %s", large);
    snprintf(args, sizeof args, "embed -q --model '%s' --input '%s' --output '%s' --window-seqs 8192", tiny, small, out);
    uint64_t rss_small = peak_rss(args);
    snprintf(args, sizeof args, "embed -q --model '%s' --input '%s' --output '%s' --window-seqs 8192", tiny, large, out);
    uint64_t rss_large = peak_rss(args);
    double per_seq = ((double)rss_large - (double)rss_small) / 180000.0;
    fprintf(stderr, "memory: peak RSS %.1f MiB for 20k sequences, %.1f MiB for 200k (%.1f bytes per extra sequence)\n",
            (double)rss_small / 1048576.0, (double)rss_large / 1048576.0, per_seq);
    /* Holding the input (tokens, ids, offsets, the plan) cost ~140 bytes per sequence here; what may
     * grow now is the duplicate-id hash set (8 bytes per id, 11-21 with free slots). */
    CHECK(per_seq < 64.0, "host memory grows with the input: %.1f bytes per sequence", per_seq);
    remove_output(out);
}

/* ---------------------------------------------------------------- report, trace, out of memory */

static const cJSON *path_of(const cJSON *o, const char *a, const char *b) {
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, a);
    return b ? cJSON_GetObjectItemCaseSensitive(x, b) : x;
}

static void test_report_and_trace(void) {
    char out[1100], rep[1100], tr[1100], args[4096];
    snprintf(out, sizeof out, "%s", ribo_test_tmp("rep.npy"));
    snprintf(rep, sizeof rep, "%s", ribo_test_tmp("run.json"));
    snprintf(tr, sizeof tr, "%s", ribo_test_tmp("trace.json"));
    snprintf(args, sizeof args, "embed --model '%s' --input '%s' --output '%s' --window-seqs 4 --devices 0,0 --report '%s' --trace '%s'",
             ribo_test_fixture("esm2_a"), proteins, out, rep, tr);
    CHECK(run("", args) == 0, "report run: %s", errbuf);
    CHECK(strstr(errbuf, "ribo: bottleneck: "), "the summary has no bottleneck line: %s", errbuf);
    char *text = ribo_test_read_file(rep, NULL);
    cJSON *r = text ? cJSON_Parse(text) : NULL;
    free(text);
    CHECK(r != NULL, "%s is not JSON", rep);
    if (r) {
        CHECK(cJSON_GetNumberValue(path_of(r, "totals", "sequences")) == 40, "report: totals.sequences");
        CHECK(cJSON_GetNumberValue(path_of(r, "totals", "tokens_per_s")) > 0, "report: tokens_per_s");
        const char *stages[] = {"read", "tokenize", "pack", "h2d", "compute", "d2h", "write", "assemble"};
        for (int i = 0; i < 8; ++i) CHECK(cJSON_IsNumber(path_of(r, "stage_seconds", stages[i])), "report: stage %s", stages[i]);
        const cJSON *devs = path_of(r, "devices", NULL);
        CHECK(cJSON_GetArraySize(devs) == 2, "report: %d devices", cJSON_GetArraySize(devs));
        const cJSON *d0 = cJSON_GetArrayItem(devs, 0);
        CHECK(cJSON_IsNumber(path_of(d0, "stream_busy_fraction", "compute")) &&
                  cJSON_IsNumber(path_of(d0, "stream_busy_fraction", "h2d")) &&
                  cJSON_IsNumber(path_of(d0, "stream_busy_fraction", "d2h")) &&
                  cJSON_IsNumber(path_of(d0, "compute_waited_for_input_s", NULL)) &&
                  cJSON_GetNumberValue(path_of(d0, "host_enqueue_s", NULL)) > 0 &&
                  cJSON_GetNumberValue(path_of(d0, "memory", "peak_allocated_bytes")) > 0,
              "report: device fields");
        CHECK(cJSON_IsNumber(path_of(r, "packing", "padding_waste")), "report: padding_waste");
        CHECK(cJSON_GetNumberValue(path_of(r, "host_threads", "peak_rss_bytes")) > 0, "report: peak_rss_bytes");
        const char *v = cJSON_GetStringValue(path_of(r, "bottleneck", NULL));
        CHECK(v && (strstr(v, "compute-bound") == v || strstr(v, "input-bound") == v || strstr(v, "output-bound") == v ||
                    strstr(v, "transfer-bound") == v || strstr(v, "launch-bound") == v ||
                    strstr(v, "no stage saturated") == v) && strstr(v, "--"),
              "report: the verdict names no stage and setting: %s", v ? v : "(none)");
        cJSON_Delete(r);
    }
    text = ribo_test_read_file(tr, NULL);
    cJSON *t = text ? cJSON_Parse(text) : NULL;
    free(text);
    CHECK(t != NULL, "%s is not JSON", tr);
    if (t) {
        int h2d = 0, compute = 0, d2h = 0, pack = 0, write = 0, names = 0;
        const cJSON *e;
        cJSON_ArrayForEach(e, path_of(t, "traceEvents", NULL)) {
            const char *cat = cJSON_GetStringValue(path_of(e, "cat", NULL)), *ph = cJSON_GetStringValue(path_of(e, "ph", NULL));
            if (ph && strcmp(ph, "M") == 0) ++names;
            if (!cat) continue;
            h2d += strcmp(cat, "h2d") == 0;
            compute += strcmp(cat, "compute") == 0;
            d2h += strcmp(cat, "d2h") == 0;
            pack += strcmp(cat, "pack") == 0;
            write += strcmp(cat, "write") == 0;
        }
        CHECK(h2d == 10 && compute == 10 && d2h == 10 && pack == 10 && write == 10 && names >= 10,
              "trace: %d h2d, %d compute, %d d2h, %d pack, %d write spans, %d names (want 10 batches)", h2d, compute, d2h,
              pack, write, names);
        cJSON_Delete(t);
    }
    /* --sync says so */
    snprintf(args, sizeof args, "embed --model '%s' --input '%s' --output '%s' --sync --report '%s'", tiny, proteins, out, rep);
    CHECK(run("", args) == 0, "sync report run: %s", errbuf);
    text = ribo_test_read_file(rep, NULL);
    CHECK(text && strstr(text, "\"sync\"") && strstr(text, "synchronous mode"), "sync report: %s", text ? text : "");
    free(text);
    remove_output(out);
}

/* A budget the device cannot hold is lowered once, with a warning saying what was chosen. On PoCL a
 * 1e9-token budget exceeds the largest allocation (4 GiB) and is lowered to what fits it; the other
 * backends' memory is too large (and pinned host memory too dear) to exercise this here. */
/* The verdict on made-up figures: each stage named when it is the one that limits. */
static void test_verdicts(void) {
    static ribo_run_stats s; /* large: static, zeroed */
    char v[512];
    s.run_s = 10;
    s.batches = 100;
    s.n_pipes = 1;
    s.reduced_precision = true;
    s.pipes[0].st.compute_s = 9.5;
    s.pipes[0].st.enqueue_s = 1.0;
    ribo_run_verdict(&s, v, sizeof v);
    CHECK(strstr(v, "compute-bound") == v, "device busy, host quick: %s", v);
    s.pipes[0].st.enqueue_s = 9.0; /* the host needs as long to enqueue as the device to run */
    ribo_run_verdict(&s, v, sizeof v);
    CHECK(strstr(v, "launch-bound") == v && strstr(v, "--max-tokens"), "host as slow as the device: %s", v);
    s.pipes[0].st.compute_s = 3;
    s.pipes[0].st.enqueue_s = 3;
    s.pipes[0].st.compute_idle_s = 6;
    ribo_run_verdict(&s, v, sizeof v);
    CHECK(strstr(v, "input-bound") == v, "device waiting for input: %s", v);
}

static void test_out_of_memory_budget(void) {
    if (strcmp(backend, "opencl") != 0) {
        fprintf(stderr, "out-of-memory budget: skipped on %s\n", backend);
        return;
    }
    char ref[1100], out[1100], args[4096];
    snprintf(ref, sizeof ref, "%s", ribo_test_tmp("oref.npy"));
    snprintf(out, sizeof out, "%s", ribo_test_tmp("oout.npy"));
    snprintf(args, sizeof args, "embed -q --model '%s' --input '%s' --output '%s' --window-seqs 5", tiny, proteins, ref);
    CHECK(run("", args) == 0, "oom reference: %s", errbuf);
    snprintf(args, sizeof args,
             "embed --model '%s' --input '%s' --output '%s' --window-seqs 5 --max-tokens 1000000000 --max-batch-seqs 64",
             tiny, proteins, out);
    int rc = run("", args);
    CHECK(rc == 0 && strstr(errbuf, "ribo: warning: opencl device 0") && strstr(errbuf, "out of device memory") &&
              strstr(errbuf, "lowered the budget to"),
          "out-of-memory budget: rc %d %s", rc, errbuf);
    CHECK(same_output(ref, out, false), "the lowered budget changed the output");
    remove_output(ref);
    remove_output(out);
}

int main(void) {
    ribo_device *dev;
    ribo_stream *st;
    ribo_test_open_device(&dev, &st); /* the runs need a device: skip cleanly without one */
    ribo_device_props props;
    dev->iface->get_props(dev, &props);
    snprintf(backend, sizeof backend, "%s", props.backend);
    ribo_test_close_device(dev, st);
    snprintf(tiny, sizeof tiny, "%s", ribo_test_tmp("tiny"));
    snprintf(proteins, sizeof proteins, "%s", ribo_test_fixture("proteins.fasta"));
    CHECK(ribo_test_write_tiny_model(tiny, 1), "writing the tiny model");
    test_identical_modes();
    test_kill_resume();
    test_random_kills();
    test_failure_keeps_parts();
    test_damaged_part();
    test_resume_refused();
    test_report_and_trace();
    test_verdicts();
    test_out_of_memory_budget();
    test_bounded_memory();
    return ribo_test_finish("test_pipeline");
}
