/* The HIP device open's code-object check (backends/cuda/vendor/hip_targets.h): a device is covered exactly
 * when its ISA (gcnArchName before the first ':') is one of the build's targets, target IDs compared
 * by ISA too; no prefix matches (gfx90 is not gfx90a, gfx94 not gfx942). Runs in every build. */
#include "backends/cuda/vendor/hip_targets.h"
#include "test_util.h"

int main(void) {
    const char *debian = "gfx908,gfx90a,gfx940,gfx1030";
    CHECK(ribo_hip_targets_cover(debian, "gfx90a:sramecc+:xnack-"), "gfx90a with features");
    CHECK(ribo_hip_targets_cover(debian, "gfx908"), "gfx908 bare");
    CHECK(ribo_hip_targets_cover(debian, "gfx1030"), "gfx1030 (last entry)");
    CHECK(!ribo_hip_targets_cover(debian, "gfx942:sramecc+:xnack-"), "gfx942 is not gfx940 (MI300X on a gfx940 build)");
    CHECK(!ribo_hip_targets_cover(debian, "gfx90"), "no prefix match");
    CHECK(!ribo_hip_targets_cover(debian, "gfx9080"), "no longer-name match");
    CHECK(!ribo_hip_targets_cover(debian, "gfx1100"), "gfx1100 not built");
    CHECK(!ribo_hip_targets_cover(debian, ""), "an empty name");
    CHECK(!ribo_hip_targets_cover("", "gfx90a"), "an empty target list");
    CHECK(ribo_hip_targets_cover("gfx90a:xnack+,gfx942", "gfx90a:sramecc+:xnack-"), "a target ID entry, by ISA");
    CHECK(ribo_hip_targets_cover("gfx90a:xnack+,gfx942", "gfx942:sramecc+:xnack-"), "after a target ID entry");
    CHECK(ribo_hip_targets_cover("gfx942", "gfx942"), "one entry");
    return ribo_test_finish("test_hip_targets");
}
