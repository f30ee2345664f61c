/* Read-only zip reader (torch_zip.h): EOCD, ZIP64 locator and record, central directory, local
 * headers. Every read is bounds-checked against the buffer before it happens. */
#include "engine/io/torch_zip.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define EOCD_SIZE 22
#define EOCD_MAX_COMMENT 65535
#define Z64_LOCATOR_SIZE 20
#define Z64_EOCD_SIZE 56
#define CENTRAL_SIZE 46
#define LOCAL_SIZE 30
#define U16_FULL 0xFFFFu
#define U32_FULL 0xFFFFFFFFu

/* ---------------------------------------------------------------- little-endian loads */

static uint16_t le16(const unsigned char *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t le32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t le64(const unsigned char *p) { return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32; }

/* True when [off, off+n) lies within [0, len) (overflow-safe). */
static bool fits(uint64_t off, uint64_t n, uint64_t len) { return off <= len && n <= len - off; }

/* ---------------------------------------------------------------- end of central directory */

/* Where the central directory is and how many entries it has. */
typedef struct zip_dir {
    uint64_t offset, size, count;
    uint64_t end; /* the directory must end at or before this offset (the record that follows it) */
} zip_dir;

/* The last EOCD signature whose comment fits the buffer; SIZE_MAX when there is none. */
static size_t find_eocd(const unsigned char *buf, size_t len) {
    if (len < EOCD_SIZE) return SIZE_MAX;
    size_t lowest = len - EOCD_SIZE > EOCD_MAX_COMMENT ? len - EOCD_SIZE - EOCD_MAX_COMMENT : 0;
    for (size_t pos = len - EOCD_SIZE + 1; pos-- > lowest;)
        if (memcmp(buf + pos, "PK\x05\x06", 4) == 0 && pos + EOCD_SIZE + le16(buf + pos + 20) <= len) return pos;
    return SIZE_MAX;
}

/* Reads the ZIP64 end-of-central-directory record through its locator at loc. */
static ribo_status read_zip64(const unsigned char *buf, size_t loc, const char *what, zip_dir *d, ribo_error *err) {
    uint64_t rec = le64(buf + loc + 8);
    if (le32(buf + loc + 4) != 0 || le32(buf + loc + 16) > 1)
        return ribo_error_set(err, RIBO_ERR_MODEL, "%s: multi-disk zip archives are not supported", what);
    if (!fits(rec, Z64_EOCD_SIZE, loc) || memcmp(buf + rec, "PK\x06\x06", 4) != 0)
        return ribo_error_set(err, RIBO_ERR_MODEL,
                              "%s: corrupt zip: the ZIP64 end-of-central-directory record (at %llu) is missing", what,
                              (unsigned long long)rec);
    if (le32(buf + rec + 16) != 0 || le32(buf + rec + 20) != 0)
        return ribo_error_set(err, RIBO_ERR_MODEL, "%s: multi-disk zip archives are not supported", what);
    d->count = le64(buf + rec + 32);
    d->size = le64(buf + rec + 40);
    d->offset = le64(buf + rec + 48);
    d->end = rec;
    return RIBO_OK;
}

/* Finds the central directory (ZIP64 where the archive has a locator). */
static ribo_status read_eocd(const unsigned char *buf, size_t len, const char *what, zip_dir *d, ribo_error *err) {
    size_t pos = find_eocd(buf, len);
    if (pos == SIZE_MAX)
        return ribo_error_set(err, RIBO_ERR_MODEL,
                              "%s: not a zip archive (no end-of-central-directory record): truncated, or not a "
                              "PyTorch checkpoint",
                              what);
    const unsigned char *e = buf + pos;
    if (pos >= Z64_LOCATOR_SIZE && memcmp(e - Z64_LOCATOR_SIZE, "PK\x06\x07", 4) == 0)
        return read_zip64(buf, pos - Z64_LOCATOR_SIZE, what, d, err);
    if (le16(e + 4) != 0 || le16(e + 6) != 0)
        return ribo_error_set(err, RIBO_ERR_MODEL, "%s: multi-disk zip archives are not supported", what);
    d->count = le16(e + 10);
    d->size = le32(e + 12);
    d->offset = le32(e + 16);
    d->end = pos;
    if (d->count == U16_FULL || d->size == U32_FULL || d->offset == U32_FULL)
        return ribo_error_set(err, RIBO_ERR_MODEL, "%s: corrupt zip: ZIP64 fields without a ZIP64 locator", what);
    return RIBO_OK;
}

/* ---------------------------------------------------------------- central directory entries */

/* Replaces the saturated sizes/offset of a central entry by the values of its zip64 extra (0x0001),
 * which holds exactly those fields, in the order uncompressed, compressed, offset. */
static bool apply_zip64_extra(const unsigned char *x, size_t xlen, uint64_t *usize, uint64_t *csize,
                              uint64_t *offset) {
    bool need_u = *usize == U32_FULL, need_c = *csize == U32_FULL, need_o = *offset == U32_FULL;
    if (!need_u && !need_c && !need_o) return true;
    for (size_t p = 0; p + 4 <= xlen;) {
        uint16_t id = le16(x + p), sz = le16(x + p + 2);
        if (sz > xlen - p - 4) return false;
        if (id == 0x0001) {
            const unsigned char *f = x + p + 4;
            size_t need = 8u * ((size_t)need_u + (size_t)need_c + (size_t)need_o);
            if (sz < need) return false;
            if (need_u) *usize = le64(f), f += 8;
            if (need_c) *csize = le64(f), f += 8;
            if (need_o) *offset = le64(f);
            return true;
        }
        p += 4 + (size_t)sz;
    }
    return false;
}

/* Parses the central entry at *pos (advanced past it) and its local header into *out. */
static ribo_status read_entry(const unsigned char *buf, size_t len, const zip_dir *d, uint64_t *pos, size_t i,
                              const char *what, ribo_zip_entry *out, ribo_error *err) {
    uint64_t p = *pos, end = d->offset + d->size;
    if (!fits(p, CENTRAL_SIZE, end) || memcmp(buf + p, "PK\x01\x02", 4) != 0)
        return ribo_error_set(err, RIBO_ERR_MODEL, "%s: corrupt zip: central directory entry %zu (at %llu) is missing",
                              what, i, (unsigned long long)p);
    const unsigned char *c = buf + p;
    uint16_t flags = le16(c + 8), nlen = le16(c + 28), xlen = le16(c + 30), clen = le16(c + 32);
    if (!fits(p + CENTRAL_SIZE, (uint64_t)nlen + xlen + clen, end))
        return ribo_error_set(err, RIBO_ERR_MODEL, "%s: corrupt zip: central directory entry %zu runs past the directory",
                              what, i);
    out->name = (const char *)c + CENTRAL_SIZE;
    out->name_len = nlen;
    out->method = le16(c + 10);
    int nl = nlen > 200 ? 200 : (int)nlen;
    uint64_t usize = le32(c + 24), csize = le32(c + 20), off = le32(c + 42);
    if (!apply_zip64_extra(c + CENTRAL_SIZE + nlen, xlen, &usize, &csize, &off))
        return ribo_error_set(err, RIBO_ERR_MODEL, "%s: zip entry '%.*s': corrupt or missing ZIP64 extra field", what, nl,
                              out->name);
    if (flags & 1u)
        return ribo_error_set(err, RIBO_ERR_MODEL, "%s: zip entry '%.*s' is encrypted", what, nl, out->name);
    if (out->method == 0 && usize != csize)
        return ribo_error_set(err, RIBO_ERR_MODEL, "%s: zip entry '%.*s': stored entry with sizes %llu and %llu", what, nl,
                              out->name, (unsigned long long)csize, (unsigned long long)usize);
    if (!fits(off, LOCAL_SIZE, len) || memcmp(buf + off, "PK\x03\x04", 4) != 0)
        return ribo_error_set(err, RIBO_ERR_MODEL, "%s: zip entry '%.*s': local header (at %llu) is missing", what, nl,
                              out->name, (unsigned long long)off);
    uint16_t lnlen = le16(buf + off + 26), lxlen = le16(buf + off + 28);
    uint64_t data = off + LOCAL_SIZE + lnlen + lxlen;
    if (lnlen != nlen || !fits(off + LOCAL_SIZE, lnlen, len) || memcmp(buf + off + LOCAL_SIZE, out->name, nlen) != 0)
        return ribo_error_set(err, RIBO_ERR_MODEL, "%s: zip entry '%.*s': local header names another entry", what, nl,
                              out->name);
    if (!fits(data, csize, len))
        return ribo_error_set(err, RIBO_ERR_MODEL,
                              "%s: zip entry '%.*s': %llu bytes at %llu run past the end of the file (%zu bytes): "
                              "truncated",
                              what, nl, out->name, (unsigned long long)csize, (unsigned long long)data, len);
    out->data_offset = data;
    out->size = csize;
    *pos = p + CENTRAL_SIZE + nlen + xlen + clen;
    return RIBO_OK;
}

/* qsort/bsearch order of entries: by name bytes, then length. */
static int cmp_entry(const void *a, const void *b) {
    const ribo_zip_entry *x = a, *y = b;
    size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
    int c = n ? memcmp(x->name, y->name, n) : 0;
    if (c) return c;
    return x->name_len < y->name_len ? -1 : x->name_len > y->name_len;
}

ribo_status ribo_zip_read(const unsigned char *buf, size_t len, const char *what, ribo_zip *out, ribo_error *err) {
    out->entries = NULL;
    out->n = 0;
    zip_dir d = {0, 0, 0, 0};
    RIBO_TRY(read_eocd(buf, len, what, &d, err));
    if (!fits(d.offset, d.size, d.end))
        return ribo_error_set(err, RIBO_ERR_MODEL,
                              "%s: corrupt zip: central directory (%llu bytes at %llu) lies outside the file", what,
                              (unsigned long long)d.size, (unsigned long long)d.offset);
    if (d.count > d.size / CENTRAL_SIZE)
        return ribo_error_set(err, RIBO_ERR_MODEL,
                              "%s: corrupt zip: %llu entries cannot fit a %llu-byte central directory", what,
                              (unsigned long long)d.count, (unsigned long long)d.size);
    if (d.count == 0) return ribo_error_set(err, RIBO_ERR_MODEL, "%s: the zip archive is empty", what);
    ribo_zip_entry *v = calloc((size_t)d.count, sizeof *v);
    if (!v) return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "%s: out of memory reading the zip directory", what);
    uint64_t pos = d.offset;
    for (size_t i = 0; i < (size_t)d.count; ++i) {
        ribo_status s = read_entry(buf, len, &d, &pos, i, what, &v[i], err);
        if (s != RIBO_OK) {
            free(v);
            return s;
        }
    }
    qsort(v, (size_t)d.count, sizeof *v, cmp_entry);
    for (size_t i = 1; i < (size_t)d.count; ++i)
        if (cmp_entry(&v[i - 1], &v[i]) == 0) {
            int nl = v[i].name_len > 200 ? 200 : (int)v[i].name_len;
            ribo_status s = ribo_error_set(err, RIBO_ERR_MODEL, "%s: zip entry '%.*s' appears twice", what, nl,
                                           v[i].name);
            free(v);
            return s;
        }
    out->entries = v;
    out->n = (size_t)d.count;
    return RIBO_OK;
}

const ribo_zip_entry *ribo_zip_find(const ribo_zip *z, const char *name) {
    if (!z->n) return NULL;
    ribo_zip_entry key = {.name = name, .name_len = strlen(name)};
    return bsearch(&key, z->entries, z->n, sizeof *z->entries, cmp_entry);
}

void ribo_zip_free(ribo_zip *z) {
    free(z->entries);
    z->entries = NULL;
    z->n = 0;
}
