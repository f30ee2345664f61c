/* The `ribo` command line end to end: bad inputs, wrong or corrupted models and bad options each
 * give exit code 1 (2 for usage errors) with ONE line on stderr that names the file, record or
 * tensor, and never leave an output file behind. Also: gz input, --skip-invalid, info, devices,
 * --translate 6 (six-frame rows equal to the hand-translated proteins'). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "test_util.h"

static char errbuf[20000];

static bool exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* stderr must be exactly one "ribo: error: ..." line. */
static bool one_error_line(void) {
    size_t n = strlen(errbuf);
    return strncmp(errbuf, "ribo: error: ", 13) == 0 && n > 0 && errbuf[n - 1] == '\n' && strchr(errbuf, '\n') == errbuf + n - 1;
}

/* Runs args expecting failure with exit code `code`, a one-line error containing `needle`, and no output files. */
static void expect_failure(const char *label, const char *args, int code, const char *needle, const char *out) {
    int rc = ribo_test_run_cli(args, errbuf, sizeof errbuf);
    CHECK(rc == code, "%s: exit code %d, want %d; stderr: %s", label, rc, code, errbuf);
    CHECK(one_error_line(), "%s: stderr is not one 'ribo: error:' line: [%s]", label, errbuf);
    CHECK(strstr(errbuf, needle) != NULL, "%s: message lacks '%s': %s", label, needle, errbuf);
    if (out) {
        char ids[1100];
        snprintf(ids, sizeof ids, "%.*s.ids.txt", (int)(strlen(out) - 4), out);
        CHECK(!exists(out) && !exists(ids), "%s: output %s (or its ids) exists after a failure", label, out);
        /* no leftover partial files either */
        char cmd[1400];
        snprintf(cmd, sizeof cmd, "ls '%s' | grep -q partial", ribo_test_tmpdir());
        CHECK(system(cmd) != 0, "%s: a .partial file was left in %s", label, ribo_test_tmpdir());
    }
}

/* Embeds FASTA text with the esm2_a fixture, expecting failure. */
static void expect_fasta_failure(const char *label, const char *fasta, size_t n, const char *extra, const char *needle) {
    char in[1024], out[1024];
    snprintf(in, sizeof in, "%s", ribo_test_tmp("in.fasta"));
    snprintf(out, sizeof out, "%s", ribo_test_tmp("out.npy"));
    ribo_test_write_file(in, fasta, n);
    char args[4096];
    snprintf(args, sizeof args, "embed --model '%s' --input '%s' --output '%s' %s", ribo_test_fixture("esm2_a"), in, out,
             extra);
    expect_failure(label, args, 1, needle, out);
}

static void test_bad_fasta(void) {
    const char *empty = ">a\nMKV\n>b desc\n\n>c\nMKL\n";
    expect_fasta_failure("empty record", empty, strlen(empty), "", "record 2 ('b')");
    const char *notfasta = "MKVLA\nGGG\n";
    expect_fasta_failure("not fasta", notfasta, strlen(notfasta), "", "not FASTA");
    CHECK(strstr(errbuf, "in.fasta") != NULL, "not fasta: message does not name the file: %s", errbuf);
    const char bin[] = ">a\nMK\0\x01\x02V\n";
    expect_fasta_failure("binary", bin, sizeof bin - 1, "", "binary data");
    CHECK(strstr(errbuf, "in.fasta") != NULL, "binary: message does not name the file: %s", errbuf);
    char longseq[1200] = ">long\n";
    memset(longseq + 6, 'A', 1100);
    longseq[1106] = '\n';
    expect_fasta_failure("too long with --truncate 0", longseq, 1107, "--truncate 0", "'long'");
    expect_fasta_failure("no sequences", "", 0, "", "no sequences");
    const char bare_cr[] = ">a\nMKV\n>b\rx\nMKL\n";
    expect_fasta_failure("bare CR in an id", bare_cr, sizeof bare_cr - 1, "",
                         "in.fasta: record 2 ('b?x'), line 3: id contains a carriage return");
    /* duplicate id across two files */
    char f1[1024], f2[1024], out[1024];
    snprintf(f1, sizeof f1, "%s", ribo_test_tmp("one.fasta"));
    snprintf(f2, sizeof f2, "%s", ribo_test_tmp("two.fasta"));
    snprintf(out, sizeof out, "%s", ribo_test_tmp("out.npy"));
    ribo_test_write_file(f1, ">x\nMKV\n>y\nMK\n", 13);
    ribo_test_write_file(f2, ">z\nMKV\n>x\nMK\n", 13);
    char args[4096];
    snprintf(args, sizeof args, "embed --model '%s' --input '%s' '%s' --output '%s'", ribo_test_fixture("esm2_a"), f1, f2,
             out);
    expect_failure("duplicate id", args, 1, "'x'", out);
    CHECK(strstr(errbuf, "two.fasta") && strstr(errbuf, "one.fasta"), "duplicate id message names both files: %s", errbuf);
    snprintf(args, sizeof args, "embed --model '%s' --input '%s' --output '%s'", ribo_test_fixture("esm2_a"),
             ribo_test_tmp("missing.fasta"), out);
    expect_failure("missing input", args, 1, "missing.fasta", out);
    /* --skip-invalid turns the empty record into a warning */
    ribo_test_write_file(ribo_test_tmp("in.fasta"), empty, strlen(empty));
    snprintf(args, sizeof args, "embed --model '%s' --input '%s' --output '%s' --skip-invalid", ribo_test_fixture("esm2_a"),
             ribo_test_tmp("in.fasta"), out);
    int rc = ribo_test_run_cli(args, errbuf, sizeof errbuf);
    CHECK(rc == 0 && strstr(errbuf, "skipped 1 empty record"), "--skip-invalid: rc %d, %s", rc, errbuf);
    char *ids = ribo_test_read_file(ribo_test_tmp("out.ids.txt"), NULL);
    CHECK(ids && strcmp(ids, "a\nc\n") == 0, "--skip-invalid ids: %s", ids ? ids : "(none)");
    free(ids);
    unlink(out);
    unlink(ribo_test_tmp("out.ids.txt"));
}

/* ---- model directories ---- */

/* Copies config.json and vocab.txt of esm2_a into dir (created). */
static void make_model_dir(const char *dir, const char *config_override) {
    mkdir(dir, 0755);
    char src[1024], dst[1200];
    const char *files[] = {"config.json", "vocab.txt"};
    for (int i = 0; i < 2; ++i) {
        snprintf(src, sizeof src, "esm2_a/%s", files[i]);
        size_t n;
        char *text = ribo_test_read_file(ribo_test_fixture(src), &n);
        snprintf(dst, sizeof dst, "%s/%s", dir, files[i]);
        if (i == 0 && config_override) ribo_test_write_file(dst, config_override, strlen(config_override));
        else ribo_test_write_file(dst, text, n);
        free(text);
    }
}

