/* The tensor set shared by the safetensors and PyTorch readers (checkpoint.h): files, entries, the
 * name-sorted lookup of safetensors.h, and closing. */
#include "engine/io/checkpoint.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "engine/base/fileutil.h"

/* One mapped file. */
typedef struct ckpt_file {
    char *path;
    void *map;
    size_t map_size;
} ckpt_file;

struct ribo_safetensors {
    ckpt_file *files;
    size_t n_files;
    ribo_ckpt_entry *entries; /* sorted by name once ribo_ckpt_finish succeeded */
    size_t n_entries, cap_entries;
};

/* ---------------------------------------------------------------- building */

ribo_safetensors *ribo_ckpt_new(void) {
    return calloc(1, sizeof(ribo_safetensors));
}

ribo_status ribo_ckpt_add_file(ribo_safetensors *set, char *path, size_t *index, ribo_error *err) {
    ckpt_file *files = realloc(set->files, (set->n_files + 1) * sizeof *files);
    if (!files) {
        ribo_status s = ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "%s: out of memory opening weights", path);
        free(path);
        return s;
    }
    set->files = files;
    *index = set->n_files++;
    files[*index] = (ckpt_file){path, NULL, 0};
    return RIBO_OK;
}

void ribo_ckpt_set_map(ribo_safetensors *set, size_t index, void *map, size_t size) {
    set->files[index].map = map;
    set->files[index].map_size = size;
}

ribo_status ribo_ckpt_map(ribo_safetensors *set, size_t index, const unsigned char **base, uint64_t *size,
                          ribo_error *err) {
    const char *path = set->files[index].path;
    int fd;
    uint64_t file_size;
    *base = NULL;
    *size = 0;
    RIBO_TRY(ribo_open_regular_file(path, &fd, &file_size, err));
    if (file_size > (uint64_t)SIZE_MAX) {
        close(fd);
        return ribo_error_set(err, RIBO_ERR_IO, "%s: file too large to map", path);
    }
    if (file_size == 0) {
        close(fd);
        return RIBO_OK;
    }
    void *map = mmap(NULL, (size_t)file_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int map_errno = errno;
    close(fd);
    if (map == MAP_FAILED)
        return ribo_error_set(err, RIBO_ERR_IO, "%s: cannot mmap %llu bytes: %s", path,
                              (unsigned long long)file_size, strerror(map_errno));
    ribo_ckpt_set_map(set, index, map, (size_t)file_size);
    *base = map;
    *size = file_size;
    return RIBO_OK;
}

const char *ribo_ckpt_file_path(const ribo_safetensors *set, size_t index) {
    return set->files[index].path;
}

size_t ribo_ckpt_file_count(const ribo_safetensors *set) {
    return set->n_files;
}

ribo_ckpt_entry *ribo_ckpt_push(ribo_safetensors *set, size_t index, const char *name, ribo_error *err) {
    const char *path = set->files[index].path;
    if (set->n_entries == set->cap_entries) {
        size_t cap = set->cap_entries ? set->cap_entries * 2 : 64;
        ribo_ckpt_entry *e = realloc(set->entries, cap * sizeof *e);
        if (!e) {
            ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "%s: out of memory reading the tensor list", path);
            return NULL;
        }
        set->entries = e;
        set->cap_entries = cap;
    }
    char *nm = strdup(name);
    if (!nm) {
        ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "%s: out of memory reading the tensor list", path);
        return NULL;
    }
    ribo_ckpt_entry *e = &set->entries[set->n_entries++];
    memset(e, 0, sizeof *e);
    e->t.name = nm;
    e->t.file = path;
    e->file_index = index;
    return e;
}

ribo_ckpt_entry *ribo_ckpt_entries(ribo_safetensors *set, size_t *n) {
    *n = set->n_entries;
    return set->entries;
}

/* qsort/bsearch order of entries by name. */
static int cmp_by_name(const void *a, const void *b) {
    return strcmp(((const ribo_ckpt_entry *)a)->t.name, ((const ribo_ckpt_entry *)b)->t.name);
}

ribo_status ribo_ckpt_finish(ribo_safetensors *set, ribo_error *err) {
    if (set->n_entries > 1) qsort(set->entries, set->n_entries, sizeof *set->entries, cmp_by_name);
    for (size_t i = 1; i < set->n_entries; ++i) {
        const ribo_ckpt_entry *a = &set->entries[i - 1], *b = &set->entries[i];
        if (strcmp(a->t.name, b->t.name) == 0) {
            if (a->file_index == b->file_index)
                return ribo_error_set(err, RIBO_ERR_MODEL, "%s: tensor '%s' appears twice in the file", a->t.file,
                                      a->t.name);
            return ribo_error_set(err, RIBO_ERR_MODEL, "%s: tensor '%s' is also in %s", b->t.file, b->t.name,
                                  a->t.file);
        }
    }
    return RIBO_OK;
}

/* ---------------------------------------------------------------- lookup (safetensors.h) */

size_t ribo_safetensors_count(const ribo_safetensors *st) {
    return st ? st->n_entries : 0;
}

const ribo_st_tensor *ribo_safetensors_at(const ribo_safetensors *st, size_t i) {
    return (st && i < st->n_entries) ? &st->entries[i].t : NULL;
}

const ribo_st_tensor *ribo_safetensors_find(const ribo_safetensors *st, const char *name) {
    if (!st || !name || !st->n_entries) return NULL;
    ribo_ckpt_entry key;
    memset(&key, 0, sizeof key);
    key.t.name = name;
    const ribo_ckpt_entry *e = bsearch(&key, st->entries, st->n_entries, sizeof *st->entries, cmp_by_name);
    return e ? &e->t : NULL;
}

bool ribo_safetensors_any_name_contains(const ribo_safetensors *st, const char *needle) {
    for (size_t i = 0; i < ribo_safetensors_count(st); ++i)
        if (strstr(st->entries[i].t.name, needle)) return true;
    return false;
}

/* ---------------------------------------------------------------- closing */

void ribo_safetensors_close(ribo_safetensors *st) {
    if (!st) return;
    for (size_t i = 0; i < st->n_entries; ++i) {
        free((char *)st->entries[i].t.name);
        free(st->entries[i].owned);
    }
    for (size_t i = 0; i < st->n_files; ++i) {
        if (st->files[i].map) munmap(st->files[i].map, st->files[i].map_size);
        free(st->files[i].path);
    }
    free(st->entries);
    free(st->files);
    free(st);
}
