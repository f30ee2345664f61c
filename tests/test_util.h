/* Minimal test harness shared by the tests: checks count failures, the process exit code reports them. */
#ifndef RIBO_TEST_UTIL_H
#define RIBO_TEST_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ribo/ribo.h"

extern int ribo_test_failures;

#define CHECK(cond, ...)                                                          \
    do {                                                                          \
        if (!(cond)) {                                                            \
            ++ribo_test_failures;                                                 \
            fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                         \
            fputc('\n', stderr);                                                  \
        }                                                                         \
    } while (0)

/* Fails unless status == want; prints err's message. */
#define CHECK_STATUS(status, want, err)                                                  \
    CHECK((status) == (want), "status %s (want %s): %s", ribo_status_name(status),       \
          ribo_status_name(want), (err)->message)

/* Fails unless the error message contains every given substring (NULL-terminated list). */
bool ribo_test_message_has(const ribo_error *err, const char *needle);
#define CHECK_MESSAGE(err, needle) \
    CHECK(ribo_test_message_has((err), (needle)), "message '%s' lacks '%s'", (err)->message, (needle))

/* Absolute path of a committed fixture: RIBO_FIXTURE_DIR/rel (static buffer per call slot). */
const char *ribo_test_fixture(const char *rel);

/* A fresh empty temporary directory for this test (removed by ribo_test_finish unless KEEP_TEMP). */
const char *ribo_test_tmpdir(void);
/* path inside the tmpdir, returned in a rotating static buffer */
const char *ribo_test_tmp(const char *name);

/* Writes bytes to a file; returns false on failure. */
bool ribo_test_write_file(const char *path, const void *data, size_t n);
/* Reads a whole file (malloc'd, NUL-terminated); NULL on failure. */
char *ribo_test_read_file(const char *path, size_t *n);

/* Runs the `ribo` binary with a shell argument string; returns its exit code, captures stderr into err_out. */
int ribo_test_run_cli(const char *args, char *err_out, size_t err_cap);

/* Prints the summary, removes the tmpdir and returns the exit code for main. */
int ribo_test_finish(const char *name);

/* Exit code ctest treats as "skipped". */
#define RIBO_TEST_SKIP 77

#endif

/* ---- device helpers (tests that need a backend device) ---- */
#include "engine/backend.h"

/* The backend the device tests open: $RIBO_TEST_BACKEND, or "auto" where it is unset or empty. */
const char *ribo_test_backend(void);
/* Whether $RIBO_TEST_BACKEND names a backend (anything but unset, empty or "auto"): then a device
 * that does not open is a test failure, not a skip (an AMD GPU without rocBLAS must not pass as
 * "skipped"). */
bool ribo_test_backend_explicit(void);
/* After an open of the test backend failed with err: with an explicit $RIBO_TEST_BACKEND prints
 * "FAILED: ..." (the backend, the reason, and that unsetting RIBO_TEST_BACKEND lets the test skip)
 * and exits 1; otherwise (auto: no usable device here) prints "SKIPPED: ..." and exits
 * RIBO_TEST_SKIP. */
__attribute__((noreturn)) void ribo_test_open_failed(const ribo_error *err);
/* After an open of the test backend with 16-bit `storage` failed with err: true where the refusal is
 * expected: always under auto (as before: the 16-bit cases skip), and with an explicit
 * RIBO_TEST_BACKEND where its device 0 says it does not store the type (OpenCL). False (the reason
 * printed) where RIBO_TEST_BACKEND names the backend and its device claims the storage type or
 * cannot even be described: the caller reports a failure. */
bool ribo_test_storage_refusal_expected(ribo_storage storage, const ribo_error *err);

/* Opens device 0 of the backend named by $RIBO_TEST_BACKEND (default "auto") with fp32 storage; on
 * failure ribo_test_open_failed (skip under auto, failure where the backend is named). */
void ribo_test_open_device(ribo_device **dev, ribo_stream **stream);
void ribo_test_close_device(ribo_device *dev, ribo_stream *stream);
/* Allocates a device buffer of n bytes, filled from host (or with a NaN poison pattern if host is NULL). */
ribo_dptr ribo_test_upload(ribo_device *dev, ribo_stream *s, const void *host, size_t n);
/* Fills the first n bytes at p with the 32-bit pattern (a NaN poison), through copy_h2d; exits on failure. */
void ribo_test_poison(ribo_stream *s, ribo_dptr p, uint32_t pattern, size_t n);
void ribo_test_download(ribo_stream *s, void *host, ribo_dptr src, size_t n);
void ribo_test_free_all(ribo_device *dev);
/* Uniform random float in [lo, hi) from a caller-held xorshift state. */
float ribo_test_randf(uint64_t *state, float lo, float hi);
/* Worst per-row relative L2 error between a and reference r ([rows, width]). */
double ribo_test_max_row_rel_err(const float *a, const float *r, size_t rows, size_t width);

/* ---- input helper ---- */
#include "engine/input/input_stream.h"

/* Every sequence of the input files in one set, read by the input reader of ribo embed / ribo
 * tokenize (input_stream.c) as one window: input order, the whole-input duplicate check, every
 * count. On error *set is left empty. */
ribo_status ribo_test_read_input(const char *const *paths, int n_paths, const ribo_tokenizer *tok,
                                 const ribo_seqset_options *opts, ribo_seqset *set, ribo_error *err);
