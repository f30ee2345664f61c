/* Parts -> final output file (see assemble.h). */
#include "engine/run/assemble.h"

#include <limits.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/io/output.h"
#include "engine/store/part_file.h"
#include "engine/base/fileutil.h"

/* Opens part i and checks its header against what the run announced for that window. */
static ribo_status open_part(const ribo_assemble_config *c, const ribo_part_entry *e, int *fd, ribo_part_header *h,
                             char *path, size_t cap, ribo_error *err) {
    ribo_part_path(c->work_dir, e->index, false, path, cap);
    *fd = open(path, O_RDONLY | O_CLOEXEC);
    if (*fd < 0) return ribo_error_set(err, RIBO_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    unsigned char hdr[RIBO_PART_HEADER_BYTES];
    ribo_status s = ribo_pread_all(*fd, hdr, sizeof hdr, 0, path, err);
    if (s == RIBO_OK) s = ribo_part_header_decode(hdr, h, path, err);
    if (s == RIBO_OK && (h->row_begin != e->row_begin || h->n_rows != e->n_rows || h->n_out_rows != e->n_out_rows ||
                         h->dim != c->dim || h->per_residue != c->per_residue))
        s = ribo_error_set(err, RIBO_ERR_INTERNAL, "%s: part does not hold the rows of window %zu", path, e->index + 1);
    if (s != RIBO_OK) {
        close(*fd);
        *fd = -1;
    }
    return s;
}

/* Sums the parts' ids bytes and, for per-residue output, reads every sequence's row count. */
static ribo_status scan_parts(const ribo_assemble_config *c, size_t n_rows, uint64_t *ids_bytes, int64_t **row_tokens,
                              ribo_error *err) {
    *ids_bytes = 0;
    *row_tokens = c->per_residue ? malloc((n_rows ? n_rows : 1) * sizeof **row_tokens) : NULL;
    if (c->per_residue && !*row_tokens)
        return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "out of host memory for %zu row counts", n_rows);
    char path[PATH_MAX + 64]; /* work_dir (< PATH_MAX) + a part name */
    for (size_t i = 0, row = 0; i < c->n_parts; ++i) {
        if (!c->parts[i].has_file) continue;
        int fd;
        ribo_part_header h;
        RIBO_TRY(open_part(c, &c->parts[i], &fd, &h, path, sizeof path, err));
        ribo_status s = c->per_residue ? ribo_part_read_meta(fd, &h, path, NULL, *row_tokens + row, err) : RIBO_OK;
        close(fd);
        RIBO_TRY(s);
        *ids_bytes += h.ids_bytes;
        row += (size_t)h.n_rows;
    }
    return RIBO_OK;
}

/* Hands the output the ids part by part (only one part's ids in memory). */
typedef struct id_reader {
    const ribo_assemble_config *c;
    size_t next_part;
    char *ids;
    size_t len, pos;
} id_reader;

static const char *next_id(void *user, ribo_error *err) {
    id_reader *r = user;
    char path[PATH_MAX + 64]; /* work_dir (< PATH_MAX) + a part name */
    while (r->pos >= r->len) {
        if (r->next_part >= r->c->n_parts) {
            ribo_error_set(err, RIBO_ERR_INTERNAL, "assembly: the parts hold fewer ids than rows");
            return NULL;
        }
        const ribo_part_entry *e = &r->c->parts[r->next_part++];
        if (!e->has_file) continue;
        int fd;
        ribo_part_header h;
        if (open_part(r->c, e, &fd, &h, path, sizeof path, err) != RIBO_OK) return NULL;
        char *ids = realloc(r->ids, h.ids_bytes ? (size_t)h.ids_bytes : 1);
        ribo_status s = ids ? RIBO_OK : ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "out of host memory");
        if (ids) r->ids = ids;
        if (s == RIBO_OK) s = ribo_part_read_meta(fd, &h, path, r->ids, NULL, err);
        close(fd);
        if (s != RIBO_OK) return NULL;
        r->len = (size_t)h.ids_bytes;
        r->pos = 0;
    }
    const char *id = r->ids + r->pos;
    r->pos += strlen(id) + 1;
    return id;
}

/* Copies one part's rows into the output (one in-kernel copy of its data section). */
static ribo_status copy_part(const ribo_assemble_config *c, ribo_output *out, const ribo_part_entry *e, ribo_error *err) {
    int fd;
    ribo_part_header h;
    char path[PATH_MAX + 64]; /* work_dir (< PATH_MAX) + a part name */
    RIBO_TRY(open_part(c, e, &fd, &h, path, sizeof path, err));
    ribo_status s = ribo_output_copy_rows(out, (size_t)e->row_begin, (size_t)h.n_rows, fd, h.data_offset, path, err);
    close(fd);
    return s;
}

ribo_status ribo_assemble(const ribo_assemble_config *c, ribo_error *err) {
    size_t n_rows = 0;
    for (size_t i = 0; i < c->n_parts; ++i) n_rows += (size_t)c->parts[i].n_rows;
    uint64_t ids_bytes = 0;
    int64_t *row_tokens = NULL;
    id_reader ids = {.c = c};
    ribo_output *out = NULL;
    ribo_status s = scan_parts(c, n_rows, &ids_bytes, &row_tokens, err);
    if (s == RIBO_OK) {
        ribo_output_spec spec = {.path = c->output, .n_rows = n_rows, .dim = (int)c->dim, .ids = NULL,
                                 .row_tokens = row_tokens, .next_id = next_id, .next_id_user = &ids,
                                 .ids_bytes = ids_bytes, .rows_path = c->rows_path, .rows_base = c->rows_base};
        s = ribo_output_open(&spec, &out, err);
    }
    free(ids.ids);
    if (s == RIBO_OK && c->rows_path && c->kill_after_parts > 0) raise(SIGKILL);
    for (size_t i = 0, copied = 0; s == RIBO_OK && !c->rows_path && i < c->n_parts; ++i) {
        if (!c->parts[i].has_file) continue;
        s = copy_part(c, out, &c->parts[i], err);
        if (s == RIBO_OK && c->kill_after_parts > 0 && ++copied == (size_t)c->kill_after_parts) raise(SIGKILL);
    }
    if (s == RIBO_OK) s = ribo_output_commit(out, err);
    ribo_output_close(out);
    free(row_tokens);
    if (s == RIBO_OK && c->kill_after_commit) raise(SIGKILL);
    return s;
}
