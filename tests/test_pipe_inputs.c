/* Inputs that can be read only once, through the real `ribo` binary (issue 20, defects 1 and 2):
 * process substitution (`--input <(cat f)`), a pipe on /dev/stdin and named pipes (mkfifo) whose
 * writer finishes before ribo reads, or writes late. Each must be opened and read exactly once and
 * give the plain-file run's bytes; a duplicate id in a pipe is refused (exit 1, one `ribo: error:`
 * line naming the id and the record, no output), also when the 64-bit id hashes are forced to
 * collide; --resume with a pipe keeps parts whose windows match and refuses a change of input kind.
 * Every command runs under `timeout 60`, so a hang fails the test instead of stalling CI. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test_util.h"

static char errbuf[8192];

/* Runs a bash script (with $R = ribo, $M = the esm2_a model, $P / $S = proteins.fasta / short.fasta,
 * $T = the test's tmpdir, cwd = $T); returns its exit code, its stderr in errbuf. */
static int run_script(const char *body) {
    const char *script = ribo_test_tmp("run.sh"), *errfile = ribo_test_tmp("run-stderr.txt");
    char text[8192];
    snprintf(text, sizeof text, "set -u\nR='%s'\nM='%s'\nP='%s'\nS='%s'\nT='%s'\ncd \"$T\"\n%s\n", RIBO_BINARY_PATH,
             ribo_test_fixture("esm2_a"), ribo_test_fixture("proteins.fasta"), ribo_test_fixture("short.fasta"),
             ribo_test_tmpdir(), body);
    if (!ribo_test_write_file(script, text, strlen(text))) return -1;
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "bash '%s' 2>'%s'", script, errfile);
    int rc = system(cmd);
    char *e = ribo_test_read_file(errfile, NULL);
    snprintf(errbuf, sizeof errbuf, "%s", e ? e : "");
    free(e);
    if (rc == -1) return -1;
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128 + WTERMSIG(rc);
}

static bool exists(const char *name) { return access(ribo_test_tmp(name), F_OK) == 0; }

/* True when two files of the tmpdir hold the same bytes. */
static bool same_file(const char *a, const char *b) {
    size_t na = 0, nb = 0;
    char *x = ribo_test_read_file(ribo_test_tmp(a), &na), *y = ribo_test_read_file(ribo_test_tmp(b), &nb);
    bool same = x && y && na == nb && memcmp(x, y, na) == 0;
    free(x);
    free(y);
    return same;
}

static int count_lines_with(const char *text, const char *needle) {
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle)) ++n;
    return n;
}

/* A pipe run named `label` wrote out.npy (+ out.ids.txt) equal to the plain run's ref.npy. */
static void check_same_as_plain(const char *label, int rc, const char *ref) {
    char ref_ids[256];
    snprintf(ref_ids, sizeof ref_ids, "%.*s.ids.txt", (int)(strlen(ref) - 4), ref);
    CHECK(rc == 0, "%s: rc %d (124: timed out, a hang): %s", label, rc, errbuf);
    CHECK(same_file("out.npy", ref), "%s: out.npy differs from the plain-file run's %s", label, ref);
    CHECK(same_file("out.ids.txt", ref_ids), "%s: out.ids.txt differs from %s", label, ref_ids);
    run_script("rm -f out.npy out.ids.txt fifo; rm -rf out.npy.ribo-work");
}

/* The reference: the plain-file runs. */
static void make_references(void) {
    int rc = run_script("timeout 60 \"$R\" embed -q --model \"$M\" --input \"$P\" --output ref.npy");
    CHECK(rc == 0 && exists("ref.npy"), "plain run: rc %d %s", rc, errbuf);
    rc = run_script("timeout 60 \"$R\" embed -q --model \"$M\" --input \"$S\" \"$P\" --output ref2.npy");
    CHECK(rc == 0 && exists("ref2.npy"), "plain run of two files: rc %d %s", rc, errbuf);
}

