/* NumPy .npy support: the v1.0 header the output writer puts in front of its rows, and a small
 * whole-file reader (v1.0/v2.0/v3.0 headers) for tests and tools. Data is little-endian. */
#include "engine/io/npy.h"

#include <errno.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#error "ribo's .npy code assumes a little-endian host"
#endif

size_t ribo_npy_header(char *buf, size_t cap, const char *descr, const int64_t *shape, int ndim) {
    if (!buf || !descr || ndim < 0 || (ndim > 0 && !shape)) return 0;
    char dict[1024];
    int n = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (", descr);
    if (n < 0 || (size_t)n >= sizeof dict) return 0;
    size_t len = (size_t)n;
    for (int i = 0; i < ndim; ++i) {
        if (shape[i] < 0) return 0;
        n = snprintf(dict + len, sizeof dict - len, i == 0 ? "%lld" : ", %lld", (long long)shape[i]);
        if (n < 0 || (size_t)n >= sizeof dict - len) return 0;
        len += (size_t)n;
    }
    n = snprintf(dict + len, sizeof dict - len, "%s), }", ndim == 1 ? "," : "");
    if (n < 0 || (size_t)n >= sizeof dict - len) return 0;
    len += (size_t)n;
    /* magic(6) + version(2) + header length(2) + dict + padding + '\n' = multiple of 64 */
    size_t total = 10 + len + 1;
    total = (total + 63) / 64 * 64;
    if (total > cap || total - 10 > 65535) return 0;
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    size_t hl = total - 10;
    buf[8] = (char)(hl & 0xff);
    buf[9] = (char)(hl >> 8);
    memcpy(buf + 10, dict, len);
    memset(buf + 10 + len, ' ', total - 10 - len - 1);
    buf[total - 1] = '\n';
    return total;
}

size_t ribo_npy_header_bound(const char *descr, int64_t cols) {
    char buf[256];
    int64_t shape[2] = {INT64_MAX, cols};
    return ribo_npy_header(buf, sizeof buf, descr, shape, 2);
}

/* Size in bytes of one element of a supported descr; 0 if unsupported. */
static size_t descr_size(const char *d) {
    if (strcmp(d, "<f4") == 0 || strcmp(d, "<i4") == 0) return 4;
    if (strcmp(d, "<f8") == 0 || strcmp(d, "<i8") == 0) return 8;
    return 0;
}

/* Finds "'key':" in the header dict and returns the first non-space char after the colon. */
static const char *dict_value(const char *hdr, const char *key) {
    char pat[32];
    snprintf(pat, sizeof pat, "'%s':", key);
    const char *p = strstr(hdr, pat);
    if (!p) return NULL;
    p += strlen(pat);
    while (*p == ' ') ++p;
    return p;
}

/* Parses the dict of a header (NUL-terminated) into out; returns a static reason or NULL if fine. */
static const char *parse_dict(const char *hdr, ribo_npy_array *out) {
    const char *p = dict_value(hdr, "descr");
    if (!p || *p != '\'') return "no 'descr'";
    const char *q = strchr(p + 1, '\'');
    if (!q || q - p - 1 >= (long)sizeof out->descr) return "bad 'descr'";
    memcpy(out->descr, p + 1, (size_t)(q - p - 1));
    out->descr[q - p - 1] = '\0';
    if (!descr_size(out->descr)) return "unsupported dtype (only <f4 <f8 <i4 <i8)";
    p = dict_value(hdr, "fortran_order");
    if (!p) return "no 'fortran_order'";
    if (strncmp(p, "False", 5) != 0) return "Fortran-order arrays are not supported";
    p = dict_value(hdr, "shape");
    if (!p || *p != '(') return "no 'shape'";
    ++p;
    out->ndim = 0;
    for (;;) {
        while (*p == ' ' || *p == ',') ++p;
        if (*p == ')') break;
        if (*p < '0' || *p > '9') return "bad 'shape'";
        if (out->ndim == (int)(sizeof out->shape / sizeof out->shape[0])) return "more than 4 dimensions";
        errno = 0;
        char *end;
        long long v = strtoll(p, &end, 10);
        if (errno || v < 0) return "bad 'shape'";
        out->shape[out->ndim++] = v;
        p = end;
        if (*p == 'L') ++p; /* Python 2 longs */
    }
    return NULL;
}

/* Refuses a header whose shape needs more data bytes than a regular file holds after the header,
 * before anything is allocated for them (a crafted header could ask for terabytes). */
static ribo_status check_data_fits(FILE *f, const char *path, size_t nbytes, ribo_error *err) {
    struct stat st;
    long at = ftell(f);
    if (at < 0 || fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) return RIBO_OK; /* fread checks */
    uint64_t left = (uint64_t)st.st_size > (uint64_t)at ? (uint64_t)st.st_size - (uint64_t)at : 0;
    if ((uint64_t)nbytes <= left) return RIBO_OK;
    return ribo_error_set(err, RIBO_ERR_INPUT,
                          "%s: truncated .npy data: the header's shape needs %zu bytes, the file holds %llu after the header",
                          path, nbytes, (unsigned long long)left);
}

ribo_status ribo_npy_read(const char *path, ribo_npy_array *out, ribo_error *err) {
    if (!path || !out) return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "ribo_npy_read: NULL argument");
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f) return ribo_error_set(err, RIBO_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    ribo_status s = RIBO_OK;
    char *hdr = NULL;
    unsigned char pre[12];
    if (fread(pre, 1, 10, f) != 10 || memcmp(pre, "\x93NUMPY", 6) != 0) {
        s = ribo_error_set(err, RIBO_ERR_INPUT, "%s: not a .npy file (bad magic)", path);
        goto done;
    }
    size_t hlen;
    if (pre[6] == 1) {
        hlen = (size_t)pre[8] | (size_t)pre[9] << 8;
    } else if (pre[6] == 2 || pre[6] == 3) {
        if (fread(pre + 10, 1, 2, f) != 2) {
            s = ribo_error_set(err, RIBO_ERR_INPUT, "%s: truncated .npy header", path);
            goto done;
        }
        hlen = (size_t)pre[8] | (size_t)pre[9] << 8 | (size_t)pre[10] << 16 | (size_t)pre[11] << 24;
    } else {
        s = ribo_error_set(err, RIBO_ERR_INPUT, "%s: unsupported .npy version %d.%d", path, pre[6], pre[7]);
        goto done;
    }
    if (hlen > ((size_t)1 << 24)) {
        s = ribo_error_set(err, RIBO_ERR_INPUT, "%s: .npy header too long (%zu bytes)", path, hlen);
        goto done;
    }
    hdr = malloc(hlen + 1);
    if (!hdr) {
        s = ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
        goto done;
    }
    if (fread(hdr, 1, hlen, f) != hlen) {
        s = ribo_error_set(err, RIBO_ERR_INPUT, "%s: truncated .npy header", path);
        goto done;
    }
    hdr[hlen] = '\0';
    const char *why = parse_dict(hdr, out);
    if (why) {
        s = ribo_error_set(err, RIBO_ERR_INPUT, "%s: bad .npy header: %s", path, why);
        goto done;
    }
    size_t n = 1;
    for (int i = 0; i < out->ndim; ++i) {
        size_t d = (size_t)out->shape[i];
        if (d && n > SIZE_MAX / 16 / d) {
            s = ribo_error_set(err, RIBO_ERR_INPUT, "%s: .npy shape too large", path);
            goto done;
        }
        n *= d;
    }
    size_t es = descr_size(out->descr);
    size_t nbytes = n * es;
    s = check_data_fits(f, path, nbytes, err);
    if (s != RIBO_OK) goto done;
    out->n_elements = n;
    out->data = malloc(nbytes ? nbytes : 1);
    if (!out->data) {
        s = ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "%s: out of memory for %zu bytes", path, nbytes);
        goto done;
    }
    if (fread(out->data, 1, nbytes, f) != nbytes) {
        s = ribo_error_set(err, RIBO_ERR_INPUT, "%s: truncated .npy data (want %zu bytes)", path, nbytes);
        goto done;
    }
    if (fgetc(f) != EOF) s = ribo_error_set(err, RIBO_ERR_INPUT, "%s: trailing bytes after .npy data", path);
done:
    free(hdr);
    fclose(f);
    if (s != RIBO_OK) ribo_npy_free(out);
    return s;
}

double ribo_npy_get(const ribo_npy_array *a, size_t i) {
    if (!a || !a->data || i >= a->n_elements) return 0.0;
    if (strcmp(a->descr, "<f4") == 0) return ((const float *)a->data)[i];
    if (strcmp(a->descr, "<f8") == 0) return ((const double *)a->data)[i];
    if (strcmp(a->descr, "<i4") == 0) return ((const int32_t *)a->data)[i];
    if (strcmp(a->descr, "<i8") == 0) return (double)((const int64_t *)a->data)[i];
    return 0.0;
}

void ribo_npy_free(ribo_npy_array *a) {
    if (!a) return;
    free(a->data);
    memset(a, 0, sizeof *a);
}
