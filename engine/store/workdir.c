/* Work directory: lock, manifest, kept parts, cleanup (see workdir.h). */
#include "engine/store/workdir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/base/fileutil.h"
#include "engine/store/part_file.h"

#define MANIFEST_FORMAT "ribo-work-1"

struct ribo_run_dir {
    char path[PATH_MAX];
    char rows_path[PATH_MAX + 32];
    bool in_place;
    uint64_t rows_base;
    int rows_fd;                /* opened by the first record check */
    char output[PATH_MAX];
    const ribo_fingerprint *fp;
    int lock_fd;
    bool resuming;
    int budget_tokens, budget_seqs;
    size_t kept;
    ribo_run_log_fn log;
    void *log_user;
};

const char *ribo_run_dir_path(const ribo_run_dir *d) { return d->path; }
const char *ribo_run_dir_rows_path(const ribo_run_dir *d) { return d->rows_path; }

void ribo_run_dir_set_in_place(ribo_run_dir *d, uint64_t rows_base) {
    d->in_place = true;
    d->rows_base = rows_base;
}
bool ribo_run_dir_resuming(const ribo_run_dir *d) { return d->resuming; }
size_t ribo_run_dir_kept_parts(const ribo_run_dir *d) { return d->kept; }

void ribo_run_dir_budget(const ribo_run_dir *d, int *max_tokens, int *max_seqs) {
    *max_tokens = d->resuming ? d->budget_tokens : 0;
    *max_seqs = d->resuming ? d->budget_seqs : 0;
}

static bool starts_with(const char *s, const char *prefix) { return strncmp(s, prefix, strlen(prefix)) == 0; }
static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Counts finished parts; removes part temporaries (no other run holds the lock, so they are stale). */
static size_t scan_parts(const char *dir, bool remove_tmp) {
    DIR *dd = opendir(dir);
    if (!dd) return 0;
    size_t parts = 0;
    char path[PATH_MAX + 300];
    for (struct dirent *e; (e = readdir(dd));) {
        if (!starts_with(e->d_name, "part-")) continue;
        if (ends_with(e->d_name, ".rpart")) ++parts;
        else if (remove_tmp && ends_with(e->d_name, ".tmp")) {
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            unlink(path);
        }
    }
    closedir(dd);
    return parts;
}

/* Removes OUT.partial-<pid> (and the .ids.txt / .offsets.npy ones) left by a run that was killed
 * while assembling: under the work directory's lock no live run can own them. */
static void remove_stale_outputs(const char *output) {
    char dir[PATH_MAX], base[PATH_MAX], stem[PATH_MAX];
    const char *slash = strrchr(output, '/');
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - output) : 1, slash ? output : ".");
    if (slash && slash == output) snprintf(dir, sizeof dir, "/");
    snprintf(base, sizeof base, "%s", slash ? slash + 1 : output);
    snprintf(stem, sizeof stem, "%s", base);
    char *dot = strrchr(stem, '.');
    if (dot) *dot = '\0';
    DIR *dd = opendir(dir);
    if (!dd) return;
    char want[3][PATH_MAX + 32];
    snprintf(want[0], sizeof want[0], "%s.partial-", base);
    snprintf(want[1], sizeof want[1], "%s.ids.txt.partial-", stem);
    snprintf(want[2], sizeof want[2], "%s.offsets.npy.partial-", stem);
    char path[2 * PATH_MAX + 2];
    for (struct dirent *e; (e = readdir(dd));)
        for (int k = 0; k < 3; ++k)
            if (starts_with(e->d_name, want[k])) {
                long pid = strtol(e->d_name + strlen(want[k]), NULL, 10);
                if (pid > 0 && pid != (long)getpid() && kill((pid_t)pid, 0) != 0 && errno == ESRCH) {
                    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
                    unlink(path);
                }
            }
    closedir(dd);
}

/* Reads manifest.json (NULL when absent); errors for an unreadable one. */
static ribo_status read_manifest(const char *dir, cJSON **out, ribo_error *err) {
    *out = NULL;
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    if (access(path, F_OK) != 0) return RIBO_OK;
    char *text = NULL;
    size_t len = 0;
    RIBO_TRY(ribo_read_small_file(path, (size_t)64 << 20, &text, &len, err));
    *out = cJSON_Parse(text);
    free(text);
    const cJSON *fmt = *out ? cJSON_GetObjectItemCaseSensitive(*out, "format") : NULL;
    if (!*out || !cJSON_IsString(fmt) || strcmp(fmt->valuestring, MANIFEST_FORMAT) != 0) {
        cJSON_Delete(*out);
        *out = NULL;
        return ribo_error_set(err, RIBO_ERR_IO, "%s: not a ribo work-directory manifest (remove the directory to start over)",
                              path);
    }
    return RIBO_OK;
}