typedef struct st_image {
    cJSON *header;
    unsigned char *data;
    size_t data_len;
} st_image;

static st_image load_fixture_weights(void) {
    st_image im = {0};
    size_t n;
    char *raw = ribo_test_read_file(ribo_test_fixture("esm2_a/model.safetensors"), &n);
    uint64_t hl = 0;
    memcpy(&hl, raw, 8);
    char *json = strndup(raw + 8, hl);
    im.header = cJSON_Parse(json);
    free(json);
    im.data_len = n - 8 - hl;
    im.data = malloc(im.data_len);
    memcpy(im.data, raw + 8 + hl, im.data_len);
    free(raw);
    return im;
}

/* Writes header + data as a safetensors file; header_len_override != 0 writes a wrong length. */
static void write_st(const char *path, const st_image *im, uint64_t header_len_override, size_t cut) {
    char *json = cJSON_PrintUnformatted(im->header);
    uint64_t hl = strlen(json);
    size_t total = 8 + hl + im->data_len;
    unsigned char *buf = malloc(total);
    uint64_t written_len = header_len_override ? header_len_override : hl;
    memcpy(buf, &written_len, 8);
    memcpy(buf + 8, json, hl);
    memcpy(buf + 8 + hl, im->data, im->data_len);
    ribo_test_write_file(path, buf, cut ? cut : total);
    free(buf);
    free(json);
}

/* Writes the weights with the header padded by trailing spaces to a length of 4k+1 bytes, so every
 * tensor's data starts at an odd file offset (the format does not require padding). */
static void write_st_misaligned(const char *path, const st_image *im) {
    char *json = cJSON_PrintUnformatted(im->header);
    uint64_t hl = strlen(json);
    uint64_t padded = hl + (4 - hl % 4) % 4 + 1;
    size_t total = 8 + padded + im->data_len;
    unsigned char *buf = malloc(total);
    memcpy(buf, &padded, 8);
    memset(buf + 8, ' ', padded);
    memcpy(buf + 8, json, hl);
    memcpy(buf + 8 + padded, im->data, im->data_len);
    ribo_test_write_file(path, buf, total);
    free(buf);
    free(json);
}

/* Writes a model dir (esm2_a's config and vocab) whose weights are the fixture's, changed by `mutate`. */
static void write_model(const char *dir, void (*mutate)(st_image *), uint64_t hl_override, size_t cut) {
    make_model_dir(dir, NULL);
    st_image im = load_fixture_weights();
    if (mutate) mutate(&im);
    char path[1200];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    write_st(path, &im, hl_override, cut);
    cJSON_Delete(im.header);
    free(im.data);
}

/* Builds a model dir whose weights are the fixture's, changed by `mutate`, and expects `needle`. */
static void expect_model_failure(const char *label, void (*mutate)(st_image *), uint64_t hl_override, size_t cut,
                                 const char *needle) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", ribo_test_tmp("model"));
    write_model(dir, mutate, hl_override, cut);
    char out[1024], args[4096];
    snprintf(out, sizeof out, "%s", ribo_test_tmp("out.npy"));
    snprintf(args, sizeof args, "embed --model '%s' --input '%s' --output '%s'", dir, ribo_test_fixture("short.fasta"), out);
    expect_failure(label, args, 1, needle, out);
}

static cJSON *entry(st_image *im, const char *name) { return cJSON_GetObjectItemCaseSensitive(im->header, name); }

static void set_offsets(cJSON *e, double begin, double end) {
    cJSON *o = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    cJSON_SetNumberValue(cJSON_GetArrayItem(o, 0), begin);
    cJSON_SetNumberValue(cJSON_GetArrayItem(o, 1), end);
}

#define WQ "esm.encoder.layer.1.attention.self.query.weight"

static void mut_missing(st_image *im) { cJSON_DeleteItemFromObjectCaseSensitive(im->header, WQ); }
static void mut_out_of_range(st_image *im) { set_offsets(entry(im, WQ), (double)im->data_len, (double)im->data_len + 16384); }
static void mut_overlap(st_image *im) {
    cJSON *a = entry(im, WQ), *b = entry(im, "esm.encoder.layer.1.attention.self.key.weight");
    cJSON *oa = cJSON_GetObjectItemCaseSensitive(a, "data_offsets");
    set_offsets(b, cJSON_GetArrayItem(oa, 0)->valuedouble, cJSON_GetArrayItem(oa, 1)->valuedouble);
}
static void mut_dtype(st_image *im) {
    cJSON *e = entry(im, WQ);
    cJSON_ReplaceItemInObjectCaseSensitive(e, "dtype", cJSON_CreateString("I32"));
}
static void mut_shape(st_image *im) {
    /* [64, 64] -> [32, 128]: same byte count, wrong shape for the config */
    cJSON *shape = cJSON_GetObjectItemCaseSensitive(entry(im, WQ), "shape");
    cJSON_SetNumberValue(cJSON_GetArrayItem(shape, 0), 32);
    cJSON_SetNumberValue(cJSON_GetArrayItem(shape, 1), 128);
}

/* Every float of the token embedding table set to 3e38: finite (so the weights pass their checks),
 * but the first LayerNorm overflows and the embeddings come out NaN. */
static void mut_huge_embeddings(st_image *im) {
    cJSON *o = cJSON_GetObjectItemCaseSensitive(entry(im, "esm.embeddings.word_embeddings.weight"), "data_offsets");
    size_t begin = (size_t)cJSON_GetArrayItem(o, 0)->valuedouble, end = (size_t)cJSON_GetArrayItem(o, 1)->valuedouble;
    const float big = 3e38f;
    for (size_t at = begin; at + 4 <= end; at += 4) memcpy(im->data + at, &big, 4);
}

/* One NaN in the query weight of layer 1 (element 5). */
static void mut_nan_weight(st_image *im) {
    cJSON *o = cJSON_GetObjectItemCaseSensitive(entry(im, WQ), "data_offsets");
    size_t begin = (size_t)cJSON_GetArrayItem(o, 0)->valuedouble;
    const float nan = NAN;
    memcpy(im->data + begin + 5 * 4, &nan, 4);
}

