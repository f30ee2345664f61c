#include "engine/base/fileutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
        if (w <= 0) return ribo_error_set(err, RIBO_ERR_IO, "%s: write failed: %s", path, w < 0 ? strerror(errno) : "no progress");
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

