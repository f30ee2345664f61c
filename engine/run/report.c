/* Run report and bottleneck verdict (see report.h). */
#include "engine/run/report.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Averages over the pipelines of a per-pipeline time, as a fraction of the run. */
static double mean_fraction(const ribo_run_stats *s, double (*get)(const ribo_pipeline_stats *)) {
    if (s->n_pipes == 0 || s->run_s <= 0) return 0;
    double sum = 0;
    for (int i = 0; i < s->n_pipes; ++i) sum += get(&s->pipes[i].st);
    double f = sum / s->n_pipes / s->run_s;
    return f > 1 ? 1 : f;
}

static double get_compute(const ribo_pipeline_stats *p) { return p->compute_s; }
static double get_h2d(const ribo_pipeline_stats *p) { return p->h2d_s; }
static double get_d2h(const ribo_pipeline_stats *p) { return p->d2h_s; }
static double get_idle(const ribo_pipeline_stats *p) { return p->compute_idle_s; }
static double get_wait_writer(const ribo_pipeline_stats *p) { return p->wait_writer_s; }
static double get_enqueue(const ribo_pipeline_stats *p) { return p->enqueue_s; }

static double frac(double t, double total) { return total > 0 ? (t / total > 1 ? 1 : t / total) : 0; }

void ribo_run_verdict(const ribo_run_stats *s, char *out, size_t cap) {
    double compute = mean_fraction(s, get_compute), h2d = mean_fraction(s, get_h2d), d2h = mean_fraction(s, get_d2h);
    double idle = mean_fraction(s, get_idle), wait_writer = mean_fraction(s, get_wait_writer);
    double producer = frac(s->read_s + s->tokenize_s + s->pack_s, s->run_s), writer = frac(s->write_s, s->run_s);
    if (s->batches == 0) {
        snprintf(out, cap, "nothing computed: every part was kept from the interrupted run");
    } else if (s->sync) {
        snprintf(out, cap,
                 "synchronous mode: stages run one after another (compute busy %.0f%%); drop --sync to overlap "
                 "transfers, compute and output",
                 100 * compute);
    } else if (compute >= 0.8 && mean_fraction(s, get_enqueue) >= 0.8 * compute) {
        snprintf(out, cap,
                 "launch-bound: the host took %.0f%% of the run to enqueue work the device ran in %.0f%%; a larger "
                 "--max-tokens puts more work behind each launch",
                 100 * mean_fraction(s, get_enqueue), 100 * compute);
    } else if (compute >= 0.8) {
        snprintf(out, cap, "compute-bound: the compute stream is busy %.0f%% of the time; for more speed use %s%s%sa larger "
                 "--max-tokens if memory allows",
                 100 * compute, s->reduced_precision ? "" : "--dtype bf16 or fp16 where the device has it, ",
                 s->all_devices ? "" : "more devices (--devices all), ", s->reduced_precision && s->all_devices ? "" : "or ");
    } else if (writer >= 0.7 || wait_writer >= 0.2) {
        snprintf(out, cap,
                 "output-bound: the %d writer thread(s) are busy %.0f%% of the time and the devices waited %.0f%% "
                 "for them; raise --writers, write to a faster disk or pool the output (--pool mean) instead of "
                 "per-residue rows, and raise --ring-depth to absorb bursts",
                 s->out.writers, 100 * writer, 100 * wait_writer);
    } else if (h2d >= 0.6 || d2h >= 0.6) {
        snprintf(out, cap,
                 "transfer-bound: the %s stream is busy %.0f%% of the time; raise --ring-depth so more copies overlap "
                 "compute, or pool the output (--pool mean) to shrink the copies back",
                 h2d >= d2h ? "H2D" : "D2H", 100 * (h2d >= d2h ? h2d : d2h));
    } else if (producer >= 0.6 || idle >= 0.3) {
        snprintf(out, cap,
                 "input-bound: the reader/tokenizer/packer thread is busy %.0f%% of the time and the compute stream "
                 "waited %.0f%% for input; give uncompressed FASTA on fast storage, or fewer devices per input "
                 "(--devices), and raise --queue-depth to absorb bursts",
                 100 * producer, 100 * idle);
    } else {
        snprintf(out, cap,
                 "no stage saturated (compute busy %.0f%%, input thread %.0f%%, writer %.0f%%): the run is too short "
                 "or latency-bound; raise --queue-depth and --ring-depth to keep more batches in flight",
                 100 * compute, 100 * producer, 100 * writer);
    }
}

