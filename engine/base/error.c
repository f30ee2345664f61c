#include "engine/base/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *ribo_status_name(ribo_status status) {
    switch (status) {
    case RIBO_OK: return "ok";
    case RIBO_ERR_INVALID_ARGUMENT: return "invalid argument";
    case RIBO_ERR_IO: return "I/O error";
    case RIBO_ERR_INPUT: return "invalid input";
    case RIBO_ERR_MODEL: return "invalid model";
    case RIBO_ERR_UNSUPPORTED: return "unsupported";
    case RIBO_ERR_OUT_OF_MEMORY: return "out of memory";
    case RIBO_ERR_DEVICE: return "device error";
    case RIBO_ERR_INTERNAL: return "internal error";
    }
    return "unknown status";
}

/* Keeps the message on one line: newlines and tabs become spaces. */
static void flatten(char *s) {
    for (; *s; ++s)
        if (*s == '\n' || *s == '\r' || *s == '\t') *s = ' ';
}

/* A message longer than the buffer ends in "..." so the cut is visible, never silent. */
static void mark_cut(char *msg, size_t cap, int wanted) {
    if (wanted >= 0 && (size_t)wanted < cap) return;
    memcpy(msg + cap - 4, "...", 4);
}

ribo_status ribo_error_set(ribo_error *err, ribo_status status, const char *fmt, ...) {
    if (!err) return status;
    err->status = status;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    mark_cut(err->message, sizeof err->message, n);
    flatten(err->message);
    return status;
}

ribo_status ribo_error_prefix(ribo_error *err, const char *fmt, ...) {
    if (!err) return RIBO_ERR_INTERNAL;
    char prefix[sizeof err->message];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    char old[sizeof err->message];
    memcpy(old, err->message, sizeof old);
    int n = snprintf(err->message, sizeof err->message, "%s: %s", prefix, old);
    mark_cut(err->message, sizeof err->message, n);
    flatten(err->message);
    return err->status;
}

void ribo_error_clear(ribo_error *err) {
    if (!err) return;
    err->status = RIBO_OK;
    err->message[0] = '\0';
}
