#!/usr/bin/env bash
# Leak check of the session API: tests/session_leak_driver opens a session on a fixture model, embeds
# one sequence and closes it, 3 times, under valgrind; any block ribo leaks (PoCL's and LLVM's own
# are suppressed: tests/valgrind_pocl.supp) fails. Usage: check_session_leaks.sh DRIVER FIXTURE_DIR.
# Skips (exit 77) without valgrind, or when RIBO_TEST_BACKEND names a GPU backend (valgrind and GPU
# drivers do not mix).
set -euo pipefail
driver=$1
fixtures=$2
if [ -n "${RIBO_LEAK_CHECK_SKIP:-}" ]; then
  echo "check_session_leaks: SKIPPED: $RIBO_LEAK_CHECK_SKIP"
  exit 77
fi
if ! command -v valgrind >/dev/null; then
  echo "check_session_leaks: SKIPPED: valgrind is not installed"
  exit 77
fi
case "${RIBO_TEST_BACKEND:-opencl}" in
  opencl | auto) ;;
  *)
    echo "check_session_leaks: SKIPPED: RIBO_TEST_BACKEND=${RIBO_TEST_BACKEND} (valgrind runs on the CPU backend only)"
    exit 77
    ;;
esac
RIBO_WARMUP=0 RIBO_TEST_BACKEND=opencl valgrind -q --leak-check=full --errors-for-leak-kinds=definite \
  --error-exitcode=9 --suppressions="$fixtures/../valgrind_pocl.supp" "$driver" "$fixtures/esm2_a" 3
echo "check_session_leaks: no block leaked over 3 open/embed/close cycles"
