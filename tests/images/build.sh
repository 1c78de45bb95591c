#!/usr/bin/env bash
# Build systemd host images (ecsa-host:debianNN) with debootstrap + docker import, only when missing.
# Registries are out of reach, so the images come from Debian's archive.
set -euo pipefail

mirror="${ECSA_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
build_dir="${ECSA_BUILD_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/build}/images"

suite_of() {
  case "$1" in
    debian11) echo bullseye ;;
    debian12) echo bookworm ;;
    debian13) echo trixie ;;
    *) echo "ERROR: unknown image '$1' (known: debian11 debian12 debian13)" >&2; return 1 ;;
  esac
}

[ "$#" -gt 0 ] || set -- debian11 debian12 debian13
for name in "$@"; do
  suite=$(suite_of "$name")
  tag="ecsa-host:$name"
  if docker image inspect "$tag" >/dev/null 2>&1; then
    echo "$tag exists"
    continue
  fi
  command -v debootstrap >/dev/null 2>&1 || { echo "ERROR: debootstrap is missing (apt-get install debootstrap)" >&2; exit 1; }
  root="$build_dir/$name"
  rm -rf "$root"
  mkdir -p "$root"
  echo "Building $tag from $suite (log: $build_dir/$name.log) ..."
  debootstrap --variant=minbase --include=python3,systemd,systemd-sysv,sudo,ca-certificates \
    "$suite" "$root" "$mirror" >"$build_dir/$name.log" 2>&1 \
    || { echo "ERROR: debootstrap $suite failed; see $build_dir/$name.log" >&2; exit 1; }
  # Units that make no sense in a container only slow down boot and fail the system state.
  for unit in systemd-resolved.service systemd-timesyncd.service getty@tty1.service; do
    chroot "$root" systemctl mask "$unit" >/dev/null 2>&1 || true
  done
  echo "$name" > "$root/etc/hostname"
  apt-get clean -o RootDir="$root" >/dev/null 2>&1 || true
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/archives/*.deb
  tar -C "$root" -c . | docker import \
    -c 'CMD ["/lib/systemd/systemd"]' -c 'ENV container=docker' - "$tag" >/dev/null
  rm -rf "$root"
  echo "$tag built"
done
