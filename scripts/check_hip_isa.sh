#!/usr/bin/env bash
# Checks the HIP backend's code objects instruction by instruction, so a guard mistake cannot
# silently drop the AMD fast path: for every target of the build (CMAKE_HIP_ARCHITECTURES),
#   CDNA (gfx908, gfx90a, gfx94x, gfx950): every instance of the attention kernel (attention_mfma_kernel)
#     contains v_mfma instructions, and none is the trap stub;
#   other targets (RDNA, no MFMA): the attention kernel is the trap stub (the host never selects it);
#   every target: the GEMM epilogue kernel (bias_act_kernel, run after rocBLAS; element-wise, so no
#     MFMA is expected in it: the GEMM's MFMA work is inside rocBLAS) and the SIMT attention
#     (attention_kernel) are real code, not stubs.
# Usage: scripts/check_hip_isa.sh BUILD_DIR [ARCH...]  (archs default to the build's CMakeCache)
set -euo pipefail
build=${1:?usage: check_hip_isa.sh BUILD_DIR [ARCH...]}
shift
obj_dir=$build/CMakeFiles/ribo_core.dir/backends
archs=("$@")
if [ ${#archs[@]} -eq 0 ]; then
    line=$(grep '^CMAKE_HIP_ARCHITECTURES:' "$build/CMakeCache.txt" || true)
    IFS=';' read -r -a archs <<<"${line#*=}"
fi
[ ${#archs[@]} -gt 0 ] || { echo "check_hip_isa: no HIP targets in $build/CMakeCache.txt" >&2; exit 1; }

# the LLVM tools of the build's own HIP compiler (they know its targets), else the newest on PATH
compiler=$(sed -n 's/^set(CMAKE_HIP_COMPILER "\(.*\)")$/\1/p' "$build"/CMakeFiles/*/CMakeHIPCompiler.cmake 2>/dev/null | head -1)
compiler_dir=
[ -n "$compiler" ] && [ -e "$compiler" ] && compiler_dir=$(dirname "$(readlink -f "$compiler")")
tool() {
    [ -n "$compiler_dir" ] && [ -x "$compiler_dir/$1" ] && { echo "$compiler_dir/$1"; return; }
    [ -x "/opt/rocm/llvm/bin/$1" ] && { echo "/opt/rocm/llvm/bin/$1"; return; }
    for v in 19 18 17 16 15; do command -v "$1-$v" >/dev/null && { echo "$1-$v"; return; }; done
    command -v "$1" >/dev/null && { echo "$1"; return; }
    echo "check_hip_isa: $1 not found (Debian: llvm-15, clang-tools-15)" >&2
    exit 1
}
objcopy=$(tool llvm-objcopy)
bundler=$(tool clang-offload-bundler)
objdump=$(tool llvm-objdump)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# disassemble OBJECT ARCH: the target's code object of a host object file, as text
disassemble() {
    local obj=$1 arch=$2 base
    base=$tmp/$(basename "$obj").$arch
    "$objcopy" --dump-section=.hip_fatbin="$base.fatbin" "$obj" "$base.host" 2>/dev/null ||
        { echo "check_hip_isa: $obj has no .hip_fatbin section" >&2; return 1; }
    "$bundler" --unbundle --type=o --input="$base.fatbin" --targets="hipv4-amdgcn-amd-amdhsa--$arch" \
        --output="$base.co" ||
        { echo "check_hip_isa: $obj has no code object for $arch" >&2; return 1; }
    "$objdump" -d --mcpu="$arch" "$base.co" >"$base.s"
    echo "$base.s"
}

# per_kernel LISTING PATTERN: "symbol mfma_count trap_count instruction_count" for each matching kernel
per_kernel() {
    awk -v pat="$2" '
        /^[0-9a-f]+ <.*>:$/ { name = $2; if (name ~ pat) { seen[name] = 1; order[++n] = name } next }
        name ~ pat && /^[ \t]+[a-z_]/ { ins[name]++; if (/v_mfma_/) mfma[name]++; if (/s_trap/) trap[name]++ }
        END { for (i = 1; i <= n; i++) { s = order[i]; printf "%s %d %d %d\n", s, mfma[s], trap[s], ins[s] } }' "$1"
}

status=0
fail() { echo "check_hip_isa: FAIL: $*" >&2; status=1; }
for arch in "${archs[@]}"; do
    case $arch in gfx908* | gfx90a* | gfx94* | gfx950*) cdna=1 ;; *) cdna=0 ;; esac
    attn=$(disassemble "$obj_dir/hip/hip_attention_mfma.cu.o" "$arch")
    gemm=$(disassemble "$obj_dir/hip/hip_gemm.cu.o" "$arch")
    simt=$(disassemble "$obj_dir/cuda/cuda_attention.cu.o" "$arch")
    n=0 with_mfma=0 stubs=0 total_mfma=0
    while read -r sym m t i; do
        n=$((n + 1)); total_mfma=$((total_mfma + m))
        [ "$m" -gt 0 ] && with_mfma=$((with_mfma + 1))
        [ "$m" -eq 0 ] && [ "$t" -gt 0 ] && stubs=$((stubs + 1))
        if [ $cdna = 1 ] && [ "$m" -eq 0 ]; then fail "$arch: $sym has no v_mfma instruction"; fi
        if [ $cdna = 0 ] && [ "$m" -gt 0 ]; then fail "$arch: $sym has v_mfma on a target without MFMA"; fi
    done < <(per_kernel "$attn" attention_mfma_kernel)
    [ "$n" -gt 0 ] || fail "$arch: no attention_mfma_kernel in the code object"
    kinds=$( (grep -o 'v_mfma_[a-z0-9_]*' "$attn" || true) | sort | uniq -c | awk '{printf "%s %s, ", $1, $2}')
    if [ $cdna = 1 ]; then
        echo "check_hip_isa: $arch: attention_mfma_kernel: $with_mfma/$n instances with MFMA ($total_mfma: ${kinds%, })"
    else
        [ "$stubs" -eq "$n" ] || fail "$arch: $((n - stubs)) attention_mfma_kernel instances are not the trap stub"
        echo "check_hip_isa: $arch: no MFMA on this target; attention_mfma_kernel: $stubs/$n trap stubs (never selected)"
    fi
    for spec in "$gemm bias_act_kernel" "$simt attention_kernel"; do
        set -- $spec
        k=0 real=0
        while read -r sym m t i; do
            k=$((k + 1))
            [ "$t" -eq 0 ] && [ "$i" -gt 20 ] && real=$((real + 1))
        done < <(per_kernel "$1" "$2")
        [ "$k" -gt 0 ] && [ "$real" -eq "$k" ] || fail "$arch: $2: $real of $k instances are real code"
        echo "check_hip_isa: $arch: $2: $real/$k instances compiled (not stubs)"
    done
done
[ $status = 0 ] && echo "check_hip_isa: OK (${archs[*]})"
exit $status
