/* Chrome/Perfetto trace writer (see trace.h). */
#include "engine/run/trace.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* One complete ("X") event; times in seconds since run start. */
static void span(FILE *f, bool *first, const char *name, const char *cat, int pid, int tid, double t0, double t1,
                 const char *args) {
    if (t1 < t0) t1 = t0;
    fprintf(f, "%s\n{\"name\":\"%s\",\"cat\":\"%s\",\"ph\":\"X\",\"pid\":%d,\"tid\":%d,\"ts\":%.3f,\"dur\":%.3f%s%s%s}",
            *first ? "" : ",", name, cat, pid, tid, t0 * 1e6, (t1 - t0) * 1e6, args ? ",\"args\":{" : "", args ? args : "",
            args ? "}" : "");
    *first = false;
}

static void meta(FILE *f, bool *first, const char *what, int pid, int tid, const char *name, int sort) {
    fprintf(f, "%s\n{\"name\":\"%s\",\"ph\":\"M\",\"pid\":%d,\"tid\":%d,\"args\":{\"name\":\"", *first ? "" : ",", what,
            pid, tid);
    for (const char *c = name; *c; ++c) fprintf(f, (*c == '"' || *c == '\\') ? "\\%c" : "%c", *c);
    fprintf(f, "\"}}");
    fprintf(f, ",\n{\"name\":\"%s_sort_index\",\"ph\":\"M\",\"pid\":%d,\"tid\":%d,\"args\":{\"sort_index\":%d}}",
            strcmp(what, "process_name") == 0 ? "process" : "thread", pid, tid, sort);
    *first = false;
}

ribo_status ribo_trace_write(const char *path, const char *const *labels, int n_pipelines,
                             const ribo_batch_record *batches, size_t n_batches, const ribo_window_record *windows,
                             size_t n_windows, ribo_error *err) {
    FILE *f = fopen(path, "w");
    if (!f) return ribo_error_set(err, RIBO_ERR_IO, "%s: cannot create the trace: %s", path, strerror(errno));
    bool first = true;
    fprintf(f, "{\"displayTimeUnit\":\"ms\",\"traceEvents\":[");
    meta(f, &first, "process_name", 0, 0, "host", 0);
    meta(f, &first, "thread_name", 0, 1, "reader/tokenizer/packer", 1);
    meta(f, &first, "thread_name", 0, 2, "writer", 2);
    for (int i = 0; i < n_pipelines; ++i) {
        char name[256];
        snprintf(name, sizeof name, "pipeline %d: %s", i, labels[i]);
        meta(f, &first, "process_name", i + 1, 0, name, i + 1);
        meta(f, &first, "thread_name", i + 1, 1, "H2D stream", 1);
        meta(f, &first, "thread_name", i + 1, 2, "compute stream", 2);
        meta(f, &first, "thread_name", i + 1, 3, "D2H stream", 3);
    }
    char name[64], args[160];
    for (size_t i = 0; i < n_windows; ++i) {
        const ribo_window_record *w = &windows[i];
        snprintf(name, sizeof name, "window %zu%s", w->index + 1, w->resumed ? " (kept)" : "");
        snprintf(args, sizeof args, "\"sequences\":%zu", w->n_rows);
        span(f, &first, name, "read+tokenize", 0, 1, w->t_begin, w->t_end, args);
    }
    for (size_t i = 0; i < n_batches; ++i) {
        const ribo_batch_record *b = &batches[i];
        snprintf(name, sizeof name, "batch %zu", b->seq_no + 1);
        snprintf(args, sizeof args, "\"window\":%zu,\"tokens\":%d,\"sequences\":%d", b->window + 1, b->n_tokens,
                 b->n_seqs);
        span(f, &first, name, "pack", 0, 1, b->pack[0], b->pack[1], args);
        span(f, &first, name, "write", 0, 2, b->write[0], b->write[1], args);
        int pid = b->pipeline + 1;
        if (b->timing.compute[1] > 0) {
            span(f, &first, name, "h2d", pid, 1, b->timing.h2d[0], b->timing.h2d[1], args);
            span(f, &first, name, "compute", pid, 2, b->timing.compute[0], b->timing.compute[1], args);
            span(f, &first, name, "d2h", pid, 3, b->timing.d2h[0], b->timing.d2h[1], args);
        }
    }
    fprintf(f, "\n]}\n");
    if (fclose(f) != 0) return ribo_error_set(err, RIBO_ERR_IO, "%s: cannot write the trace: %s", path, strerror(errno));
    return RIBO_OK;
}
