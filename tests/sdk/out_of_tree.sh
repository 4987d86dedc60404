#!/usr/bin/env bash
# sdk.out_of_tree — a third party's first hour with the installed SDK:
#   a. install this build tree into a fresh prefix;
#   b. build the installed template plugin with CMake + find_package(Keel)
#      and run its ctest;
#   c. build it again with its Makefile + pkg-config and run its test;
#   d. load the built tagger.so by path in the INSTALLED keeld:
#      --check-config, then start, wait for "keel started", SIGTERM, exit 0.
#
# Usage: out_of_tree.sh BUILD_DIR [SANITIZE]
#   BUILD_DIR  a built keel CMake build tree
#   SANITIZE   the build's KEEL_SANITIZE (ON/1/TRUE...): the template is then
#              compiled with the same sanitizers so it can link the harness.
# Environment: CMAKE, CTEST, CC (default: from PATH), KEEL_KEEP_TMP=1 keeps
# the temporary directory for inspection.
set -euo pipefail

if [[ $# -lt 1 ]]; then
    echo "usage: $0 BUILD_DIR [SANITIZE]" >&2
    exit 2
fi
build_dir=$(cd "$1" && pwd)
sanitize=${2:-OFF}
CMAKE=${CMAKE:-cmake}
CTEST=${CTEST:-ctest}
export CC=${CC:-cc}
jobs=$(nproc 2>/dev/null || echo 2)
deadline_s=30
test_timeout_s=120

san_flags=""
case "${sanitize^^}" in
ON | 1 | TRUE | YES | Y)
    san_flags="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"
    ;;
esac

work=$(mktemp -d "${TMPDIR:-/tmp}/keel-sdk-oot.XXXXXX")
prefix=$work/prefix
keeld_pid=""

cleanup() {
    if [[ -n $keeld_pid ]] && kill -0 "$keeld_pid" 2>/dev/null; then
        kill -KILL "$keeld_pid" 2>/dev/null || true
        wait "$keeld_pid" 2>/dev/null || true
    fi
    if [[ ${KEEL_KEEP_TMP:-0} == 1 ]]; then
        echo "kept $work"
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT

step() { printf '\n==> %s\n' "$*"; }
fail() {
    printf '\nsdk.out_of_tree FAILED: %s\n' "$*" >&2
    exit 1
}
# run LOG CMD...: runs CMD with its output in LOG; on failure shows the end
# of LOG and fails naming the command.
run() {
    local log=$1
    shift
    echo "\$ $*"
    if ! "$@" >"$log" 2>&1; then
        tail -n 60 "$log" >&2
        fail "command failed: $* (full log above, last 60 lines)"
    fi
}

echo "keel build tree: $build_dir"
echo "scratch dir:     $work"
echo "sanitizers:      ${san_flags:-none}"

# --- a. install ---------------------------------------------------------------
step "a. install the build tree into a fresh prefix: $prefix"
[[ -f $build_dir/cmake_install.cmake ]] || fail "$build_dir is not a configured CMake build tree"
run "$work/install.log" "$CMAKE" --install "$build_dir" --prefix "$prefix"

# GNUInstallDirs decides the libdir (lib, lib64, lib/<multiarch>): find what
# was really installed instead of guessing.
keel_config=$(find "$prefix" -name KeelConfig.cmake -print -quit)
keel_pc=$(find "$prefix" -name keel.pc -print -quit)
[[ -n $keel_config ]] || fail "no KeelConfig.cmake installed under $prefix"
[[ -n $keel_pc ]] || fail "no keel.pc installed under $prefix"
pc_dir=$(dirname "$keel_pc")
[[ -f $pc_dir/keel-harness.pc ]] || fail "keel-harness.pc is not installed beside $keel_pc"
[[ -f $(dirname "$keel_config")/KeelConfigVersion.cmake ]] || fail "KeelConfigVersion.cmake missing"
template_dir=$(find "$prefix" -type d -path '*/keel/template' -print -quit)
[[ -n $template_dir && -f $template_dir/CMakeLists.txt ]] ||
    fail "the template project is not installed under $prefix/<datadir>/keel/template"
keeld=$prefix/bin/keeld
[[ -x $keeld ]] || fail "$keeld is not installed"
harness_lib=$(find "$prefix" -name 'libkeel-harness.so.*' -type f -print -quit)
[[ -n $harness_lib ]] || fail "libkeel-harness.so.<version> is not installed"
echo "KeelConfig.cmake: $keel_config"
echo "pkg-config dir:   $pc_dir"
echo "template:         $template_dir"
echo "harness library:  $harness_lib"

# The harness's ABI is harness.h: kernel internals (no keel_ prefix) must
# not leak into its dynamic symbol table.
if command -v nm >/dev/null; then
    leaked=$(nm -D --defined-only "$harness_lib" | awk '{print $NF}' | grep -v -E '^(keel_|_)' || true)
    [[ -z $leaked ]] || fail "libkeel-harness exports non-API symbols: $(echo "$leaked" | head -n 10 | tr '\n' ' ')"
fi

# --- b. CMake + find_package ----------------------------------------------------
step "b. build the installed template with CMake and find_package(Keel)"
cp -R "$template_dir" "$work/cmake-src"
cmake_args=(-S "$work/cmake-src" -B "$work/cmake-build" -DCMAKE_PREFIX_PATH="$prefix"
    -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER="$CC")
if [[ -n $san_flags ]]; then
    # CMake passes CMAKE_C_FLAGS to the link lines too.
    cmake_args+=(-DCMAKE_C_FLAGS="$san_flags")
fi
run "$work/cmake-configure.log" "$CMAKE" "${cmake_args[@]}"
found_dir=$(sed -n 's/^Keel_DIR:[A-Z]*=//p' "$work/cmake-build/CMakeCache.txt")
[[ $found_dir == "$prefix"/* ]] ||
    fail "find_package(Keel) found '$found_dir', not the fresh install under $prefix"
echo "find_package(Keel) found $found_dir"
run "$work/cmake-build.log" "$CMAKE" --build "$work/cmake-build" -j "$jobs"
tagger_so=$work/cmake-build/tagger.so
[[ -f $tagger_so ]] || fail "the CMake build made no $tagger_so"
echo "\$ $CTEST --test-dir $work/cmake-build --output-on-failure"
"$CTEST" --test-dir "$work/cmake-build" --output-on-failure ||
    fail "the template's ctest failed (CMake build)"

# --- c. Makefile + pkg-config -----------------------------------------------------
step "c. build the installed template with its Makefile and pkg-config"
cp -R "$template_dir" "$work/make-src"
echo "PKG_CONFIG_PATH=$pc_dir"
cflags=$(PKG_CONFIG_PATH=$pc_dir pkg-config --cflags keel-harness) ||
    fail "pkg-config --cflags keel-harness failed with PKG_CONFIG_PATH=$pc_dir"
[[ $cflags == *"$prefix/"* ]] || fail "pkg-config --cflags keel gives '$cflags', not the fresh install"
echo "pkg-config --cflags keel-harness: $cflags"
echo "pkg-config --libs keel-harness:   $(PKG_CONFIG_PATH=$pc_dir pkg-config --libs keel-harness)"
run "$work/make.log" make -C "$work/make-src" PKG_CONFIG_PATH="$pc_dir" CC="$CC" \
    CFLAGS="-O1 -g $san_flags" LDFLAGS="$san_flags" tagger.so test_tagger
echo "\$ $work/make-src/test_tagger $work/make-src/tagger.so"
status=0
timeout "$test_timeout_s" "$work/make-src/test_tagger" "$work/make-src/tagger.so" || status=$?
if [[ $status == 124 ]]; then
    fail "the template's test hung for ${test_timeout_s}s (Makefile build)"
elif [[ $status != 0 ]]; then
    fail "the template's test failed with status $status (Makefile build)"
fi

# --- d. the installed keeld loads the plugin by path ----------------------------------
step "d. run the installed keeld with tagger.so loaded by path"
export KEEL_DATA_DIR=$work/data
config=$work/keel.yaml
cat >"$config" <<EOF
kernel:
  data_dir: $KEEL_DATA_DIR
  log_level: info
plugins:
  - name: tagger
    module: $tagger_so
    config:
      input: in
      output: out
EOF
cat "$config"
run "$work/check-config.log" timeout "$deadline_s" "$keeld" --check-config "$config"
echo "--check-config: exit 0"

log=$work/keeld.log
echo "\$ $keeld -c $config 2>$log &"
"$keeld" -c "$config" >"$log" 2>&1 &
keeld_pid=$!
started=0
for ((i = 0; i < deadline_s * 10; i++)); do
    if grep -q "keel started" "$log"; then
        started=1
        break
    fi
    if ! kill -0 "$keeld_pid" 2>/dev/null; then
        status=0
        wait "$keeld_pid" || status=$?
        keeld_pid=""
        cat "$log" >&2
        fail "keeld exited with status $status before logging 'keel started' (log above)"
    fi
    sleep 0.1
done
if [[ $started != 1 ]]; then
    cat "$log" >&2
    fail "keeld did not log 'keel started' within ${deadline_s}s (log above)"
fi
echo "keeld (pid $keeld_pid) started"
grep -q "tagging messages from in to out" "$log" || {
    cat "$log" >&2
    fail "keeld started but the tagger instance did not log its init line (log above)"
}

echo "\$ kill -TERM $keeld_pid"
kill -TERM "$keeld_pid"
for ((i = 0; i < deadline_s * 10; i++)); do
    kill -0 "$keeld_pid" 2>/dev/null || break
    sleep 0.1
done
if kill -0 "$keeld_pid" 2>/dev/null; then
    cat "$log" >&2
    fail "keeld still running ${deadline_s}s after SIGTERM (log above)"
fi
status=0
wait "$keeld_pid" || status=$?
keeld_pid=""
if [[ $status != 0 ]]; then
    cat "$log" >&2
    fail "keeld exited with status $status after SIGTERM, expected 0 (log above)"
fi
echo "keeld exited 0 after SIGTERM"

step "sdk.out_of_tree: all steps passed"
