/* The output never names an input or a model file (path_guard.h). */
#include "engine/io/path_guard.h"

#include <dirent.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* One file the run would write: its path and, where it exists, its identity. */
typedef struct written_file {
    char path[PATH_MAX + 32];
    bool exists;
    dev_t dev;
    ino_t ino;
} written_file;

static void look_up(written_file *w) {
    struct stat sb;
    w->exists = stat(w->path, &sb) == 0;
    if (w->exists) {
        w->dev = sb.st_dev;
        w->ino = sb.st_ino;
    }
}

/* The written file that is `path` (same device and inode), or NULL. */
static const written_file *same_as(const written_file *w, int n, const char *path) {
    struct stat sb;
    if (stat(path, &sb) != 0) return NULL;
    for (int i = 0; i < n; ++i)
        if (w[i].exists && w[i].dev == sb.st_dev && w[i].ino == sb.st_ino) return &w[i];
    return NULL;
}

static ribo_status check_model_dir(const written_file *w, int n, const char *model_dir, ribo_error *err) {
    DIR *d = opendir(model_dir);
    if (!d) return RIBO_OK; /* the model open names it */
    ribo_status s = RIBO_OK;
    const struct dirent *e;
    while (s == RIBO_OK && (e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char path[PATH_MAX + 300];
        snprintf(path, sizeof path, "%s/%s", model_dir, e->d_name);
        const written_file *hit = same_as(w, n, path);
        if (hit)
            s = ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT,
                               "output: '%s' is the model's file '%s': refusing to overwrite the model", hit->path, path);
    }
    closedir(d);
    if (s == RIBO_OK) {
        const written_file *hit = same_as(w, n, model_dir);
        if (hit)
            s = ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "output: '%s' is the model directory '%s'", hit->path,
                               model_dir);
    }
    return s;
}

ribo_status ribo_output_guard_inputs(const char *output, const char *const *inputs, int n_inputs, const char *model_dir,
                                     ribo_error *err) {
    if (!output || strlen(output) > PATH_MAX) return RIBO_OK; /* the output checks refuse these */
    written_file w[4];
    memset(w, 0, sizeof w);
    int n = 0;
    snprintf(w[n++].path, sizeof w[0].path, "%s", output);
    const size_t len = strlen(output);
    if (len > 4 && !strcmp(output + len - 4, ".npy")) {
        snprintf(w[n++].path, sizeof w[0].path, "%.*s.ids.txt", (int)(len - 4), output);
        snprintf(w[n++].path, sizeof w[0].path, "%.*s.offsets.npy", (int)(len - 4), output);
    }
    snprintf(w[n++].path, sizeof w[0].path, "%s.ribo-work", output);
    for (int i = 0; i < n; ++i) look_up(&w[i]);
    for (int i = 0; i < n_inputs; ++i) {
        const written_file *hit = inputs[i] ? same_as(w, n, inputs[i]) : NULL;
        if (hit)
            return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT,
                                  "output: '%s' is the input '%s': refusing to overwrite an input (choose another --output)",
                                  hit->path, inputs[i]);
    }
    return model_dir ? check_model_dir(w, n, model_dir, err) : RIBO_OK;
}