static void test_bad_models(void) {
    expect_model_failure("NaN weight", mut_nan_weight, 0, 0,
                         "tensor 'encoder.layer.1.attention.self.query.weight' holds a non-finite value (element 5)");
    expect_model_failure("missing tensor", mut_missing, 0, 0, "encoder.layer.1.attention.self.query.weight");
    CHECK(strstr(errbuf, ribo_test_tmp("model")) != NULL, "missing tensor: message does not name the model directory: %s",
          errbuf);
    expect_model_failure("offsets out of range", mut_out_of_range, 0, 0, WQ);
    expect_model_failure("overlapping offsets", mut_overlap, 0, 0, "overlap");
    expect_model_failure("wrong dtype", mut_dtype, 0, 0, WQ);
    expect_model_failure("wrong shape", mut_shape, 0, 0, WQ);
    expect_model_failure("header length past EOF", NULL, 1u << 30, 0, "past end of file");
    CHECK(strstr(errbuf, "model.safetensors") != NULL, "header length past EOF: file not named: %s", errbuf);
    expect_model_failure("truncated file", NULL, 0, 20000, "model.safetensors");
    expect_model_failure("tiny file", NULL, 0, 5, "too short for a safetensors header");
    CHECK(strstr(errbuf, "model.safetensors") != NULL, "tiny file: file not named: %s", errbuf);
    expect_model_failure("non-finite embeddings", mut_huge_embeddings, 0, 0, "non-finite embedding (NaN/inf)");
    CHECK(strstr(errbuf, "batch 1 (window 1): sequence 'sp|S12|SHORT12'"), "non-finite embeddings: batch and sequence not named: %s", errbuf);

    char out[1024], args[4096], dir[1024];
    snprintf(out, sizeof out, "%s", ribo_test_tmp("out.npy"));
    snprintf(dir, sizeof dir, "%s", ribo_test_tmp("bert"));
    make_model_dir(dir, "{\"model_type\": \"bert\", \"hidden_size\": 64}");
    char st_path[1200];
    snprintf(st_path, sizeof st_path, "%s/model.safetensors", dir);
    st_image im = load_fixture_weights();
    write_st(st_path, &im, 0, 0);
    snprintf(args, sizeof args, "embed --model '%s' --input '%s' --output '%s'", dir, ribo_test_fixture("short.fasta"), out);
    expect_failure("wrong architecture", args, 1, "bert", out);
    /* an unsupported model_type ("llama", and the empty string): the message quotes the type and
     * names config.json exactly (it was once formatted from the freed config: garbage bytes) */
    const char *types[] = {"llama", ""};
    for (int i = 0; i < 2; ++i) {
        char cfg_text[128], want[1400];
        snprintf(dir, sizeof dir, "%s", ribo_test_tmp(i ? "type_empty" : "type_llama"));
        snprintf(cfg_text, sizeof cfg_text, "{\"model_type\": \"%s\", \"hidden_size\": 64}", types[i]);
        make_model_dir(dir, cfg_text);
        snprintf(st_path, sizeof st_path, "%s/model.safetensors", dir);
        write_st(st_path, &im, 0, 0);
        snprintf(args, sizeof args, "embed --model '%s' --input '%s' --output '%s'", dir, ribo_test_fixture("short.fasta"),
                 out);
        snprintf(want, sizeof want, "ribo: error: %s/config.json: model_type \"%s\" is not a supported architecture (supported: ",
                 dir, types[i]);
        expect_failure("unsupported model_type", args, 1, want, out);
        CHECK(strncmp(errbuf, want, strlen(want)) == 0 && strstr(errbuf, "DNABERT-2 / MosaicBERT)\n"),
              "unsupported model_type '%s': message %s", types[i], errbuf);
    }
    /* config disagreeing with the weights: hidden_size 32 */
    char *cfg = ribo_test_read_file(ribo_test_fixture("esm2_a/config.json"), NULL);
    char *p = strstr(cfg, "\"hidden_size\": 64");
    CHECK(p != NULL, "fixture config lacks hidden_size 64");
    if (p) memcpy(p, "\"hidden_size\": 32", 17);
    snprintf(dir, sizeof dir, "%s", ribo_test_tmp("mismatch"));
    make_model_dir(dir, cfg);
    snprintf(st_path, sizeof st_path, "%s/model.safetensors", dir);
    write_st(st_path, &im, 0, 0);
    snprintf(args, sizeof args, "embed --model '%s' --input '%s' --output '%s'", dir, ribo_test_fixture("short.fasta"), out);
    expect_failure("config vs weights", args, 1, "config.json implies", out);
    free(cfg);
    cJSON_Delete(im.header);
    free(im.data);
    snprintf(args, sizeof args, "embed --model '%s' --input '%s' --output '%s'", ribo_test_tmp("nowhere"),
             ribo_test_fixture("short.fasta"), out);
    expect_failure("missing model dir", args, 1, "nowhere", out);
}

/* ---- config.json values ---- */

/* The esm2_a config.json text with the value of `key` replaced by the JSON text `value` (malloc'd). */
static char *config_with(const char *key, const char *value) {
    char *cfg = ribo_test_read_file(ribo_test_fixture("esm2_a/config.json"), NULL);
    char pat[128];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    char *p = cfg ? strstr(cfg, pat) : NULL;
    CHECK(p != NULL, "fixture config.json lacks \"%s\"", key);
    if (!p) return cfg;
    const char *v = p + strlen(pat), *end = v + strcspn(v, ",\n");
    size_t n = strlen(cfg) + strlen(value) + 1;
    char *out = malloc(n);
    snprintf(out, n, "%.*s%s%s", (int)(v - cfg), cfg, value, end);
    free(cfg);
    return out;
}

/* Seconds of CLOCK_MONOTONIC. */
static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* esm2_a with config.json's `key` set to `value`: embed must fail in under 10 s with one line holding
 * `needle` and naming `names` ("config": the config.json path, "dir": the model directory). */
static void expect_config_failure(const char *key, const char *value, const char *needle, const char *names) {
    char dir[1024], cfg_path[1200], out[1024], args[4096], label[256];
    snprintf(dir, sizeof dir, "%s", ribo_test_tmp("cfg"));
    snprintf(cfg_path, sizeof cfg_path, "%s/config.json", dir);
    snprintf(out, sizeof out, "%s", ribo_test_tmp("out.npy"));
    snprintf(label, sizeof label, "config %s = %s", key, value);
    char *cfg = config_with(key, value);
    write_model(dir, NULL, 0, 0);
    ribo_test_write_file(cfg_path, cfg, strlen(cfg));
    free(cfg);
    snprintf(args, sizeof args, "embed --model '%s' --input '%s' --output '%s'", dir, ribo_test_fixture("short.fasta"), out);
    double t0 = now_s();
    expect_failure(label, args, 1, needle, out);
    double took = now_s() - t0;
    CHECK(took < 10.0, "%s: refused only after %.1f s", label, took);
    const char *want = strcmp(names, "config") == 0 ? cfg_path : dir;
    CHECK(strstr(errbuf, want) != NULL, "%s: message does not name %s: %s", label, want, errbuf);
}