static void test_anonymous_pipes(void) {
    int rc = run_script("timeout 60 \"$R\" embed -q --model \"$M\" --input <(cat \"$P\") --output out.npy");
    check_same_as_plain("process substitution", rc, "ref.npy");
    rc = run_script("cat \"$P\" | timeout 60 \"$R\" embed -q --model \"$M\" --input /dev/stdin --output out.npy");
    check_same_as_plain("/dev/stdin pipe", rc, "ref.npy");
    rc = run_script("timeout 60 \"$R\" embed -q --model \"$M\" --input <(cat \"$S\") <(cat \"$P\") --output out.npy");
    check_same_as_plain("two process substitutions", rc, "ref2.npy");
    rc = run_script("timeout 60 \"$R\" embed -q --model \"$M\" --input \"$S\" <(cat \"$P\") --output out.npy");
    check_same_as_plain("a file then a pipe", rc, "ref2.npy");
    /* 4-bit id hashes: nearly every id collides with an earlier one; none is a duplicate */
    rc = run_script("cat \"$P\" | RIBO_TEST_ID_HASH_BITS=4 timeout 60 \"$R\" embed -q --model \"$M\" --input /dev/stdin "
                    "--output out.npy");
    check_same_as_plain("pipe with forced hash collisions", rc, "ref.npy");
    rc = run_script("RIBO_TEST_ID_HASH_BITS=4 timeout 60 \"$R\" embed -q --model \"$M\" --input <(cat \"$S\") \"$P\" "
                    "--output out.npy");
    check_same_as_plain("pipe then file with forced hash collisions", rc, "ref2.npy");
}

/* FIFOs: the writer is started before ribo; ribo must open the FIFO once (a second open after the
 * writer finished blocks forever). RIBO_TEST_INPUT_OPEN_DELAY_MS holds ribo back before it opens
 * its inputs for reading, so that the writer has finished by then if ribo had opened the FIFO before. */
static void test_fifos(void) {
    int rc = run_script("mkfifo fifo && { cat \"$P\" > fifo & }\n"
                        "timeout 60 \"$R\" embed -q --model \"$M\" --input fifo --output out.npy; rc=$?\n"
                        "kill %1 2>/dev/null; exit $rc");
    check_same_as_plain("fifo", rc, "ref.npy");
    rc = run_script("mkfifo fifo && { cat \"$P\" > fifo & }\n"
                    "RIBO_TEST_INPUT_OPEN_DELAY_MS=700 timeout 60 \"$R\" embed -q --model \"$M\" --input fifo "
                    "--output out.npy; rc=$?\nkill %1 2>/dev/null; exit $rc");
    check_same_as_plain("fifo whose writer finishes early", rc, "ref.npy");
    rc = run_script("mkfifo fifo && { (sleep 1.5; cat \"$P\") > fifo & }\n"
                    "timeout 60 \"$R\" embed -q --model \"$M\" --input fifo --output out.npy; rc=$?\n"
                    "kill %1 2>/dev/null; exit $rc");
    check_same_as_plain("fifo with a slow writer", rc, "ref.npy");
    rc = run_script("mkfifo fifo && { cat \"$P\" > fifo & }\n"
                    "RIBO_TEST_INPUT_OPEN_DELAY_MS=700 timeout 60 \"$R\" embed -q --model \"$M\" --input \"$S\" fifo "
                    "--output out.npy; rc=$?\nkill %1 2>/dev/null; exit $rc");
    check_same_as_plain("a file then a fifo", rc, "ref2.npy");
}

/* A duplicate id through a pipe: exit 1, one error line naming the id and both records, no output. */
static void expect_duplicate(const char *label, const char *script, const char *needle) {
    int rc = run_script(script);
    CHECK(rc == 1, "%s: rc %d, want 1 (0: the duplicate passed silently): %s", label, rc, errbuf);
    CHECK(count_lines_with(errbuf, "ribo: error:") == 1 && count_lines_with(errbuf, "\n") == 1,
          "%s: want exactly one 'ribo: error:' line, got: %s", label, errbuf);
    CHECK(strstr(errbuf, needle) != NULL, "%s: the message lacks \"%s\": %s", label, needle, errbuf);
    CHECK(!exists("out.npy") && !exists("out.ids.txt"), "%s: an output file was left behind", label);
    run_script("rm -rf out.npy out.ids.txt out.npy.ribo-work fifo");
}