static void add_num(cJSON *o, const char *k, double v) { cJSON_AddNumberToObject(o, k, v); }

static cJSON *pipe_json(const ribo_run_pipe_stats *p, double run_s) {
    const ribo_pipeline_stats *st = &p->st;
    cJSON *d = cJSON_CreateObject();
    cJSON_AddStringToObject(d, "device", p->label);
    add_num(d, "batches", (double)st->batches);
    add_num(d, "sequences", (double)st->sequences);
    add_num(d, "tokens", (double)st->tokens);
    add_num(d, "max_tokens", st->max_tokens);
    cJSON *busy = cJSON_AddObjectToObject(d, "stream_busy_fraction");
    add_num(busy, "h2d", frac(st->h2d_s, run_s));
    add_num(busy, "compute", frac(st->compute_s, run_s));
    add_num(busy, "d2h", frac(st->d2h_s, run_s));
    cJSON *sec = cJSON_AddObjectToObject(d, "stream_seconds");
    add_num(sec, "h2d", st->h2d_s);
    add_num(sec, "compute", st->compute_s);
    add_num(sec, "d2h", st->d2h_s);
    add_num(d, "compute_waited_for_input_s", st->compute_idle_s);
    add_num(d, "host_waited_for_batches_s", st->wait_input_s);
    add_num(d, "host_waited_for_writer_s", st->wait_writer_s);
    add_num(d, "host_enqueue_s", st->enqueue_s);
    cJSON *mem = cJSON_AddObjectToObject(d, "memory");
    add_num(mem, "peak_allocated_bytes", (double)st->mem.peak_allocated_bytes);
    add_num(mem, "device_used_bytes_after_setup", (double)st->device_used_bytes);
    add_num(mem, "total_bytes", (double)st->mem.total_bytes);
    add_num(mem, "free_bytes_at_end", (double)st->mem.free_bytes);
    cJSON *setup = cJSON_AddObjectToObject(d, "setup");
    add_num(setup, "buffers_and_weights_s", st->executor_s);
    add_num(setup, "warm_up_s", st->warmup_s);
    add_num(setup, "host_rss_anon_bytes", (double)st->host_anon_bytes);
    add_num(setup, "host_rss_file_bytes", (double)st->host_file_bytes);
    return d;
}