static void test_bad_configs(void) {
    const char *eps_msg = "\"layer_norm_eps\" must be a finite number > 0";
    expect_config_failure("layer_norm_eps", "0", eps_msg, "config");
    expect_config_failure("layer_norm_eps", "-1e-05", eps_msg, "config");
    expect_config_failure("layer_norm_eps", "1e999", eps_msg, "config");  /* parses as infinity */
    expect_config_failure("layer_norm_eps", "1e-60", eps_msg, "config");  /* 0 as float */
    const char *theta_msg = "\"rope_theta\" must be a finite number > 0";
    expect_config_failure("rope_theta", "0", theta_msg, "config");
    expect_config_failure("rope_theta", "-10000.0", theta_msg, "config");
    expect_config_failure("rope_theta", "1e39", theta_msg, "config");     /* infinity as float */
    /* a checkpoint with more layers than config.json says would run silently truncated */
    expect_config_failure("num_hidden_layers", "2", "checkpoint has 3 layers but config.json num_hidden_layers is 2", "dir");
    /* token dropout counts <mask> tokens by config.json's id: it must be the tokenizer's */
    expect_config_failure("mask_token_id", "31",
                          "token_dropout is true and mask_token_id is 31, but the tokenizer's <mask> is id 32", "config");
    /* huge dims are refused at once, naming the key, before anything is sized from them */
    expect_config_failure("num_hidden_layers", "1e9", "\"num_hidden_layers\" must be an integer in [1, 4096]", "config");
    expect_config_failure("num_hidden_layers", "1e10", "\"num_hidden_layers\" must be an integer in [1, 4096]", "config");
    expect_config_failure("hidden_size", "1e10", "\"hidden_size\" must be an integer in [1, 1048576]", "config");
    expect_config_failure("intermediate_size", "1e10", "\"intermediate_size\" must be an integer in [1, 1048576]",
                          "config");
    expect_config_failure("vocab_size", "1e10", "\"vocab_size\" must be an integer in [1, 16777216]", "config");
    expect_config_failure("num_attention_heads", "1e10", "\"num_attention_heads\" must be an integer in [1, 64]",
                          "config");
    expect_config_failure("num_attention_heads", "128", "\"num_attention_heads\" must be an integer in [1, 64]", "config");
    expect_config_failure("max_position_embeddings", "1e10", "\"max_position_embeddings\" must be an integer >= 1",
                          "config");
    /* a syntax error is reported with its position, not as "not a JSON object" */
    expect_config_failure("hidden_size", "64,,", "not valid JSON near byte", "config");
}

/* A wrong checkpoint is reported before any input is read (or the device opened): here the input
 * does not even exist, and the backend does not either. */
static void test_fail_fast(void) {
    char dir[1024], out[1024], args[4096];
    snprintf(dir, sizeof dir, "%s", ribo_test_tmp("model"));
    snprintf(out, sizeof out, "%s", ribo_test_tmp("out.npy"));
    write_model(dir, mut_missing, 0, 0);
    snprintf(args, sizeof args, "embed --model '%s' --input '%s' --output '%s' --backend nosuch", dir,
             ribo_test_tmp("never-read.fasta"), out);
    expect_failure("wrong checkpoint before inputs", args, 1, "encoder.layer.1.attention.self.query.weight", out);
}

static void test_bad_options(void) {
    char out[1024], m[1024], in[1024], args[4096];
    snprintf(out, sizeof out, "%s", ribo_test_tmp("out.npy"));
    snprintf(m, sizeof m, "%s", ribo_test_fixture("esm2_a"));
    snprintf(in, sizeof in, "%s", ribo_test_fixture("short.fasta"));
#ifdef RIBO_WITH_OPENCL
    snprintf(args, sizeof args, "embed --model '%s' --input '%s' --output '%s' --dtype fp16 --backend opencl", m, in, out);
    expect_failure("fp16 on opencl", args, 1, "fp32 only", out);
#else
    snprintf(args, sizeof args, "embed --model '%s' --input '%s' --output '%s' --backend opencl", m, in, out);
    expect_failure("opencl not compiled in", args, 1, "not compiled in", out);
#endif
    snprintf(args, sizeof args, "embed --model '%s' --input '%s' --output '%s' --backend nosuch", m, in, out);
    expect_failure("unknown backend", args, 1, "available", out);
    snprintf(args, sizeof args, "embed --model '%s' --input '%s' --output '%s' --device 99", m, in, out);
    expect_failure("no such device", args, 1, "no device 99", out);
    snprintf(args, sizeof args, "embed --model '%s' --input '%s' --output '%s'", m, in, ribo_test_tmp("nodir/out.npy"));
    expect_failure("missing output directory", args, 1, "nodir", NULL);
    snprintf(args, sizeof args, "embed --model '%s' --input '%s' --output '%s'", m, in, ribo_test_tmp("out.csv"));
    expect_failure("bad output extension", args, 1, "out.csv", NULL);
    snprintf(args, sizeof args, "embed --model '%s' --input '%s' --output '%s' --max-tokens 50", m,
             ribo_test_fixture("proteins.fasta"), out);
    expect_failure("sequence over --max-tokens", args, 1, "--max-tokens", out);
    snprintf(args, sizeof args, "embed --model '%s' --input '%s' --output '%s' --pool max", m, in, out);
    expect_failure("bad --pool", args, 2, "--pool", out);
    expect_failure("unknown command", "frobnicate", 2, "frobnicate", NULL);
    /* getopt's own messages never reach the user: one ribo line, exit 2 */
    snprintf(args, sizeof args, "embed --model '%s' --input '%s' --output '%s' --frobnicate", m, in, out);
    expect_failure("unknown long option", args, 2, "embed: unknown option '--frobnicate'", out);
    snprintf(args, sizeof args, "embed --model '%s' --input '%s' --output '%s' -Z", m, in, out);
    expect_failure("unknown short option", args, 2, "embed: unknown option '-Z'", out);
    snprintf(args, sizeof args, "embed --model '%s' --input '%s' --output '%s' --pool", m, in, out);
    expect_failure("option without its value", args, 2, "embed: option '--pool' needs a value", out);
    expect_failure("tokenize unknown option", "tokenize --frobnicate", 2, "tokenize: unknown option '--frobnicate'", NULL);
    expect_failure("info unknown option", "info --frobnicate", 2, "info: unknown option '--frobnicate'", NULL);
}