static void test_duplicates(void) {
    expect_duplicate("duplicate in /dev/stdin",
                     "cat \"$P\" \"$P\" | timeout 60 \"$R\" embed -q --model \"$M\" --input /dev/stdin --output out.npy",
                     "/dev/stdin: record 41 ('seq001'): duplicate id 'seq001' (first seen in /dev/stdin, record 1)");
    expect_duplicate("duplicate in process substitution",
                     "timeout 60 \"$R\" embed -q --model \"$M\" --input <(cat \"$S\" \"$S\") --output out.npy",
                     "record 13 ('short01'): duplicate id 'short01' (first seen in /dev/fd/");
    expect_duplicate("pipe repeating a file's id",
                     "timeout 60 \"$R\" embed -q --model \"$M\" --input \"$P\" <(head -2 \"$P\") --output out.npy",
                     "record 1 ('seq001'): duplicate id 'seq001' (first seen in");
    expect_duplicate("file repeating a pipe's id",
                     "timeout 60 \"$R\" embed -q --model \"$M\" --input <(cat \"$S\") \"$S\" --output out.npy",
                     "short.fasta: record 1 ('short01'): duplicate id 'short01' (first seen in /dev/fd/");
    expect_duplicate("duplicate in a fifo",
                     "mkfifo fifo && { cat \"$S\" \"$S\" > fifo & }\n"
                     "timeout 60 \"$R\" embed -q --model \"$M\" --input fifo --output out.npy; rc=$?\n"
                     "kill %1 2>/dev/null; exit $rc",
                     "fifo: record 13 ('short01'): duplicate id 'short01' (first seen in fifo, record 1)");
    expect_duplicate("duplicate in a pipe, forced hash collisions",
                     "cat \"$S\" \"$S\" | RIBO_TEST_ID_HASH_BITS=4 timeout 60 \"$R\" embed -q --model \"$M\" "
                     "--input /dev/stdin --output out.npy",
                     "record 13 ('short01'): duplicate id 'short01' (first seen in /dev/stdin, record 1)");
}

/* --resume with a pipe: the kept parts are checked against the windows the pipe gives again; an
 * input that was a pipe and is a regular file now (or the reverse) is refused. */
static void test_resume(void) {
    int rc = run_script("timeout 60 \"$R\" embed -q --model \"$M\" --input \"$P\" --window-seqs 8 --output ref8.npy");
    CHECK(rc == 0, "plain run in windows of 8: rc %d %s", rc, errbuf);
    const char *kill = "cat \"$P\" | RIBO_TEST_KILL_AFTER_PARTS=2 timeout 60 \"$R\" embed -q --model \"$M\" --input "
                       "/dev/stdin --window-seqs 8 --output out.npy";
    rc = run_script(kill);
    CHECK(rc == 128 + SIGKILL && exists("out.npy.ribo-work") && !exists("out.npy"), "killed pipe run: rc %d %s", rc,
          errbuf);
    rc = run_script("timeout 60 \"$R\" embed -q --model \"$M\" --input \"$P\" --window-seqs 8 --output out.npy --resume");
    CHECK(rc == 1 && strstr(errbuf, "a regular file now, was a pipe"), "resume from a file after a pipe: rc %d %s", rc,
          errbuf);
    rc = run_script("cat \"$P\" | timeout 60 \"$R\" embed -q --model \"$M\" --input /dev/stdin --window-seqs 8 "
                    "--output out.npy --resume");
    check_same_as_plain("resume with a pipe", rc, "ref8.npy");
    /* a pipe that gives other records where a kept part is: refused */
    rc = run_script(kill);
    CHECK(rc == 128 + SIGKILL, "second killed pipe run: rc %d %s", rc, errbuf);
    rc = run_script("tail -n +3 \"$P\" | timeout 60 \"$R\" embed -q --model \"$M\" --input /dev/stdin --window-seqs 8 "
                    "--output out.npy --resume");
    CHECK(rc == 1 && strstr(errbuf, "input changed"), "resume with a changed pipe: rc %d %s", rc, errbuf);
    run_script("rm -rf out.npy out.ids.txt out.npy.ribo-work");
}

int main(void) {
    make_references();
    test_anonymous_pipes();
    test_fifos();
    test_duplicates();
    test_resume();
    return ribo_test_finish("test_pipe_inputs");
}
