#!/usr/bin/env bash
# Installs what keel builds, tests and benchmarks with, only if missing.
# Idempotent and quiet when everything is already there.
#
#   scripts/install-deps.sh          build + test: Debian packages, Chromium
#                                    and the npm test tools (tests/node)
#   scripts/install-deps.sh bench    also wrk, nginx and redis, the
#                                    references `make bench` measures against
#   scripts/install-deps.sh memcheck also valgrind, for `make memcheck`
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential cmake pkg-config clang libclang-rt-14-dev
  libevent-dev libmsgpack-dev liblmdb-dev lmdb-utils libfyaml-dev
  libcmocka-dev libjansson-dev libyajl-dev libjsmn-dev libcurl4-openssl-dev libssl-dev
  zlib1g-dev
  curl python3 openssl e2fsprogs tzdata
  chromium
)
command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)
if [ "${1:-}" = bench ]; then
  packages+=(wrk nginx-light redis-server redis-tools)
fi
if [ "${1:-}" = memcheck ]; then
  packages+=(valgrind)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' \
    || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "keel: installing missing Debian packages: ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -ne 0 ] && sudo_cmd=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Test tools from npm (playwright-core drives Debian's chromium), pinned by
# tests/node/package-lock.json; reinstalled when the lock file changes.
stamp=tests/node/node_modules/.keel-lock
if ! cmp -s tests/node/package-lock.json "$stamp" 2>/dev/null; then
  echo "keel: installing the npm test tools (tests/node)"
  (cd tests/node && npm ci --no-audit --no-fund --loglevel=error)
  cp tests/node/package-lock.json "$stamp"
fi