/* --backend hip where no AMD GPU is (every machine this project tests on; where `ribo devices --backend
 * hip` finds one, the refusals are not expected and the check says so), or where the build has no HIP
 * backend: one error line, exit 1, no output. */
static void test_hip_refusals(void) {
    char out[1024], args[4096];
    snprintf(out, sizeof out, "%s", ribo_test_tmp("out.npy"));
    snprintf(args, sizeof args, "embed --model '%s' --input '%s' --output '%s' --backend hip", ribo_test_fixture("esm2_a"),
             ribo_test_fixture("short.fasta"), out);
#ifdef RIBO_WITH_HIP
    if (ribo_test_run_cli("devices --backend hip", errbuf, sizeof errbuf) == 0) {
        printf("test_cli: an AMD GPU is present; the no-device refusals of --backend hip are not checked\n");
        return;
    }
    expect_failure("ribo devices --backend hip without an AMD GPU", "devices --backend hip", 1, "backend 'hip' has no devices", NULL);
    expect_failure("embed --backend hip without an AMD GPU", args, 1, "hip: no device 0 (0 found", out);
#else
    expect_failure("ribo devices --backend hip (not built)", "devices --backend hip", 1, "backend 'hip' is not compiled", NULL);
    expect_failure("embed --backend hip (not built)", args, 1, "hip", out);
#endif
    expect_failure("ribo devices --backend nosuch", "devices --backend nosuch", 1, "'nosuch' is not compiled", NULL);
}

/* --output naming an input (a FASTA called in.npy, through another name too: a hard link) or a
 * model file: refused before anything is written, naming both; the input is left as it was. */
static void test_output_is_an_input(void) {
    char in[1024], link[1024], args[4096], cmd[3000];
    snprintf(in, sizeof in, "%s", ribo_test_tmp("in-as-out.npy"));
    snprintf(link, sizeof link, "%s", ribo_test_tmp("linked-input.npy"));
    size_t n = 0;
    char *fasta = ribo_test_read_file(ribo_test_fixture("short.fasta"), &n);
    ribo_test_write_file(in, fasta, n);
    snprintf(args, sizeof args, "embed --model '%s' --input '%s' --output '%s'", ribo_test_fixture("esm2_a"), in, in);
    int rc = ribo_test_run_cli(args, errbuf, sizeof errbuf);
    CHECK(rc == 1 && one_error_line() && strstr(errbuf, "is the input") && strstr(errbuf, "in-as-out.npy"),
          "output = input: exit %d, stderr: %s", rc, errbuf);
    size_t n2 = 0;
    char *after = ribo_test_read_file(in, &n2);
    CHECK(after && n2 == n && memcmp(after, fasta, n) == 0, "the input was changed by a refused run");
    free(after);
    /* the same file under another name */
    snprintf(cmd, sizeof cmd, "rm -f '%s' && ln '%s' '%s'", link, in, link);
    CHECK(system(cmd) == 0, "cannot make a hard link");
    snprintf(args, sizeof args, "embed --model '%s' --input '%s' --output '%s'", ribo_test_fixture("esm2_a"), in, link);
    rc = ribo_test_run_cli(args, errbuf, sizeof errbuf);
    CHECK(rc == 1 && one_error_line() && strstr(errbuf, "is the input"), "hard-linked output: exit %d, stderr: %s", rc,
          errbuf);
    /* the .ids.txt side file of OUT.npy is an input */
    char ids_in[1024];
    snprintf(ids_in, sizeof ids_in, "%s", ribo_test_tmp("side.ids.txt"));
    ribo_test_write_file(ids_in, fasta, n);
    snprintf(args, sizeof args, "embed --model '%s' --input '%s' --output '%s'", ribo_test_fixture("esm2_a"), ids_in,
             ribo_test_tmp("side.npy"));
    rc = ribo_test_run_cli(args, errbuf, sizeof errbuf);
    CHECK(rc == 1 && one_error_line() && strstr(errbuf, "side.ids.txt"), "side file = input: exit %d, stderr: %s", rc,
          errbuf);
    CHECK(!exists(ribo_test_tmp("side.npy")), "a refused run wrote its output");
    /* a model file as the output */
    char model[1024], weights[1200];
    snprintf(model, sizeof model, "%s", ribo_test_tmp("model-as-out"));
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && cp -r '%s' '%s'", model, ribo_test_fixture("esm2_a"), model);
    CHECK(system(cmd) == 0, "cannot copy the model");
    snprintf(weights, sizeof weights, "%s/model.npy", model);
    snprintf(cmd, sizeof cmd, "cp '%s/config.json' '%s'", model, weights);
    CHECK(system(cmd) == 0, "cannot make a model file");
    snprintf(args, sizeof args, "embed --model '%s' --input '%s' --output '%s'", model, ribo_test_fixture("short.fasta"),
             weights);
    rc = ribo_test_run_cli(args, errbuf, sizeof errbuf);
    CHECK(rc == 1 && one_error_line() && strstr(errbuf, "the model's file"), "output = model file: exit %d, stderr: %s",
          rc, errbuf);
    free(fasta);
}

