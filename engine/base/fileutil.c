/* _GNU_SOURCE: copy_file_range and fallocate (Linux). */
#define _GNU_SOURCE
#include "engine/base/fileutil.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

ribo_status ribo_open_regular_file(const char *path, int *fd_out, uint64_t *size, ribo_error *err) {
    *fd_out = -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ribo_error_set(err, RIBO_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return ribo_error_set(err, RIBO_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return ribo_error_set(err, RIBO_ERR_IO, "%s: not a regular file", path);
    }
    *fd_out = fd;
    *size = (uint64_t)sb.st_size;
    return RIBO_OK;
}

ribo_status ribo_read_small_file(const char *path, size_t max_bytes, char **buf, size_t *len, ribo_error *err) {
    *buf = NULL;
    if (len) *len = 0;
    int fd;
    uint64_t size;
    RIBO_TRY(ribo_open_regular_file(path, &fd, &size, err));
    if (size > (uint64_t)max_bytes) {
        close(fd);
        return ribo_error_set(err, RIBO_ERR_MODEL, "%s: file is %llu bytes, more than the %zu allowed for it", path,
                              (unsigned long long)size, max_bytes);
    }
    char *b = malloc((size_t)size + 1);
    if (!b) {
        close(fd);
        return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    }
    size_t got = 0;
    while (got < (size_t)size) {
        ssize_t r = read(fd, b + got, (size_t)size - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            int e = r < 0 ? errno : 0;
            close(fd);
            free(b);
            return ribo_error_set(err, RIBO_ERR_IO, "%s: read failed: %s", path, e ? strerror(e) : "unexpected EOF");
        }
        got += (size_t)r;
    }
    close(fd);
    b[got] = '\0';
    *buf = b;
    if (len) *len = got;
    return RIBO_OK;
}

ribo_status ribo_pread_all(int fd, void *buf, size_t n, uint64_t off, const char *path, ribo_error *err) {
    char *p = buf;
    while (n > 0) {
        ssize_t r = pread(fd, p, n, (off_t)off);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0)
            return ribo_error_set(err, RIBO_ERR_IO, "%s: read failed: %s", path, r < 0 ? strerror(errno) : "file too short");
        p += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return RIBO_OK;
}

ribo_status ribo_pwrite_all(int fd, const void *buf, size_t n, uint64_t off, const char *path, ribo_error *err) {
    const char *p = buf;
    while (n > 0) {
        ssize_t w = pwrite(fd, p, n, (off_t)off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0)
            return ribo_error_set(err, RIBO_ERR_IO, "%s: write of %zu bytes at offset %llu failed: %s", path, n,
                                  (unsigned long long)off, w < 0 ? strerror(errno) : "no progress");
        p += w;
        n -= (size_t)w;
        off += (uint64_t)w;
    }
    return RIBO_OK;
}

ribo_status ribo_fsync_dir(const char *dir, ribo_error *err) {
    int fd = open(dir, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ribo_error_set(err, RIBO_ERR_IO, "%s: cannot open directory: %s", dir, strerror(errno));
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    if (rc != 0 && e != EINVAL && e != ENOTSUP)
        return ribo_error_set(err, RIBO_ERR_IO, "%s: cannot flush directory: %s", dir, strerror(e));
    return RIBO_OK;
}

ribo_status ribo_output_reserve(int fd, off_t off, off_t len, const char *path, ribo_error *err) {
    if (len <= 0) return RIBO_OK;
    int rc = posix_fallocate(fd, off, len);
    if (rc == ENOSPC || rc == EFBIG || rc == EDQUOT)
        return ribo_error_set(err, RIBO_ERR_IO, "%s: cannot reserve %lld bytes for the embeddings: %s", path,
                              (long long)len, strerror(rc));
    return RIBO_OK;
}


ribo_status ribo_pwritev_all(int fd, struct iovec *iov, int n, uint64_t off, const char *path, ribo_error *err) {
    while (n > 0) {
        int k = n < IOV_MAX ? n : IOV_MAX;
        size_t want = 0;
        for (int i = 0; i < k; ++i) want += iov[i].iov_len;
        ssize_t w = pwritev(fd, iov, k, (off_t)off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0)
            return ribo_error_set(err, RIBO_ERR_IO, "%s: write of %zu bytes at offset %llu failed: %s", path, want,
                                  (unsigned long long)off, w < 0 ? strerror(errno) : "no progress");
        off += (uint64_t)w;
        size_t done = (size_t)w; /* skip what was written, resume inside a partly written iovec */
        while (n > 0 && done >= iov[0].iov_len) {
            done -= iov[0].iov_len;
            ++iov;
            --n;
        }
        if (n > 0 && done) {
            iov[0].iov_base = (char *)iov[0].iov_base + done;
            iov[0].iov_len -= done;
        }
    }
    return RIBO_OK;
}

/* The read/write loop behind ribo_copy_range (8 MiB at a time). */
static ribo_status copy_by_reading(int in_fd, uint64_t in_off, int out_fd, uint64_t out_off, uint64_t n,
                                   const char *in_path, const char *out_path, ribo_error *err) {
    size_t chunk = (size_t)8 << 20;
    void *buf = malloc(n < chunk ? (size_t)(n ? n : 1) : chunk);
    if (!buf) return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "out of host memory copying %s", in_path);
    ribo_status s = RIBO_OK;
    while (s == RIBO_OK && n > 0) {
        size_t k = n < chunk ? (size_t)n : chunk;
        s = ribo_pread_all(in_fd, buf, k, in_off, in_path, err);
        if (s == RIBO_OK) s = ribo_pwrite_all(out_fd, buf, k, out_off, out_path, err);
        in_off += k;
        out_off += k;
        n -= k;
    }
    free(buf);
    return s;
}

ribo_status ribo_copy_range(int in_fd, uint64_t in_off, int out_fd, uint64_t out_off, uint64_t n, const char *in_path,
                            const char *out_path, ribo_error *err) {
    const char *off = getenv("RIBO_TEST_NO_COPY_FILE_RANGE"); /* test hook: exercise the fallback */
    bool kernel = !(off && off[0] == '1');
    while (kernel && n > 0) {
        loff_t a = (loff_t)in_off, b = (loff_t)out_off;
        size_t want = n > ((uint64_t)1 << 30) ? (size_t)1 << 30 : (size_t)n;
        ssize_t c = copy_file_range(in_fd, &a, out_fd, &b, want, 0);
        if (c < 0 && errno == EINTR) continue;
        if (c < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP)) break;
        if (c < 0)
            return ribo_error_set(err, RIBO_ERR_IO, "%s: copying %llu bytes from %s failed: %s", out_path,
                                  (unsigned long long)n, in_path, strerror(errno));
        if (c == 0) return ribo_error_set(err, RIBO_ERR_IO, "%s: read failed: file too short", in_path);
        in_off += (uint64_t)c;
        out_off += (uint64_t)c;
        n -= (uint64_t)c;
    }
    return n ? copy_by_reading(in_fd, in_off, out_fd, out_off, n, in_path, out_path, err) : RIBO_OK;
}

ribo_status ribo_reserve_range(int fd, uint64_t off, uint64_t len, const char *path, const char *what,
                               ribo_error *err) {
    if (len == 0) return RIBO_OK;
    int rc;
    do rc = fallocate(fd, 0, (off_t)off, (off_t)len);
    while (rc != 0 && errno == EINTR);
    if (rc == 0 || errno == EOPNOTSUPP || errno == ENOSYS) return RIBO_OK; /* cannot reserve: writes will tell */
    return ribo_error_set(err, RIBO_ERR_IO, "%s: cannot reserve %llu bytes at offset %llu for %s: %s", path,
                          (unsigned long long)len, (unsigned long long)off, what, strerror(errno));
}
