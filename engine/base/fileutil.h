/* File helpers shared by the readers and writers: small whole-file reads (config.json,
 * model.safetensors.index.json), exact pread/pwrite, directory fsync, disk reservation. */
#ifndef RIBO_ENGINE_FILEUTIL_H
#define RIBO_ENGINE_FILEUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "engine/base/error.h"

/* Opens path read-only and checks it is a regular file; *fd and *size on success. Errors name the
 * path: cannot open / stat (RIBO_ERR_IO), not a regular file (RIBO_ERR_IO). */
ribo_status ribo_open_regular_file(const char *path, int *fd, uint64_t *size, ribo_error *err);

/* Reads a regular file of at most max_bytes whole into a malloc'd, NUL-terminated buffer (*len
 * excludes the NUL). Errors name the path: cannot open / stat / read (RIBO_ERR_IO), not a regular
 * file (RIBO_ERR_IO), larger than max_bytes (RIBO_ERR_MODEL), out of memory. */
ribo_status ribo_read_small_file(const char *path, size_t max_bytes, char **buf, size_t *len, ribo_error *err);

/* pread/pwrite of exactly n bytes (retrying short transfers); errors name path. */
ribo_status ribo_pread_all(int fd, void *buf, size_t n, uint64_t off, const char *path, ribo_error *err);
ribo_status ribo_pwrite_all(int fd, const void *buf, size_t n, uint64_t off, const char *path, ribo_error *err);
/* pwritev of every byte of iov[0..n) at off (IOV_MAX at a time, short writes resumed; iov is
 * modified); errors name path, the bytes and the offset. */
ribo_status ribo_pwritev_all(int fd, struct iovec *iov, int n, uint64_t off, const char *path, ribo_error *err);
/* Copies n bytes of in_fd at in_off to out_fd at out_off in the kernel (copy_file_range: no trip
 * through user memory, a reflink where the filesystem shares extents); falls back to a read/write
 * loop where the kernel cannot (EXDEV, ENOSYS, EINVAL, EOPNOTSUPP) or RIBO_TEST_NO_COPY_FILE_RANGE=1. */
ribo_status ribo_copy_range(int in_fd, uint64_t in_off, int out_fd, uint64_t out_off, uint64_t n, const char *in_path,
                            const char *out_path, ribo_error *err);
/* Allocates the blocks of [off, off+len) (fallocate, never emulated by writing, so it is safe while
 * other threads write other ranges of the file); a filesystem that cannot is fine. A full disk or a
 * file size limit: RIBO_ERR_IO "<path>: cannot reserve N bytes at offset X for <what>: <reason>". */
ribo_status ribo_reserve_range(int fd, uint64_t off, uint64_t len, const char *path, const char *what,
                               ribo_error *err);
/* fsync of a directory (renames inside it made durable). */
ribo_status ribo_fsync_dir(const char *dir, ribo_error *err);

/* Reserves disk blocks for [off, off+len) of fd so that a full disk is reported before any work is done
 * (and row writes cannot fail for lack of space later): RIBO_ERR_IO naming path when the disk is full;
 * filesystems that cannot reserve are fine. */
ribo_status ribo_output_reserve(int fd, off_t off, off_t len, const char *path, ribo_error *err);

#endif