static void test_good_paths(void) {
    char args[4096], m[1024];
    snprintf(m, sizeof m, "%s", ribo_test_fixture("esm2_a"));
    /* gzip input gives the same rows as plain input */
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "gzip -c '%s' > '%s'", ribo_test_fixture("short.fasta"), ribo_test_tmp("short.fasta.gz"));
    CHECK(system(cmd) == 0, "gzip failed");
    snprintf(args, sizeof args, "embed -q --model '%s' --input '%s' --output '%s'", m, ribo_test_tmp("short.fasta.gz"),
             ribo_test_tmp("gz.npy"));
    int rc = ribo_test_run_cli(args, errbuf, sizeof errbuf);
    CHECK(rc == 0 && errbuf[0] == '\0', "gz embed rc %d stderr %s", rc, errbuf);
    snprintf(args, sizeof args, "embed -q --model '%s' --input '%s' --output '%s'", m, ribo_test_fixture("short.fasta"),
             ribo_test_tmp("plain.npy"));
    rc = ribo_test_run_cli(args, errbuf, sizeof errbuf);
    CHECK(rc == 0, "plain embed rc %d stderr %s", rc, errbuf);
    size_t n1 = 0, n2 = 0;
    char *a = ribo_test_read_file(ribo_test_tmp("gz.npy"), &n1), *b = ribo_test_read_file(ribo_test_tmp("plain.npy"), &n2);
    CHECK(a && b && n1 == n2 && memcmp(a, b, n1) == 0, "gz and plain outputs differ");
    free(a);
    free(b);
    /* summary line reports throughput and density */
    snprintf(args, sizeof args, "embed --model '%s' --input '%s' --output '%s'", m, ribo_test_fixture("proteins.fasta"),
             ribo_test_tmp("p.npy"));
    rc = ribo_test_run_cli(args, errbuf, sizeof errbuf);
    CHECK(rc == 0 && strstr(errbuf, "embedded 40 sequences") && strstr(errbuf, " 1 batch)") &&
              !strstr(errbuf, "packing density") && strstr(errbuf, "truncated 1 sequence") &&
              strstr(errbuf, "22 character(s)"),
          "summary (one batch: no density): %s", errbuf);
    /* several batches: the density says how full they were */
    snprintf(args, sizeof args, "embed --model '%s' --input '%s' --output '%s' --max-tokens 2048", m,
             ribo_test_fixture("proteins.fasta"), ribo_test_tmp("p2.npy"));
    rc = ribo_test_run_cli(args, errbuf, sizeof errbuf);
    CHECK(rc == 0 && strstr(errbuf, "batches, packing density"), "summary (several batches): %s", errbuf);
    /* info */
    snprintf(args, sizeof args, "info --model '%s' > '%s'", m, ribo_test_tmp("info.txt"));
    rc = ribo_test_run_cli(args, errbuf, sizeof errbuf);
    char *info = ribo_test_read_file(ribo_test_tmp("info.txt"), NULL);
    CHECK(rc == 0 && info && strstr(info, "architecture:     esm2") && strstr(info, "layers:           3") &&
              strstr(info, "default pooling:  mean") && strstr(info, "parameters:"),
          "info: rc %d: %s", rc, info ? info : "");
    free(info);
    rc = ribo_test_run_cli("devices > /dev/null", errbuf, sizeof errbuf);
    CHECK(rc == 0, "devices rc %d %s", rc, errbuf);
    const char *helps[] = {"--help", "embed --help", "info --help", "devices --help"};
    for (int i = 0; i < 4; ++i) {
        snprintf(args, sizeof args, "%s > /dev/null", helps[i]);
        CHECK(ribo_test_run_cli(args, errbuf, sizeof errbuf) == 0, "'ribo %s' failed", helps[i]);
    }
}

/* A checkpoint whose header length is not a multiple of 4 (tensor data at odd offsets) loads, and
 * embeds byte-identically to the fixture it was copied from (the finiteness check reads the
 * unaligned mapping with memcpy loads: no undefined behaviour, no fault under UBSan). */
static void test_misaligned_weights(void) {
    char dir[1024], st_path[1200], args[4096];
    snprintf(dir, sizeof dir, "%s", ribo_test_tmp("misaligned"));
    make_model_dir(dir, NULL);
    snprintf(st_path, sizeof st_path, "%s/model.safetensors", dir);
    st_image im = load_fixture_weights();
    write_st_misaligned(st_path, &im);
    cJSON_Delete(im.header);
    free(im.data);
    const char *models[2] = {dir, ribo_test_fixture("esm2_a")};
    const char *outs[2] = {"misaligned.npy", "aligned.npy"};
    char *bytes[2] = {NULL, NULL};
    size_t n[2] = {0, 0};
    for (int i = 0; i < 2; ++i) {
        char out[1024];
        snprintf(out, sizeof out, "%s", ribo_test_tmp(outs[i]));
        snprintf(args, sizeof args, "embed -q --model '%s' --input '%s' --output '%s'", models[i],
                 ribo_test_fixture("short.fasta"), out);
        int rc = ribo_test_run_cli(args, errbuf, sizeof errbuf);
        CHECK(rc == 0, "misaligned weights (%s): rc %d: %s", outs[i], rc, errbuf);
        bytes[i] = ribo_test_read_file(out, &n[i]);
    }
    CHECK(bytes[0] && bytes[1] && n[0] == n[1] && memcmp(bytes[0], bytes[1], n[0]) == 0,
          "misaligned weights: output differs from the aligned fixture's");
    free(bytes[0]);
    free(bytes[1]);
}

/* Creates a chain of nested directories under the tmpdir, each level a 200-byte name, until the path
 * is at least `len` bytes long; returns it in out. */
static void deep_dir(const char *tag, size_t len, char *out, size_t cap) {
    snprintf(out, cap, "%s/%s", ribo_test_tmpdir(), tag);
    mkdir(out, 0755);
    char level[201];
    memset(level, 'd', 200);
    level[200] = '\0';
    while (strlen(out) < len) {
        size_t n = strlen(out);
        snprintf(out + n, cap - n, "/%s", level);
        CHECK(mkdir(out, 0755) == 0, "mkdir of a %zu-byte path failed", strlen(out));
    }
}

/* Long valid paths (1600 to 2100 bytes, under PATH_MAX) for the model directory and the output (its
 * work directory and parts under it): the run succeeds with the bytes of a short-path run. A path
 * past PATH_MAX is refused with a message naming it and saying why, not cut. */
static void test_long_paths(void) {
    static char mdir[8192], odir[8192], out[8192], cmd[16384], args[20000];
    deep_dir("long_model", 1600, mdir, sizeof mdir);
    deep_dir("long_out", 2100, odir, sizeof odir);
    snprintf(cmd, sizeof cmd, "cp '%s'/* '%s'/", ribo_test_fixture("esm2_a"), mdir);
    CHECK(system(cmd) == 0, "copying esm2_a into the deep directory failed");
    snprintf(out, sizeof out, "%s/out.npy", odir);
    snprintf(args, sizeof args, "embed -q --model '%s' --input '%s' --output '%s'", mdir, ribo_test_fixture("short.fasta"),
             out);
    int rc = ribo_test_run_cli(args, errbuf, sizeof errbuf);
    CHECK(rc == 0, "long paths: rc %d: %s", rc, errbuf);
    snprintf(args, sizeof args, "embed -q --model '%s' --input '%s' --output '%s'", ribo_test_fixture("esm2_a"),
             ribo_test_fixture("short.fasta"), ribo_test_tmp("short_path.npy"));
    CHECK(ribo_test_run_cli(args, errbuf, sizeof errbuf) == 0, "short path run: %s", errbuf);
    size_t n1 = 0, n2 = 0;
    char *a = ribo_test_read_file(out, &n1), *b = ribo_test_read_file(ribo_test_tmp("short_path.npy"), &n2);
    CHECK(a && b && n1 == n2 && memcmp(a, b, n1) == 0, "long-path output differs from the short-path one");
    free(a);
    free(b);
    /* a model path over PATH_MAX (need not exist): one line naming it in full, with the reason */
    char *huge = malloc(5001);
    memset(huge, 'x', 5000);
    huge[0] = '/';
    huge[5000] = '\0';
    snprintf(args, sizeof args, "embed --model '%s' --input '%s' --output '%s'", huge, ribo_test_fixture("short.fasta"),
             ribo_test_tmp("never.npy"));
    rc = ribo_test_run_cli(args, errbuf, sizeof errbuf);
    CHECK(rc == 1 && one_error_line() && strstr(errbuf, huge) && strstr(errbuf, "path too long"),
          "model path over PATH_MAX: rc %d: %.200s...", rc, errbuf);
    free(huge);
}