ribo_status ribo_run_report_write(const char *path, const ribo_run_stats *s, ribo_error *err) {
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "ribo_version", RIBO_VERSION_STRING);
    cJSON_AddStringToObject(r, "model", s->model_dir ? s->model_dir : "");
    cJSON_AddStringToObject(r, "output", s->output ? s->output : "");
    cJSON_AddStringToObject(r, "backend", s->backend ? s->backend : "");
    cJSON_AddStringToObject(r, "mode", s->sync ? "sync" : "pipelined");
    cJSON *t = cJSON_AddObjectToObject(r, "totals");
    add_num(t, "sequences", (double)s->sequences);
    add_num(t, "tokens", (double)s->tokens);
    add_num(t, "sequences_computed", (double)s->sequences_computed);
    add_num(t, "tokens_computed", (double)s->tokens_computed);
    add_num(t, "batches", (double)s->batches);
    add_num(t, "parts", (double)s->windows);
    add_num(t, "parts_resumed", (double)s->windows_resumed);
    add_num(t, "seconds", s->seconds);
    add_num(t, "tokens_per_s", s->seconds > 0 ? (double)s->tokens_computed / s->seconds : 0);
    add_num(t, "pipeline_tokens_per_s", s->run_s > 0 ? (double)s->tokens_computed / s->run_s : 0);
    cJSON *st = cJSON_AddObjectToObject(r, "stage_seconds");
    add_num(st, "setup", s->setup_s);
    add_num(st, "read", s->read_s);
    add_num(st, "tokenize", s->tokenize_s);
    add_num(st, "pack", s->pack_s);
    double h2d = 0, compute = 0, d2h = 0;
    for (int i = 0; i < s->n_pipes; ++i) {
        h2d += s->pipes[i].st.h2d_s;
        compute += s->pipes[i].st.compute_s;
        d2h += s->pipes[i].st.d2h_s;
    }
    add_num(st, "h2d", h2d);
    add_num(st, "compute", compute);
    add_num(st, "d2h", d2h);
    add_num(st, "write", s->write_s);
    add_num(st, "assemble", s->assemble_s);
    add_num(st, "pipeline_wall", s->run_s);
    cJSON *host = cJSON_AddObjectToObject(r, "host_threads");
    add_num(host, "producer_busy_fraction", frac(s->read_s + s->tokenize_s + s->pack_s, s->run_s));
    add_num(host, "producer_waited_for_free_batch_s", s->producer_wait_s);
    add_num(host, "writer_busy_fraction", frac(s->write_s, s->run_s));
    add_num(host, "writer_waited_for_work_s", s->writer_wait_s);
    add_num(host, "peak_rss_bytes", (double)s->host_peak_rss_bytes);
    cJSON *out = cJSON_AddObjectToObject(r, "write");
    cJSON_AddStringToObject(out, "layout", s->out.in_place ? "in place (rows written once at their final offset)"
                                                            : "parts, copied into the final file at the end");
    add_num(out, "writers", s->out.writers);
    add_num(out, "bytes_written", (double)s->out.bytes);
    double span = s->out.last_done - s->out.first_write;
    add_num(out, "write_seconds", span > 0 ? span : 0);
    add_num(out, "write_gb_per_s", span > 0 ? (double)s->out.bytes / span / 1e9 : 0);
    double busy = 0;
    for (int i = 0; i < s->out.writers && i < 64; ++i) busy += s->out.busy_s[i];
    add_num(out, "gb_per_writer_busy_s", busy > 0 ? (double)s->out.bytes / busy / 1e9 : 0);
    add_num(out, "assemble_seconds", s->assemble_s);
    cJSON *wb = cJSON_AddArrayToObject(out, "writer_busy_fraction");
    for (int i = 0; i < s->out.writers && i < 64; ++i) cJSON_AddItemToArray(wb, cJSON_CreateNumber(frac(s->out.busy_s[i], s->run_s)));
    cJSON *devs = cJSON_AddArrayToObject(r, "devices");
    for (int i = 0; i < s->n_pipes; ++i) cJSON_AddItemToArray(devs, pipe_json(&s->pipes[i], s->run_s));
    cJSON *pk = cJSON_AddObjectToObject(r, "packing");
    add_num(pk, "max_tokens", s->max_tokens);
    add_num(pk, "density", s->packing_density);
    add_num(pk, "padding_waste", s->batches ? 1 - s->packing_density : 0);
    char verdict[512];
    ribo_run_verdict(s, verdict, sizeof verdict);
    cJSON_AddStringToObject(r, "bottleneck", verdict);
    char *text = cJSON_Print(r);
    cJSON_Delete(r);
    if (!text) return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "out of host memory for the report");
    FILE *f = fopen(path, "w");
    if (!f) {
        free(text);
        return ribo_error_set(err, RIBO_ERR_IO, "%s: cannot create the report: %s", path, strerror(errno));
    }
    bool ok = fputs(text, f) >= 0 && fputc('\n', f) != EOF;
    ok = fclose(f) == 0 && ok;
    free(text);
    if (!ok) return ribo_error_set(err, RIBO_ERR_IO, "%s: cannot write the report", path);
    return RIBO_OK;
}
