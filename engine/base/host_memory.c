/* Resident memory of the process from /proc/self/status (Linux; zeros elsewhere). */
#include "engine/base/host_memory.h"

#include <stdio.h>
#include <string.h>

void ribo_host_rss(uint64_t *anon_bytes, uint64_t *file_bytes) {
    *anon_bytes = 0;
    *file_bytes = 0;
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        unsigned long long kb = 0;
        if (sscanf(line, "RssAnon: %llu kB", &kb) == 1) *anon_bytes = (uint64_t)kb * 1024u;
        else if (sscanf(line, "RssFile: %llu kB", &kb) == 1 || sscanf(line, "RssShmem: %llu kB", &kb) == 1)
            *file_bytes += (uint64_t)kb * 1024u;
    }
    fclose(f);
}
