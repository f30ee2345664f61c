#include "test_util.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

int ribo_test_failures = 0;

static char tmpdir_path[512];

bool ribo_test_message_has(const ribo_error *err, const char *needle) {
    return err && strstr(err->message, needle) != NULL;
}

const char *ribo_test_fixture(const char *rel) {
    static char bufs[8][1024];
    static int slot;
    char *b = bufs[slot++ % 8];
    const char *root = getenv("RIBO_FIXTURES");
    snprintf(b, 1024, "%s/%s", root ? root : RIBO_FIXTURE_DIR, rel);
    return b;
}

const char *ribo_test_tmpdir(void) {
    if (!tmpdir_path[0]) {
        const char *base = getenv("TMPDIR");
        snprintf(tmpdir_path, sizeof tmpdir_path, "%s/ribo-test-XXXXXX", base ? base : "/tmp");
        if (!mkdtemp(tmpdir_path)) {
            perror("mkdtemp");
            exit(2);
        }
    }
    return tmpdir_path;
}

const char *ribo_test_tmp(const char *name) {
    static char bufs[8][1024];
    static int slot;
    char *b = bufs[slot++ % 8];
    snprintf(b, 1024, "%s/%s", ribo_test_tmpdir(), name);
    return b;
}

bool ribo_test_write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return false;
    bool ok = fwrite(data, 1, n, f) == n;
    return fclose(f) == 0 && ok;
}

char *ribo_test_read_file(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)sz + 1);
    if (buf && fread(buf, 1, (size_t)sz, f) != (size_t)sz) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) {
        buf[sz] = '\0';
        if (n) *n = (size_t)sz;
    }
    return buf;
}

int ribo_test_run_cli(const char *args, char *err_out, size_t err_cap) {
    const char *errfile = ribo_test_tmp("cli-stderr.txt");
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "'%s' %s 2>'%s'", RIBO_BINARY_PATH, args, errfile);
    int rc = system(cmd);
    if (err_out && err_cap) {
        size_t n = 0;
        char *e = ribo_test_read_file(errfile, &n);
        snprintf(err_out, err_cap, "%s", e ? e : "");
        free(e);
    }
    if (rc == -1) return -1;
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128 + WTERMSIG(rc);
}

int ribo_test_finish(const char *name) {
    if (tmpdir_path[0] && !getenv("KEEP_TEMP")) {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir_path);
        if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", tmpdir_path);
    }
    if (ribo_test_failures) {
        fprintf(stderr, "%s: %d check(s) failed\n", name, ribo_test_failures);
        return 1;
    }
    fprintf(stderr, "%s: all checks passed\n", name);
    return 0;
}
