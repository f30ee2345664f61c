/* The process's resident memory split into anonymous pages (its own allocations) and file pages
 * (mapped files such as a checkpoint, which the page cache holds anyway). */
#ifndef RIBO_ENGINE_BASE_HOST_MEMORY_H
#define RIBO_ENGINE_BASE_HOST_MEMORY_H

#include <stdint.h>

/* Current RssAnon and RssFile (+ RssShmem into file) from /proc/self/status; 0 where unknown. */
void ribo_host_rss(uint64_t *anon_bytes, uint64_t *file_bytes);

#endif
