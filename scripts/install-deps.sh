#!/usr/bin/env bash
# Installs the Debian 12 packages keel builds and tests with, only if missing.
# Idempotent and quiet when everything is already there.
set -euo pipefail

packages=(
  build-essential cmake pkg-config clang
  libevent-dev libmsgpack-dev liblmdb-dev lmdb-utils libfyaml-dev
  libcmocka-dev libjansson-dev libyajl-dev libjsmn-dev libcurl4-openssl-dev libssl-dev
  zlib1g-dev
  curl python3 openssl e2fsprogs
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' \
    || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "keel: installing missing Debian packages: ${missing[*]}"
sudo_cmd=()
[ "$(id -u)" -ne 0 ] && sudo_cmd=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