/* --translate 6: six rows per DNA record, ids <id>_F1.._R3, each row byte-identical to embedding the
 * hand-translated protein directly; --drop-stop-frames leaves out frames with a stop. */
static void test_translate(void) {
    char m[1024], dna[1024], prot[1024], args[4096];
    snprintf(m, sizeof m, "%s", ribo_test_fixture("esm2_a"));
    snprintf(dna, sizeof dna, "%s", ribo_test_tmp("dna.fasta"));
    snprintf(prot, sizeof prot, "%s", ribo_test_tmp("frames.fasta"));
    /* d1: Biopython's tutorial sequence (multi-line, partly lowercase); d2: human INS, first 54 codons */
    const char *dna_text =
        ">d1 tutorial\nATGGCCATTGTAATGG\ngccgctgaaagggtgcccgatag\n"
        ">d2 INS\nATGGCCCTGTGGATGCGCCTCCTGCCCCTGCTGGCGCTGCTGGCCCTCTGGGGACCTGACCCAGCCGCAGCCTTTGTGAACCAACACCTG"
        "TGCGGCTCACACCTGGTGGAAGCTCTCTACCTAGTGTGCGGGGAACGAGGCTTCTTCTACACACCCAAGACC\n";
    const char *prot_text =
        ">d1_F1\nMAIVMGR*KGAR*\n>d1_F2\nWPL*WAAERVPD\n>d1_F3\nGHCNGPLKGCPI\n"
        ">d1_R1\nLSGTLSAAHYNGH\n>d1_R2\nYRAPFQRPITMA\n>d1_R3\nIGHPFSGPLQWP\n"
        ">d2_F1\nMALWMRLLPLLALLALWGPDPAAAFVNQHLCGSHLVEALYLVCGERGFFYTPKT\n"
        ">d2_F2\nWPCGCASCPCWRCWPSGDLTQPQPL*TNTCAAHTWWKLST*CAGNEASSTHPR\n"
        ">d2_F3\nGPVDAPPAPAGAAGPLGT*PSRSLCEPTPVRLTPGGSSLPSVRGTRLLLHTQD\n"
        ">d2_R1\nGLGCVEEASFPAH*VESFHQV*AAQVLVHKGCGWVRSPEGQQRQQGQEAHPQGH\n"
        ">d2_R2\nVLGV*KKPRSPHTR*RASTRCEPHRCWFTKAAAGSGPQRASSASRGRRRIHRA\n"
        ">d2_R3\nSWVCRRSLVPRTLGRELPPGVSRTGVGSQRLRLGQVPRGPAAPAGAGGASTGP\n";
    ribo_test_write_file(dna, dna_text, strlen(dna_text));
    ribo_test_write_file(prot, prot_text, strlen(prot_text));
    snprintf(args, sizeof args, "embed --model '%s' --input '%s' --output '%s' --translate 6", m, dna,
             ribo_test_tmp("tr.npy"));
    int rc = ribo_test_run_cli(args, errbuf, sizeof errbuf);
    CHECK(rc == 0 && strstr(errbuf, "embedded 12 sequences"), "--translate 6: rc %d: %s", rc, errbuf);
    snprintf(args, sizeof args, "embed -q --model '%s' --input '%s' --output '%s'", m, prot, ribo_test_tmp("pr.npy"));
    rc = ribo_test_run_cli(args, errbuf, sizeof errbuf);
    CHECK(rc == 0, "hand-translated proteins: rc %d: %s", rc, errbuf);
    size_t n1 = 0, n2 = 0;
    char *a = ribo_test_read_file(ribo_test_tmp("tr.npy"), &n1), *b = ribo_test_read_file(ribo_test_tmp("pr.npy"), &n2);
    CHECK(a && b && n1 == n2 && n1 > 12 * 64 * 4 && memcmp(a, b, n1) == 0,
          "--translate 6 rows differ from the hand-translated proteins' (%zu vs %zu bytes)", n1, n2);
    free(a);
    free(b);
    a = ribo_test_read_file(ribo_test_tmp("tr.ids.txt"), NULL);
    CHECK(a && strcmp(a, "d1_F1\nd1_F2\nd1_F3\nd1_R1\nd1_R2\nd1_R3\nd2_F1\nd2_F2\nd2_F3\nd2_R1\nd2_R2\nd2_R3\n") == 0,
          "--translate ids: %s", a ? a : "(none)");
    free(a);
    /* --drop-stop-frames: d1_F1, d1_F2 and d2_F2, d2_F3, d2_R1, d2_R2 have stops */
    snprintf(args, sizeof args, "embed --model '%s' --input '%s' --output '%s' --translate 6 --drop-stop-frames", m, dna,
             ribo_test_tmp("drop.npy"));
    rc = ribo_test_run_cli(args, errbuf, sizeof errbuf);
    CHECK(rc == 0 && strstr(errbuf, "left out 6 reading frame(s) containing a stop codon") &&
              strstr(errbuf, "embedded 6 sequences"),
          "--drop-stop-frames: rc %d: %s", rc, errbuf);
    a = ribo_test_read_file(ribo_test_tmp("drop.ids.txt"), NULL);
    CHECK(a && strcmp(a, "d1_F3\nd1_R1\nd1_R2\nd1_R3\nd2_F1\nd2_R3\n") == 0, "--drop-stop-frames ids: %s",
          a ? a : "(none)");
    free(a);
    /* short frames and --lenient are counted in the summary */
    const char *odd = ">s\nACGT\n>l\nACGRT\n";
    ribo_test_write_file(dna, odd, strlen(odd));
    snprintf(args, sizeof args, "embed --model '%s' --input '%s' --output '%s' --translate 6 --lenient", m, dna,
             ribo_test_tmp("odd.npy"));
    rc = ribo_test_run_cli(args, errbuf, sizeof errbuf);
    CHECK(rc == 0 && strstr(errbuf, "left out 2 reading frame(s) shorter than one codon") &&
              strstr(errbuf, "1 DNA character(s) other than A, C, G, T, N were let through (--lenient: read as N)") &&
              strstr(errbuf, "embedded 10 sequences"), /* 4 + 6 frames */
          "short frames / lenient: rc %d: %s", rc, errbuf);

    /* errors: bad DNA character, bad --translate values, empty record, --drop-stop-frames alone */
    const char *bad = ">ok\nACGTACGT\n>bad x\nACGT\nACGTAZGT\n";
    expect_fasta_failure("bad DNA character", bad, strlen(bad), "--translate 6",
                         "record 2 ('bad'): invalid DNA character 'Z' at position 10");
    CHECK(strstr(errbuf, "in.fasta") != NULL, "bad DNA character: file not named: %s", errbuf);
    const char *empty = ">a\nACGTACGT\n>e\n>c\nACG\n";
    expect_fasta_failure("--translate with an empty record", empty, strlen(empty), "--translate 6",
                         "record 2 ('e'): empty sequence");
    char out[1024];
    snprintf(out, sizeof out, "%s", ribo_test_tmp("out.npy"));
    const char *usage[][2] = {{"--translate 5", "--translate expects 6"}, {"--translate 3", "--translate expects 6"},
                              {"--translate six", "got 'six'"}, {"--drop-stop-frames", "needs --translate 6"}};
    for (int i = 0; i < 4; ++i) {
        snprintf(args, sizeof args, "embed --model '%s' --input '%s' --output '%s' %s", m, ribo_test_fixture("short.fasta"),
                 out, usage[i][0]);
        expect_failure(usage[i][0], args, 2, usage[i][1], out);
    }
    /* --translate 0 / off: the input is embedded as it is */
    snprintf(args, sizeof args, "embed -q --model '%s' --input '%s' --output '%s' --translate off", m,
             ribo_test_fixture("short.fasta"), out);
    CHECK(ribo_test_run_cli(args, errbuf, sizeof errbuf) == 0, "--translate off: %s", errbuf);
    unlink(out);
    unlink(ribo_test_tmp("out.ids.txt"));
}

