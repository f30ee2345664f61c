/* Run fingerprints for --resume (see fingerprint.h). */
#include "engine/store/fingerprint.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/base/hash.h"
#include "engine/store/part_file.h"
#include "engine/base/fileutil.h"

#define SAMPLE_BLOCK (64u * 1024u)
#define SAMPLE_COUNT 16
#define EDGE_BYTES (1024u * 1024u)

void ribo_hash_hex(uint64_t h, char out[17]) { snprintf(out, 17, "%016llx", (unsigned long long)h); }

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Hash of bytes [off, off+len) of fd, read in blocks. */
static ribo_status hash_range(int fd, uint64_t off, uint64_t len, uint64_t *h, const char *path, ribo_error *err) {
    unsigned char *buf = malloc(SAMPLE_BLOCK);
    if (!buf) return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "out of host memory");
    ribo_status s = RIBO_OK;
    while (s == RIBO_OK && len > 0) {
        size_t n = len < SAMPLE_BLOCK ? (size_t)len : SAMPLE_BLOCK;
        s = ribo_pread_all(fd, buf, n, off, path, err);
        if (s == RIBO_OK) *h = ribo_hash_bytes(*h, buf, n);
        off += n;
        len -= n;
    }
    free(buf);
    return s;
}

/* Adds {"name", "size", "hash"} for one model file: whole-file hash, or header + sampled data for
 * safetensors, edges + sampled data for PyTorch .bin files. */
static ribo_status model_file(cJSON *files, const char *dir, const char *name, ribo_error *err) {
    char path[PATH_MAX + 256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ribo_error_set(err, RIBO_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    ribo_status s = fstat(fd, &sb) == 0 ? RIBO_OK : ribo_error_set(err, RIBO_ERR_IO, "%s: cannot stat", path);
    uint64_t size = (uint64_t)sb.st_size, h = RIBO_HASH_INIT;
    if (s == RIBO_OK && ends_with(name, ".safetensors") && size >= 8) {
        uint64_t hl = 0;
        s = ribo_pread_all(fd, &hl, 8, 0, path, err);
        uint64_t header_end = s == RIBO_OK && hl <= size - 8 ? 8 + hl : size;
        if (s == RIBO_OK) s = hash_range(fd, 0, header_end, &h, path, err);
        uint64_t data = size - header_end;
        for (int k = 0; s == RIBO_OK && k < SAMPLE_COUNT && data > 0; ++k) {
            uint64_t span = data > SAMPLE_BLOCK ? data - SAMPLE_BLOCK : 0;
            uint64_t off = header_end + span * (uint64_t)k / (SAMPLE_COUNT - 1);
            s = hash_range(fd, off, data < SAMPLE_BLOCK ? data : SAMPLE_BLOCK, &h, path, err);
        }
    } else if (s == RIBO_OK && ends_with(name, ".bin")) {
        /* PyTorch checkpoint: the first and last MiB (the pickle, the zip directory) and 16 blocks
         * spread over the whole file */
        uint64_t edge = size < EDGE_BYTES ? size : EDGE_BYTES;
        s = hash_range(fd, 0, edge, &h, path, err);
        if (s == RIBO_OK) s = hash_range(fd, size - edge, edge, &h, path, err);
        for (int k = 0; s == RIBO_OK && k < SAMPLE_COUNT && size > 0; ++k) {
            uint64_t span = size > SAMPLE_BLOCK ? size - SAMPLE_BLOCK : 0;
            uint64_t off = span * (uint64_t)k / (SAMPLE_COUNT - 1);
            s = hash_range(fd, off, size < SAMPLE_BLOCK ? size : SAMPLE_BLOCK, &h, path, err);
        }
    } else if (s == RIBO_OK) {
        s = hash_range(fd, 0, size, &h, path, err);
    }
    close(fd);
    RIBO_TRY(s);
    char hex[17];
    ribo_hash_hex(ribo_hash_final(h), hex);
    cJSON *f = cJSON_CreateObject();
    cJSON_AddStringToObject(f, "name", name);
    cJSON_AddNumberToObject(f, "size", (double)size);
    cJSON_AddStringToObject(f, "hash", hex);
    cJSON_AddItemToArray(files, f);
    return RIBO_OK;
}

/* Files of the model directory that can change what ribo computes. */
static bool model_relevant(const char *name) {
    return strcmp(name, "config.json") == 0 || ends_with(name, ".safetensors") ||
           strcmp(name, "model.safetensors.index.json") == 0 ||
           (strncmp(name, "pytorch_model", 13) == 0 && (ends_with(name, ".bin") || ends_with(name, ".bin.index.json"))) || strcmp(name, "vocab.txt") == 0 ||
           strcmp(name, "tokenizer.json") == 0 || strcmp(name, "tokenizer_config.json") == 0 ||
           strcmp(name, "special_tokens_map.json") == 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

static ribo_status model_json(const char *dir, cJSON *model, ribo_error *err) {
    char real[PATH_MAX];
    cJSON_AddStringToObject(model, "dir", realpath(dir, real) ? real : dir);
    DIR *d = opendir(dir);
    if (!d) return ribo_error_set(err, RIBO_ERR_IO, "%s: cannot list the model directory: %s", dir, strerror(errno));
    char **names = NULL;
    size_t n = 0, cap = 0;
    ribo_status s = RIBO_OK;
    for (struct dirent *e; s == RIBO_OK && (e = readdir(d));) {
        if (!model_relevant(e->d_name)) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **p = realloc(names, cap * sizeof *p);
            if (!p) {
                s = ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "out of host memory");
                break;
            }
            names = p;
        }
        names[n] = strdup(e->d_name);
        if (names[n]) ++n;
    }
    closedir(d);
    if (n) qsort(names, n, sizeof *names, cmp_str); /* directory order is not stable */
    cJSON *files = cJSON_AddArrayToObject(model, "files");
    for (size_t i = 0; s == RIBO_OK && i < n; ++i) s = model_file(files, dir, names[i], err);
    for (size_t i = 0; i < n; ++i) free(names[i]);
    free(names);
    return s;
}

/* What an input that is not a regular file is, for the fingerprint and the messages. */
static const char *input_kind(const struct stat *sb) {
    if (S_ISFIFO(sb->st_mode)) return "pipe";
    if (S_ISSOCK(sb->st_mode)) return "socket";
    if (S_ISCHR(sb->st_mode)) return "character device";
    if (S_ISBLK(sb->st_mode)) return "block device";
    if (S_ISDIR(sb->st_mode)) return "directory";
    return "special file";
}

/* An input that cannot be read twice (pipe, FIFO, socket, character device such as /dev/stdin) is
 * not opened here: opening a FIFO a second time loses its data or blocks forever. It is identified by
 * the path given and its kind only; --resume checks its content through the kept windows' hashes. */
static void stream_input_json(const char *path, const struct stat *sb, cJSON *inputs) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "path", path); /* as given: /dev/fd/63 resolves to "pipe:[inode]" */
    cJSON_AddStringToObject(o, "kind", input_kind(sb));
    cJSON_AddNumberToObject(o, "size", 0);
    cJSON_AddItemToArray(inputs, o);
}

