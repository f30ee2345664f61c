/* Whether a HIP build's code objects cover a device: the build's target list (CMAKE_HIP_ARCHITECTURES
 * comma-separated, entries ISAs or target IDs such as gfx90a:xnack+) against the device's
 * gcnArchName ("gfx90a:sramecc+:xnack-"), compared by ISA, the part before the first ':'. Plain C;
 * used by cuda_device.cu's device open (HIP), tested by tests/test_hip_targets.c. */
#ifndef RIBO_HIP_TARGETS_H
#define RIBO_HIP_TARGETS_H

#include <stdbool.h>
#include <string.h>

static inline bool ribo_hip_targets_cover(const char *targets, const char *arch_name) {
    const size_t isa_len = strcspn(arch_name, ":");
    if (isa_len == 0) return false;
    for (const char *t = targets; *t;) {
        const size_t len = strcspn(t, ","), base = strcspn(t, ":,");
        if (base == isa_len && !strncmp(t, arch_name, isa_len)) return true;
        t += len + (t[len] == ',');
    }
    return false;
}

#endif