/* `ribo tokenize` prints exactly the fixture token ids (ESM-2 vocab and DNABERT BPE), one line per
 * sequence in input order; --with-ids prefixes the id; errors as embed's. */
static void test_tokenize(void) {
    char args[4096];
    const char *cases[][3] = {{"esm2_a", "short.fasta", "short.tokens.txt"},
                              {"dnabert2_b", "dna_reads.fasta", "dna_reads.tokens.txt"}};
    for (int c = 0; c < 2; ++c) {
        snprintf(args, sizeof args, "tokenize --model '%s' --input '%s' > '%s'", ribo_test_fixture(cases[c][0]),
                 ribo_test_fixture(cases[c][1]), ribo_test_tmp("ids.txt"));
        int rc = ribo_test_run_cli(args, errbuf, sizeof errbuf);
        CHECK(rc == 0 && errbuf[0] == '\0', "tokenize %s rc %d stderr %s", cases[c][0], rc, errbuf);
        char *got = ribo_test_read_file(ribo_test_tmp("ids.txt"), NULL);
        char *want = ribo_test_read_file(ribo_test_fixture(cases[c][2]), NULL);
        CHECK(got && want && strcmp(got, want) == 0, "ribo tokenize with %s differs from %s", cases[c][0], cases[c][2]);
        free(got);
        free(want);
    }
    snprintf(args, sizeof args, "tokenize --with-ids -m '%s' -i '%s' > '%s'", ribo_test_fixture("esm2_a"),
             ribo_test_fixture("short.fasta"), ribo_test_tmp("ids.txt"));
    CHECK(ribo_test_run_cli(args, errbuf, sizeof errbuf) == 0, "tokenize --with-ids: %s", errbuf);
    char *got = ribo_test_read_file(ribo_test_tmp("ids.txt"), NULL);
    CHECK(got && strncmp(got, "short01\t0 12 2\n", 15) == 0, "tokenize --with-ids first line: %.40s", got ? got : "");
    free(got);
    const char bad[] = ">r1\nACGT\n>r2\nACXGT\n";
    ribo_test_write_file(ribo_test_tmp("bad_dna.fasta"), bad, sizeof bad - 1);
    snprintf(args, sizeof args, "tokenize -m '%s' -i '%s'", ribo_test_fixture("dnabert2_a"), ribo_test_tmp("bad_dna.fasta"));
    expect_failure("tokenize bad DNA", args, 1, "invalid DNA character 'X' at position 3", NULL);
    snprintf(args, sizeof args, "tokenize -m '%s'", ribo_test_fixture("esm2_a"));
    expect_failure("tokenize without input", args, 2, "tokenize needs --model and --input", NULL);
    /* a DNA model's limit counts BPE tokens: 6000 random bases are far more than 510 tokens */
    static char long_read[6100];
    uint64_t r = 7;
    int at = snprintf(long_read, sizeof long_read, ">long\n");
    for (int i = 0; i < 6000; ++i) at += snprintf(long_read + at, sizeof long_read - (size_t)at, "%c", "ACGT"[(int)ribo_test_randf(&r, 0, 4)]);
    ribo_test_write_file(ribo_test_tmp("long_dna.fasta"), long_read, strlen(long_read));
    snprintf(args, sizeof args, "tokenize -m '%s' -i '%s' --truncate 0", ribo_test_fixture("dnabert2_a"),
             ribo_test_tmp("long_dna.fasta"));
    expect_failure("DNA read over the token limit", args, 1, "tokens, more than the limit of 510", NULL);
}

int main(void) {
    ribo_device *dev;
    ribo_stream *st;
    ribo_test_open_device(&dev, &st); /* the CLI runs need a device: skip cleanly without one */
    ribo_test_close_device(dev, st);
    test_bad_fasta();
    test_bad_models();
    test_bad_configs();
    test_fail_fast();
    test_bad_options();
    test_hip_refusals();
    test_output_is_an_input();
    test_good_paths();
    test_misaligned_weights();
    test_long_paths();
    test_translate();
    test_tokenize();
    return ribo_test_finish("test_cli");
}