static ribo_status input_json(const char *path, cJSON *inputs, ribo_error *err) {
    char real[PATH_MAX];
    struct stat sb;
    if (stat(path, &sb) != 0) return ribo_error_set(err, RIBO_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (!S_ISREG(sb.st_mode)) {
        stream_input_json(path, &sb, inputs);
        return RIBO_OK;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ribo_error_set(err, RIBO_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    ribo_status s = fstat(fd, &sb) == 0 ? RIBO_OK : ribo_error_set(err, RIBO_ERR_IO, "%s: cannot stat", path);
    uint64_t size = (uint64_t)sb.st_size, head = RIBO_HASH_INIT, tail = RIBO_HASH_INIT;
    uint64_t edge = size < EDGE_BYTES ? size : EDGE_BYTES;
    if (s == RIBO_OK) s = hash_range(fd, 0, edge, &head, path, err);
    if (s == RIBO_OK) s = hash_range(fd, size - edge, edge, &tail, path, err);
    close(fd);
    RIBO_TRY(s);
    char hh[17], th[17];
    ribo_hash_hex(ribo_hash_final(head), hh);
    ribo_hash_hex(ribo_hash_final(tail), th);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "path", realpath(path, real) ? real : path);
    cJSON_AddNumberToObject(o, "size", (double)size);
    cJSON_AddStringToObject(o, "head_hash", hh);
    cJSON_AddStringToObject(o, "tail_hash", th);
    cJSON_AddItemToArray(inputs, o);
    return RIBO_OK;
}

ribo_status ribo_fingerprint_make(const char *model_dir, const char *const *inputs, int n_inputs,
                                  const ribo_fingerprint_option *options, int n_options, ribo_fingerprint *fp,
                                  ribo_error *err) {
    memset(fp, 0, sizeof *fp);
    fp->json = cJSON_CreateObject();
    if (!fp->json) return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "out of host memory");
    ribo_status s = model_json(model_dir, cJSON_AddObjectToObject(fp->json, "model"), err);
    cJSON *in = cJSON_AddArrayToObject(fp->json, "inputs");
    for (int i = 0; s == RIBO_OK && i < n_inputs; ++i) s = input_json(inputs[i], in, err);
    cJSON *opts = cJSON_AddObjectToObject(fp->json, "options");
    for (int i = 0; s == RIBO_OK && i < n_options; ++i) cJSON_AddStringToObject(opts, options[i].name, options[i].value);
    char *text = s == RIBO_OK ? cJSON_PrintUnformatted(fp->json) : NULL;
    if (s == RIBO_OK && !text) s = ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "out of host memory");
    if (s == RIBO_OK) fp->hash = ribo_hash_final(ribo_hash_str(RIBO_HASH_INIT, text));
    free(text);
    if (s != RIBO_OK) ribo_fingerprint_free(fp);
    return s;
}