/* Checks an earlier run's directory against this run (see workdir.h). */
static ribo_status adopt(ribo_run_dir *d, bool resume, ribo_error *err) {
    cJSON *m = NULL;
    RIBO_TRY(read_manifest(d->path, &m, err));
    size_t parts = scan_parts(d->path, true);
    if (!m || parts == 0) {
        if (resume && d->log) d->log(d->log_user, "note: --resume: %s holds no finished part; starting from the beginning", d->path);
        cJSON_Delete(m);
        return RIBO_OK;
    }
    if (!resume) {
        cJSON_Delete(m);
        return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT,
                              "%s holds %zu finished part(s) of an earlier run of this output: pass --resume to continue "
                              "it, or remove the directory to start over",
                              d->path, parts);
    }
    ribo_status s = ribo_fingerprint_compare(cJSON_GetObjectItemCaseSensitive(m, "fingerprint"), d->fp, err);
    if (s != RIBO_OK) {
        ribo_error_prefix(err, "--resume refused: %s", d->path);
        cJSON_Delete(m);
        return s;
    }
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(m, "budget");
    const cJSON *bt = cJSON_GetObjectItemCaseSensitive(b, "max_tokens"), *bs = cJSON_GetObjectItemCaseSensitive(b, "max_seqs");
    d->budget_tokens = cJSON_IsNumber(bt) ? (int)bt->valuedouble : 0;
    d->budget_seqs = cJSON_IsNumber(bs) ? (int)bs->valuedouble : 0;
    d->resuming = true;
    cJSON_Delete(m);
    return RIBO_OK;
}

ribo_status ribo_run_dir_open(const char *output, const ribo_fingerprint *fp, bool resume, ribo_run_log_fn log,
                              void *log_user, ribo_run_dir **out, ribo_error *err) {
    *out = NULL;
    ribo_run_dir *d = calloc(1, sizeof *d);
    if (!d) return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "out of host memory");
    d->lock_fd = -1;
    d->rows_fd = -1;
    d->fp = fp;
    d->log = log;
    d->log_user = log_user;
    snprintf(d->output, sizeof d->output, "%s", output);
    snprintf(d->path, sizeof d->path, "%s.ribo-work", output);
    snprintf(d->rows_path, sizeof d->rows_path, "%s/rows.npy.partial", d->path);
    ribo_status s = RIBO_OK;
    if (mkdir(d->path, 0755) != 0 && errno != EEXIST)
        s = ribo_error_set(err, RIBO_ERR_IO, "%s: cannot create the work directory: %s", d->path, strerror(errno));
    char lock[PATH_MAX + 16];
    snprintf(lock, sizeof lock, "%s/lock", d->path);
    if (s == RIBO_OK && (d->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) < 0)
        s = ribo_error_set(err, RIBO_ERR_IO, "%s: cannot create: %s", lock, strerror(errno));
    if (s == RIBO_OK && flock(d->lock_fd, LOCK_EX | LOCK_NB) != 0)
        s = ribo_error_set(err, RIBO_ERR_IO, "%s is in use by another ribo run (%s)", d->path, strerror(errno));
    if (s == RIBO_OK) s = adopt(d, resume, err);
    if (s == RIBO_OK) remove_stale_outputs(output);
    if (s != RIBO_OK) {
        if (d->lock_fd >= 0) close(d->lock_fd);
        d->lock_fd = -1;
        /* a directory this call just made (no manifest, no part) is not left behind */
        if (scan_parts(d->path, false) == 0 && access(lock, F_OK) == 0) {
            char mpath[PATH_MAX + 32];
            snprintf(mpath, sizeof mpath, "%s/manifest.json", d->path);
            if (access(mpath, F_OK) != 0) {
                unlink(lock);
                rmdir(d->path);
            }
        }
        free(d);
        return s;
    }
    *out = d;
    return RIBO_OK;
}

