#!/usr/bin/env bash
# Make sure a Docker engine answers. CI machines start with none running: on Debian, as root,
# install Debian's docker.io when dockerd is missing and start the daemon in the background.
set -euo pipefail

log_dir="${ECSA_BUILD_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/build}"
mkdir -p "$log_dir"

if docker info >/dev/null 2>&1; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ] || [ ! -f /etc/debian_version ]; then
  echo "ERROR: no Docker engine answers 'docker info'. Start one (or run as root on Debian so that" >&2
  echo "       this script can install Debian's docker.io and start dockerd itself)." >&2
  exit 1
fi

need_install=()
command -v dockerd >/dev/null 2>&1 || need_install+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || need_install+=(debootstrap)
if [ "${#need_install[@]}" -gt 0 ]; then
  echo "Installing ${need_install[*]} from Debian ..."
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_install[@]}" >"$log_dir/apt-docker.log" 2>&1 \
    || { echo "ERROR: apt-get install ${need_install[*]} failed; see $log_dir/apt-docker.log" >&2; exit 1; }
fi

echo "Starting dockerd (log: $log_dir/dockerd.log) ..."
nohup dockerd >"$log_dir/dockerd.log" 2>&1 &
for _ in $(seq 1 60); do
  if docker info >/dev/null 2>&1; then
    exit 0
  fi
  sleep 1
done
echo "ERROR: dockerd did not answer within 60 s; see $log_dir/dockerd.log" >&2
exit 1
