#!/usr/bin/env bash
# keeld-valgrind.sh — keeld under valgrind memcheck, for `make memcheck`.
# The memcheck tests (ctest -C memcheck -L memcheck) point $KEELD at a copy
# of this script in BUILD/bin (so the scripts that find plugins and keelctl
# next to $KEELD still do), and it execs valgrind on the real keeld: same
# PID, same arguments, same exit status, except 99 when valgrind found an
# error (an invalid access, an uninitialised read, a definite leak), so a
# test that expects "SIGTERM -> exit 0" fails on a memory error.
#
# Environment: REAL_KEELD (default: keeld next to this script),
# KEEL_VALGRIND_SUPP (default: tests/tools/valgrind.supp of KEEL_SOURCE_DIR),
# KEEL_MEMCHECK_LOG_DIR (default: BUILD/memcheck; one keeld.<pid>.log per
# run, so valgrind's report never lands in the logs the tests grep),
# KEEL_VALGRIND_ARGS (extra valgrind options).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
real=${REAL_KEELD:-$here/keeld}
src=${KEEL_SOURCE_DIR:-$(cd "$here/../.." && pwd)}
supp=${KEEL_VALGRIND_SUPP:-$src/tests/tools/valgrind.supp}
logs=${KEEL_MEMCHECK_LOG_DIR:-$(cd "$here/.." && pwd)/memcheck}
mkdir -p "$logs"
# shellcheck disable=SC2086  # KEEL_VALGRIND_ARGS is a list of options
exec valgrind --tool=memcheck --error-exitcode=99 --leak-check=full \
  --errors-for-leak-kinds=definite --show-leak-kinds=definite --track-fds=no \
  --num-callers=30 --child-silent-after-fork=yes --suppressions="$supp" \
  --log-file="$logs/keeld.%p.log" ${KEEL_VALGRIND_ARGS:-} "$real" "$@"
