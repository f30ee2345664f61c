/* Output free-space check (see space.h). */
#include "engine/run/space.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "engine/input/input_stream.h"

bool ribo_space_expected(ribo_producer *p, bool whole, uint64_t dim, ribo_space_need *need) {
    uint64_t tokens = 0, rows = 0, done = 0, total = 0;
    ribo_producer_first_window_rows(p, &tokens, &rows);
    ribo_input_progress(ribo_producer_input(p), &done, &total);
    need->exact = whole;
    if (!whole) {
        if (done == 0 || total == 0) return false;
        rows = (uint64_t)((double)rows * (double)total / (double)done); /* rows per input byte so far */
    }
    need->rows = rows;
    need->bytes = rows * dim * 4;
    return true;
}

/* The mount point and type of the filesystem holding dir (longest matching /proc/self/mounts entry). */
static void mount_of(const char *dir, char *mnt, size_t cap, char *type, size_t tcap) {
    snprintf(mnt, cap, "%s", dir);
    snprintf(type, tcap, "?");
    char real[PATH_MAX];
    if (!realpath(dir, real)) return;
    FILE *f = fopen("/proc/self/mounts", "r");
    if (!f) return;
    char line[2 * PATH_MAX], dev[PATH_MAX], at[PATH_MAX], ty[64];
    size_t best = 0;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "%4095s %4095s %63s", dev, at, ty) != 3) continue;
        size_t n = strlen(at);
        bool under = strncmp(real, at, n) == 0 && (real[n] == '/' || real[n] == '\0' || (n == 1 && at[0] == '/'));
        if (under && n >= best) {
            best = n;
            snprintf(mnt, cap, "%s", at);
            snprintf(type, tcap, "%s", ty);
        }
    }
    fclose(f);
}

ribo_status ribo_space_check(const char *output, const ribo_space_need *need, uint64_t dim, uint64_t already,
                             ribo_error *err) {
    char dir[PATH_MAX];
    const char *slash = strrchr(output, '/');
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash == output ? 1 : slash - output) : 1, slash ? output : ".");
    uint64_t avail = 0;
    const char *hook = getenv("RIBO_TEST_AVAILABLE_BYTES");
    struct statvfs vfs;
    if (hook && hook[0]) avail = strtoull(hook, NULL, 10);
    else if (statvfs(dir, &vfs) == 0) avail = (uint64_t)vfs.f_bavail * (uint64_t)vfs.f_frsize;
    else return RIBO_OK; /* cannot tell: the writes will report it */
    if (avail + already >= need->bytes) return RIBO_OK;
    char mnt[PATH_MAX], type[64];
    mount_of(dir, mnt, sizeof mnt, type, sizeof type);
    return ribo_error_set(err, RIBO_ERR_IO,
                          "output '%s': needs %s%llu bytes (%llu rows x %llu floats x 4 bytes%s), but the filesystem "
                          "at %s (%s) holding it has %llu bytes available%s; free space or write elsewhere",
                          output, need->exact ? "" : "about ", (unsigned long long)need->bytes,
                          (unsigned long long)need->rows, (unsigned long long)dim,
                          need->exact ? "" : ", estimated from the input size", mnt, type, (unsigned long long)avail,
                          already ? " (plus what the interrupted run's rows file holds)" : "");
}
