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

/* ---------------------------------------------------------------- device helpers */
#include <math.h>

#include "engine/base/error.h"

static ribo_dbuf *test_buffers[1024];
static int n_test_buffers;

const char *ribo_test_backend(void) {
    const char *b = getenv("RIBO_TEST_BACKEND");
    return b && *b ? b : "auto";
}

bool ribo_test_backend_explicit(void) { return strcmp(ribo_test_backend(), "auto") != 0; }

static void print_named_open_failure(const char *why) {
    fprintf(stderr,
            "FAILED: RIBO_TEST_BACKEND=%s names the backend to test, and its device 0 did not open: %s "
            "(unset RIBO_TEST_BACKEND to let the test skip where no device is usable)\n",
            ribo_test_backend(), why);
}

void ribo_test_open_failed(const ribo_error *err) {
    const char *why = err && err->message[0] ? err->message : "no reason given";
    if (ribo_test_backend_explicit()) {
        print_named_open_failure(why);
        exit(1);
    }
    fprintf(stderr, "SKIPPED: no usable device (%s)\n", why);
    exit(RIBO_TEST_SKIP);
}

bool ribo_test_storage_refusal_expected(ribo_storage storage, const ribo_error *err) {
    if (!ribo_test_backend_explicit()) return true; /* auto: a device that does not open is a skip */
    const char *why = err && err->message[0] ? err->message : "no reason given";
    const ribo_backend_reg *reg = NULL;
    ribo_error e2 = {0};
    ribo_device_props props;
    memset(&props, 0, sizeof props);
    ribo_status s = ribo_backend_resolve(ribo_test_backend(), &reg, &e2);
    if (s == RIBO_OK) s = reg->device_describe ? reg->device_describe(0, &props, &e2) : RIBO_ERR_UNSUPPORTED;
    if (s != RIBO_OK) {
        print_named_open_failure(why);
        return false;
    }
    const bool claimed = storage == RIBO_STORAGE_F16 ? props.storage_f16
                         : storage == RIBO_STORAGE_BF16 ? props.storage_bf16
                                                        : true;
    if (!claimed) return true; /* e.g. OpenCL: fp32 only */
    fprintf(stderr,
            "FAILED: RIBO_TEST_BACKEND=%s: '%s' says it stores %s but did not open with it: %s "
            "(unset RIBO_TEST_BACKEND to let the test skip where no device is usable)\n",
            ribo_test_backend(), props.name, storage == RIBO_STORAGE_F16 ? "fp16" : storage == RIBO_STORAGE_BF16 ? "bf16" : "fp32",
            why);
    return false;
}

void ribo_test_open_device(ribo_device **dev, ribo_stream **stream) {
    ribo_error err = {0};
    ribo_status s = ribo_backend_open(ribo_test_backend(), 0, RIBO_STORAGE_F32, dev, NULL, &err);
    if (s != RIBO_OK) ribo_test_open_failed(&err);
    s = ribo_stream_create(*dev, 0, stream, &err);
    if (s != RIBO_OK) {
        fprintf(stderr, "stream_create failed: %s\n", err.message);
        exit(1);
    }
}

void ribo_test_close_device(ribo_device *dev, ribo_stream *stream) {
    ribo_test_free_all(dev);
    ribo_stream_destroy(stream);
    ribo_device_destroy(dev);
}

ribo_dptr ribo_test_upload(ribo_device *dev, ribo_stream *s, const void *host, size_t n) {
    ribo_error err = {0};
    ribo_dbuf *buf = NULL;
    if (dev->iface->buffer_alloc(dev, n, "test", &buf, &err) != RIBO_OK || n_test_buffers == 1024) {
        fprintf(stderr, "buffer_alloc(%zu) failed: %s\n", n, err.message);
        exit(1);
    }
    test_buffers[n_test_buffers++] = buf;
    ribo_dptr p = {buf, 0};
    if (!host) {
        ribo_test_poison(s, p, 0x7fc00001u, n);
        return p;
    }
    ribo_status st = s->iface->copy_h2d(s, p, host, n, &err);
    if (st == RIBO_OK) st = s->iface->synchronize(s, &err);
    if (st != RIBO_OK) {
        fprintf(stderr, "upload failed: %s\n", err.message);
        exit(1);
    }
    return p;
}

void ribo_test_poison(ribo_stream *s, ribo_dptr p, uint32_t pattern, size_t n) {
    size_t words = (n + 3) / 4;
    uint32_t *host = malloc(words * 4 + 4);
    if (!host) {
        fprintf(stderr, "poison: out of host memory\n");
        exit(1);
    }
    for (size_t i = 0; i < words; ++i) host[i] = pattern;
    ribo_error err = {0};
    ribo_status st = s->iface->copy_h2d(s, p, host, n, &err);
    if (st == RIBO_OK) st = s->iface->synchronize(s, &err);
    free(host);
    if (st != RIBO_OK) {
        fprintf(stderr, "poison failed: %s\n", err.message);
        exit(1);
    }
}

void ribo_test_download(ribo_stream *s, void *host, ribo_dptr src, size_t n) {
    ribo_error err = {0};
    ribo_status st = s->iface->copy_d2h(s, host, src, n, &err);
    if (st == RIBO_OK) st = s->iface->synchronize(s, &err);
    if (st != RIBO_OK) {
        fprintf(stderr, "download failed: %s\n", err.message);
        exit(1);
    }
}

void ribo_test_free_all(ribo_device *dev) {
    for (int i = 0; i < n_test_buffers; ++i) dev->iface->buffer_free(dev, test_buffers[i]);
    n_test_buffers = 0;
}

float ribo_test_randf(uint64_t *state, float lo, float hi) {
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    return lo + (hi - lo) * (float)((x >> 40) * (1.0 / 16777216.0));
}

double ribo_test_max_row_rel_err(const float *a, const float *r, size_t rows, size_t width) {
    double worst = 0;
    for (size_t i = 0; i < rows; ++i) {
        double num = 0, den = 0;
        for (size_t c = 0; c < width; ++c) {
            double d = (double)a[i * width + c] - r[i * width + c];
            num += d * d;
            den += (double)r[i * width + c] * r[i * width + c];
        }
        double rel = den > 0 ? sqrt(num / den) : sqrt(num);
        if (isnan(rel)) return NAN; /* an unwritten (poisoned) or broken row */
        if (rel > worst) worst = rel;
    }
    return worst;
}

ribo_status ribo_test_read_input(const char *const *paths, int n_paths, const ribo_tokenizer *tok,
                                 const ribo_seqset_options *opts, ribo_seqset *set, ribo_error *err) {
    memset(set, 0, sizeof *set);
    ribo_input_config cfg = {.paths = paths, .n_paths = n_paths, .tok = tok, .opts = opts, .window_tokens = SIZE_MAX, .window_seqs = SIZE_MAX};
    ribo_input *in = NULL;
    RIBO_TRY(ribo_input_open(&cfg, &in, err));
    ribo_input_window w;
    memset(&w, 0, sizeof w);
    bool has = false;
    ribo_status s = ribo_input_next(in, &w, &has, err);
    ribo_input_close(in);
    if (s == RIBO_OK && has) {
        *set = w.set; /* the one window holds the whole input */
        return RIBO_OK;
    }
    ribo_input_window_free(&w);
    return s;
}
