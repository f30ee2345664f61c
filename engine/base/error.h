/* Filling ribo_error: every library function that fails says what, where and why. */
#ifndef RIBO_ENGINE_ERROR_H
#define RIBO_ENGINE_ERROR_H

#include "ribo/ribo.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define RIBO_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define RIBO_PRINTF(a, b)
#endif

/* Sets err (may be NULL) to status + formatted one-line message; returns status. */
ribo_status ribo_error_set(ribo_error *err, ribo_status status, const char *fmt, ...) RIBO_PRINTF(3, 4);

/* Prepends "prefix: " to an already-set message (adds context as the error travels up). */
ribo_status ribo_error_prefix(ribo_error *err, const char *fmt, ...) RIBO_PRINTF(2, 3);

void ribo_error_clear(ribo_error *err);

#define RIBO_TRY(expr)                       \
    do {                                     \
        ribo_status ribo_try_s_ = (expr);    \
        if (ribo_try_s_ != RIBO_OK) return ribo_try_s_; \
    } while (0)

#ifdef __cplusplus
}
#endif

#endif
