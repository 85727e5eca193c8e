#!/usr/bin/env bash
# Installs what licensebus needs from Debian 12 (only what is missing).
# Used by run-local.sh and test.sh; safe to run again.
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  nats-server libnats-dev libuv1-dev libsqlite3-dev libcjson-dev
  libmicrohttpd-dev libxlsxwriter-dev libcmocka-dev
)
if [ "${1:-}" = "--tests" ]; then
  packages+=(nodejs npm openssl)
  # kubectl renders the Kubernetes manifests offline (kubectl kustomize).
  command -v kubectl >/dev/null || packages+=(kubernetes-client)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# npm may come with a Node.js from outside Debian; a working `npm` is enough.
if [ "${1:-}" = "--tests" ] && command -v npm >/dev/null && command -v node >/dev/null; then
  missing=("${missing[@]/nodejs}"); missing=("${missing[@]/npm}")
  read -r -a missing <<<"${missing[*]}"
fi
[ "${#missing[@]}" -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing: ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