ribo_status ribo_run_dir_write_manifest(ribo_run_dir *d, int max_tokens, int max_seqs, const char *const *devices,
                                        int n_devices, ribo_error *err) {
    cJSON *m = cJSON_CreateObject();
    char hex[17];
    ribo_hash_hex(d->fp->hash, hex);
    cJSON_AddStringToObject(m, "format", MANIFEST_FORMAT);
    cJSON_AddStringToObject(m, "ribo_version", RIBO_VERSION_STRING);
    cJSON_AddStringToObject(m, "output", d->output);
    cJSON_AddStringToObject(m, "fingerprint_hash", hex);
    cJSON_AddItemToObject(m, "fingerprint", cJSON_Duplicate(d->fp->json, true));
    cJSON *b = cJSON_AddObjectToObject(m, "budget");
    cJSON_AddNumberToObject(b, "max_tokens", max_tokens);
    cJSON_AddNumberToObject(b, "max_seqs", max_seqs);
    cJSON *dv = cJSON_AddArrayToObject(m, "devices");
    for (int i = 0; i < n_devices; ++i) cJSON_AddItemToArray(dv, cJSON_CreateString(devices[i]));
    cJSON_AddStringToObject(m, "parts", "part-NNNNNN.rpart: one per window (.npy: a record, its rows in "
                                        "rows.npy.partial), see docs/architecture.md");
    char *text = cJSON_Print(m);
    cJSON_Delete(m);
    if (!text) return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "out of host memory");
    char tmp[PATH_MAX + 32], path[PATH_MAX + 32];
    snprintf(tmp, sizeof tmp, "%s/manifest.json.tmp", d->path);
    snprintf(path, sizeof path, "%s/manifest.json", d->path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ribo_status s = fd >= 0 ? ribo_pwrite_all(fd, text, strlen(text), 0, tmp, err)
                            : ribo_error_set(err, RIBO_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
    free(text);
    if (fd >= 0) {
        if (s == RIBO_OK && fsync(fd) != 0) s = ribo_error_set(err, RIBO_ERR_IO, "%s: cannot flush: %s", tmp, strerror(errno));
        close(fd);
    }
    if (s == RIBO_OK && rename(tmp, path) != 0)
        s = ribo_error_set(err, RIBO_ERR_IO, "%s: cannot rename: %s", tmp, strerror(errno));
    if (s == RIBO_OK) s = ribo_fsync_dir(d->path, err);
    return s;
}

ribo_status ribo_run_dir_part_check(void *run_dir, const ribo_window_msg *w, bool *done, ribo_error *err) {
    ribo_run_dir *d = run_dir;
    *done = false;
    if (!d->resuming) return RIBO_OK;
    char path[PATH_MAX + 64];
    ribo_part_path(d->path, w->index, false, path, sizeof path);
    if (access(path, F_OK) != 0) return RIBO_OK;
    ribo_part_header h;
    ribo_error perr;
    if (ribo_part_verify(path, &h, &perr) != RIBO_OK) {
        if (d->log) d->log(d->log_user, "warning: %s; recomputing it", perr.message);
        unlink(path);
        return RIBO_OK;
    }
    if (h.fingerprint != d->fp->hash) { /* written under other settings: not ours to keep */
        if (d->log) d->log(d->log_user, "warning: %s was written by a different run; recomputing it", path);
        unlink(path);
        return RIBO_OK;
    }
    if (h.external != d->in_place) { /* a part of the other layout: not ours to keep */
        if (d->log) d->log(d->log_user, "warning: %s has another layout than this run writes; recomputing it", path);
        unlink(path);
        return RIBO_OK;
    }
    if (h.index != w->index || h.row_begin != w->row_begin || h.n_rows != w->n_rows || h.n_out_rows != w->n_out_rows ||
        h.window_hash != w->hash || (h.external && h.out_row_begin != w->out_row_begin))
        return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT,
                              "--resume refused: %s holds input rows %llu..%llu, but the input now has different "
                              "sequences there (the input changed since the interrupted run)",
                              path, (unsigned long long)h.row_begin + 1, (unsigned long long)(h.row_begin + h.n_rows));
    if (h.external) { /* its rows: in the rows file, where this run would write them, with their checksum */
        if (d->rows_fd < 0) d->rows_fd = open(d->rows_path, O_RDONLY | O_CLOEXEC);
        ribo_status s = RIBO_OK;
        if (d->rows_fd < 0)
            s = ribo_error_set(&perr, RIBO_ERR_IO, "%s: cannot open: %s", d->rows_path, strerror(errno));
        else if (h.ext_offset != d->rows_base + h.out_row_begin * h.dim * 4)
            s = ribo_error_set(&perr, RIBO_ERR_IO, "%s: its rows are at byte %llu, this run puts them at %llu", path,
                               (unsigned long long)h.ext_offset,
                               (unsigned long long)(d->rows_base + h.out_row_begin * h.dim * 4));
        else
            s = ribo_part_verify_rows(d->rows_fd, d->rows_path, &h, &perr);
        if (s != RIBO_OK) {
            if (d->log) d->log(d->log_user, "warning: %s; recomputing window %zu", perr.message, w->index + 1);
            unlink(path);
            return RIBO_OK;
        }
    }
    ++d->kept;
    *done = true;
    return RIBO_OK;
}

ribo_status ribo_run_dir_remove(ribo_run_dir *d, ribo_error *err) {
    DIR *dd = opendir(d->path);
    if (!dd) return ribo_error_set(err, RIBO_ERR_IO, "%s: %s", d->path, strerror(errno));
    char path[PATH_MAX + 300];
    for (struct dirent *e; (e = readdir(dd));) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        snprintf(path, sizeof path, "%s/%s", d->path, e->d_name);
        unlink(path);
    }
    closedir(dd);
    if (rmdir(d->path) != 0) return ribo_error_set(err, RIBO_ERR_IO, "%s: cannot remove: %s", d->path, strerror(errno));
    return RIBO_OK;
}

void ribo_run_dir_close(ribo_run_dir *d) {
    if (!d) return;
    if (access(d->path, F_OK) == 0 && scan_parts(d->path, true) == 0) { /* nothing to resume: leave nothing */
        ribo_error e;
        ribo_run_dir_remove(d, &e);
    }
    if (d->rows_fd >= 0) close(d->rows_fd);
    if (d->lock_fd >= 0) close(d->lock_fd);
    free(d);
}
