#include "fileutil.h"

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