static const char *str_of(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static double num_of(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

/* Model files: the first added, missing or changed one is named. */
static ribo_status compare_model(const cJSON *was, const cJSON *now, ribo_error *err) {
    const cJSON *wf = cJSON_GetObjectItemCaseSensitive(was, "files"), *nf = cJSON_GetObjectItemCaseSensitive(now, "files");
    const cJSON *f;
    cJSON_ArrayForEach(f, nf) {
        const cJSON *g, *match = NULL;
        cJSON_ArrayForEach(g, wf) if (strcmp(str_of(g, "name"), str_of(f, "name")) == 0) match = g;
        if (!match)
            return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "the model differs from the interrupted run's (%s is new)",
                                  str_of(f, "name"));
        if (num_of(match, "size") != num_of(f, "size") || strcmp(str_of(match, "hash"), str_of(f, "hash")) != 0)
            return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT,
                                  "the model differs from the interrupted run's (%s changed; was in %s)", str_of(f, "name"),
                                  str_of(was, "dir"));
    }
    if (cJSON_GetArraySize(wf) != cJSON_GetArraySize(nf))
        return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT,
                              "the model differs from the interrupted run's (it had %d model files, now %d; was %s)",
                              cJSON_GetArraySize(wf), cJSON_GetArraySize(nf), str_of(was, "dir"));
    return RIBO_OK;
}

/* Inputs are compared by content (size, first and last MiB), in order; a moved file is the same input. */
static ribo_status compare_inputs(const cJSON *was, const cJSON *now, ribo_error *err) {
    int nw = cJSON_GetArraySize(was), nn = cJSON_GetArraySize(now);
    if (nw != nn)
        return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "%d input file(s) given, the interrupted run read %d", nn, nw);
    for (int i = 0; i < nw; ++i) {
        const cJSON *a = cJSON_GetArrayItem(was, i), *b = cJSON_GetArrayItem(now, i);
        char was_path[1200] = "";
        if (strcmp(str_of(a, "path"), str_of(b, "path")) != 0)
            snprintf(was_path, sizeof was_path, "; the interrupted run read %s", str_of(a, "path"));
        const char *wk = *str_of(a, "kind") ? str_of(a, "kind") : "regular file"; /* no "kind": regular */
        const char *nk = *str_of(b, "kind") ? str_of(b, "kind") : "regular file";
        if (strcmp(wk, nk) != 0)
            return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT,
                                  "input %d (%s) differs from the interrupted run's (a %s now, was a %s%s)", i + 1,
                                  str_of(b, "path"), nk, wk, was_path);
        if (num_of(a, "size") != num_of(b, "size"))
            return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT,
                                  "input %d (%s) differs from the interrupted run's (size %.0f bytes, was %.0f%s)", i + 1,
                                  str_of(b, "path"), num_of(b, "size"), num_of(a, "size"), was_path);
        if (strcmp(str_of(a, "head_hash"), str_of(b, "head_hash")) != 0 ||
            strcmp(str_of(a, "tail_hash"), str_of(b, "tail_hash")) != 0)
            return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT,
                                  "input %d (%s) differs from the interrupted run's (contents changed%s)", i + 1,
                                  str_of(b, "path"), was_path);
    }
    return RIBO_OK;
}

static ribo_status compare_options(const cJSON *was, const cJSON *now, ribo_error *err) {
    const cJSON *o;
    cJSON_ArrayForEach(o, now) {
        const char *old = str_of(was, o->string);
        if (!cJSON_GetObjectItemCaseSensitive(was, o->string)) old = "(not set)";
        if (strcmp(old, o->valuestring) != 0)
            return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "option %s is '%s', the interrupted run used '%s'",
                                  o->string, o->valuestring, old);
    }
    cJSON_ArrayForEach(o, was) if (!cJSON_GetObjectItemCaseSensitive(now, o->string))
        return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "the interrupted run used option %s '%s', unknown now",
                              o->string, cJSON_IsString(o) ? o->valuestring : "?");
    return RIBO_OK;
}

ribo_status ribo_fingerprint_compare(const cJSON *stored, const ribo_fingerprint *now, ribo_error *err) {
    const cJSON *nj = now->json;
    RIBO_TRY(compare_model(cJSON_GetObjectItemCaseSensitive(stored, "model"), cJSON_GetObjectItemCaseSensitive(nj, "model"), err));
    RIBO_TRY(compare_inputs(cJSON_GetObjectItemCaseSensitive(stored, "inputs"), cJSON_GetObjectItemCaseSensitive(nj, "inputs"), err));
    return compare_options(cJSON_GetObjectItemCaseSensitive(stored, "options"), cJSON_GetObjectItemCaseSensitive(nj, "options"),
                           err);
}

void ribo_fingerprint_free(ribo_fingerprint *fp) {
    if (!fp) return;
    cJSON_Delete(fp->json);
    fp->json = NULL;
}
