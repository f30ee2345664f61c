/* The run report: totals, throughput, time per stage, busy fraction of each stream, how long the
 * compute streams waited for input, peak memory, padding waste, and a one-line verdict naming the
 * stage that limits speed and the setting to change. Written as JSON by --report. */
#ifndef RIBO_ENGINE_RUN_REPORT_H
#define RIBO_ENGINE_RUN_REPORT_H

#include "engine/run/pipeline.h"
#include "engine/run/writer.h"

typedef struct ribo_run_pipe_stats {
    char label[192];
    ribo_pipeline_stats st;
} ribo_run_pipe_stats;

typedef struct ribo_run_stats {
    const char *model_dir, *output, *backend;
    bool sync;
    bool reduced_precision;    /* the run already stores fp16/bf16 (the verdict does not suggest it) */
    bool all_devices;          /* every device of the backend already runs (--devices all) */
    double seconds;            /* wall time of the whole run */
    double setup_s;            /* model, devices, weights, first window: before the first batch */
    double run_s;              /* from the start of the pipelines to the last row written */
    double assemble_s;         /* final file from the parts */
    uint64_t sequences, tokens;                   /* whole input */
    uint64_t sequences_computed, tokens_computed; /* this run (not kept from an interrupted one) */
    size_t batches, windows, windows_resumed;
    int max_tokens;
    double packing_density;    /* tokens computed / (batches x max_tokens) */
    double read_s, tokenize_s, pack_s; /* producer thread */
    double producer_wait_s;    /* producer waited for a free batch object (downstream behind) */
    double write_s;            /* writer busy (mean over its threads) */
    ribo_writer_stats out;     /* bytes written, each writer thread's busy time, in place or parts */
    double writer_wait_s;      /* writer waited for work */
    int n_pipes;
    ribo_run_pipe_stats pipes[RIBO_MAX_DEVICES];
    uint64_t host_peak_rss_bytes;
} ribo_run_stats;

/* One line: "<input|compute|output|transfer>-bound: <evidence>; <setting to change>". */
void ribo_run_verdict(const ribo_run_stats *s, char *out, size_t cap);

ribo_status ribo_run_report_write(const char *path, const ribo_run_stats *s, ribo_error *err);

#endif
