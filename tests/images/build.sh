#!/usr/bin/env bash
# Build systemd host images (ecsa-host:<name>) with debootstrap + docker import, only when missing.
# Registries are out of reach, so every image comes from Debian's archive:
#   - debian11/12/13: plain Debian roots (label fleet.ecs_anywhere.synthetic=false).
#   - every other name is a *synthetic* host (docs: synthetic-hosts.md): a Debian systemd root that claims
#     another distro (os-release, release files) and carries Debian's builds of the real package manager.
#     RPM/SUSE hosts get rpm + dnf 4 or zypper, an rpm database at the distro's path and one marker RPM
#     (ecsa-synthetic-host, installed through dnf/zypper) that declares what the dpkg userland provides.
#     Labels: fleet.ecs_anywhere.synthetic=true, fleet.ecs_anywhere.claims=<PRETTY_NAME>.
#     What they cannot prove: real distro repos and package names, dnf5, the distros' Pythons, SELinux.
# Usage: build.sh [NAME...]   (no NAME: the three Debian images)
#        build.sh --list      (every known NAME, one per line)
# Adding a distro = adding one [name] entry to HOSTS below. Synthetic images are derived from cached
# tarballs under build/images/ (base-<suite>.tar: one debootstrap per suite; base-<suite>-<pm>.tar: plus the
# package manager); they are rebuilt when their package lists change (delete them to refresh).
# An image is rebuilt when what it is made from changed: its entry in HOSTS and the package lists it uses, hashed
# into its label fleet.ecs_anywhere.inputs (changes to this script's code need a `docker rmi` of the images).
# Needs root, debootstrap (apt-get install debootstrap) and a Docker engine; rpm tools come from the chroot.
set -euo pipefail

# ---------------------------------------------------------------- data: one entry per image
# Keys: suite (Debian suite of the root), pm (apt|dnf|zypper), dbpath (rpm database), releasever (dnf's
# system-release(releasever)), provides (extra versioned Provides of the marker RPM, comma-separated),
# divert (Debian files moved away with dpkg-divert), link=PATH TARGET (symlink, repeatable),
# ">PATH text" (a line of a file written into the root; Debian-owned files are dpkg-diverted first).
# An entry without os-release lines is a plain Debian image.
HOSTS=$(cat <<'EOF'
[debian11]
suite=bullseye
pm=apt
[debian12]
suite=bookworm
pm=apt
[debian13]
suite=trixie
pm=apt

[ubuntu2204]
suite=bookworm
pm=apt
>/usr/lib/os-release PRETTY_NAME="Ubuntu 22.04.5 LTS"
>/usr/lib/os-release NAME="Ubuntu"
>/usr/lib/os-release VERSION_ID="22.04"
>/usr/lib/os-release VERSION="22.04.5 LTS (Jammy Jellyfish)"
>/usr/lib/os-release VERSION_CODENAME=jammy
>/usr/lib/os-release ID=ubuntu
>/usr/lib/os-release ID_LIKE=debian
>/usr/lib/os-release HOME_URL="https://www.ubuntu.com/"
>/usr/lib/os-release SUPPORT_URL="https://help.ubuntu.com/"
>/usr/lib/os-release BUG_REPORT_URL="https://bugs.launchpad.net/ubuntu/"
>/usr/lib/os-release PRIVACY_POLICY_URL="https://www.ubuntu.com/legal/terms-and-policies/privacy-policy"
>/usr/lib/os-release UBUNTU_CODENAME=jammy
>/etc/lsb-release DISTRIB_ID=Ubuntu
>/etc/lsb-release DISTRIB_RELEASE=22.04
>/etc/lsb-release DISTRIB_CODENAME=jammy
>/etc/lsb-release DISTRIB_DESCRIPTION="Ubuntu 22.04.5 LTS"
>/etc/debian_version bookworm/sid

[ubuntu2404]
suite=bookworm
pm=apt
>/usr/lib/os-release PRETTY_NAME="Ubuntu 24.04.3 LTS"
>/usr/lib/os-release NAME="Ubuntu"
>/usr/lib/os-release VERSION_ID="24.04"
>/usr/lib/os-release VERSION="24.04.3 LTS (Noble Numbat)"
>/usr/lib/os-release VERSION_CODENAME=noble
>/usr/lib/os-release ID=ubuntu
>/usr/lib/os-release ID_LIKE=debian
>/usr/lib/os-release HOME_URL="https://www.ubuntu.com/"
>/usr/lib/os-release SUPPORT_URL="https://help.ubuntu.com/"
>/usr/lib/os-release BUG_REPORT_URL="https://bugs.launchpad.net/ubuntu/"
>/usr/lib/os-release PRIVACY_POLICY_URL="https://www.ubuntu.com/legal/terms-and-policies/privacy-policy"
>/usr/lib/os-release UBUNTU_CODENAME=noble
>/usr/lib/os-release LOGO=ubuntu-logo
>/etc/lsb-release DISTRIB_ID=Ubuntu
>/etc/lsb-release DISTRIB_RELEASE=24.04
>/etc/lsb-release DISTRIB_CODENAME=noble
>/etc/lsb-release DISTRIB_DESCRIPTION="Ubuntu 24.04.3 LTS"
>/etc/debian_version trixie/sid

[rocky9]
suite=bookworm
pm=dnf
dbpath=/var/lib/rpm
releasever=9
provides=rocky-release = 9.5, redhat-release = 9.5, system-release = 9.5
divert=/etc/debian_version
>/usr/lib/os-release NAME="Rocky Linux"
>/usr/lib/os-release VERSION="9.5 (Blue Onyx)"
>/usr/lib/os-release ID="rocky"
>/usr/lib/os-release ID_LIKE="rhel centos fedora"
>/usr/lib/os-release VERSION_ID="9.5"
>/usr/lib/os-release PLATFORM_ID="platform:el9"
>/usr/lib/os-release PRETTY_NAME="Rocky Linux 9.5 (Blue Onyx)"
>/usr/lib/os-release ANSI_COLOR="0;32"
>/usr/lib/os-release LOGO="fedora-logo-icon"
>/usr/lib/os-release CPE_NAME="cpe:/o:rocky:rocky:9::baseos"
>/usr/lib/os-release HOME_URL="https://rockylinux.org/"
>/usr/lib/os-release BUG_REPORT_URL="https://bugs.rockylinux.org/"
>/usr/lib/os-release SUPPORT_END="2032-05-31"
>/usr/lib/os-release ROCKY_SUPPORT_PRODUCT="Rocky-Linux-9"
>/usr/lib/os-release ROCKY_SUPPORT_PRODUCT_VERSION="9.5"
>/usr/lib/os-release REDHAT_SUPPORT_PRODUCT="Rocky Linux"
>/usr/lib/os-release REDHAT_SUPPORT_PRODUCT_VERSION="9.5"
>/etc/rocky-release Rocky Linux release 9.5 (Blue Onyx)
>/etc/system-release-cpe cpe:/o:rocky:rocky:9::baseos
link=/etc/redhat-release rocky-release
link=/etc/system-release rocky-release

[alma9]
suite=bookworm
pm=dnf
dbpath=/var/lib/rpm
releasever=9
provides=almalinux-release = 9.5, redhat-release = 9.5, system-release = 9.5
divert=/etc/debian_version
>/usr/lib/os-release NAME="AlmaLinux"
>/usr/lib/os-release VERSION="9.5 (Teal Serval)"
>/usr/lib/os-release ID="almalinux"
>/usr/lib/os-release ID_LIKE="rhel centos fedora"
>/usr/lib/os-release VERSION_ID="9.5"
>/usr/lib/os-release PLATFORM_ID="platform:el9"
>/usr/lib/os-release PRETTY_NAME="AlmaLinux 9.5 (Teal Serval)"
>/usr/lib/os-release ANSI_COLOR="0;34"
>/usr/lib/os-release LOGO="fedora-logo-icon"
>/usr/lib/os-release CPE_NAME="cpe:/o:almalinux:almalinux:9::baseos"
>/usr/lib/os-release HOME_URL="https://almalinux.org/"
>/usr/lib/os-release BUG_REPORT_URL="https://bugs.almalinux.org/"
>/usr/lib/os-release REDHAT_SUPPORT_PRODUCT="AlmaLinux"
>/usr/lib/os-release REDHAT_SUPPORT_PRODUCT_VERSION="9.5"
>/usr/lib/os-release SUPPORT_END=2032-06-01
>/etc/almalinux-release AlmaLinux release 9.5 (Teal Serval)
>/etc/system-release-cpe cpe:/o:almalinux:almalinux:9::baseos
link=/etc/redhat-release almalinux-release
link=/etc/system-release almalinux-release

[centos-stream9]
suite=bookworm
pm=dnf
dbpath=/var/lib/rpm
releasever=9
provides=centos-stream-release = 9.0, redhat-release = 9.0, system-release = 9.0
divert=/etc/debian_version
>/usr/lib/os-release NAME="CentOS Stream"
>/usr/lib/os-release VERSION="9"
>/usr/lib/os-release ID="centos"
>/usr/lib/os-release ID_LIKE="rhel fedora"
>/usr/lib/os-release VERSION_ID="9"
>/usr/lib/os-release PLATFORM_ID="platform:el9"
>/usr/lib/os-release PRETTY_NAME="CentOS Stream 9"
>/usr/lib/os-release ANSI_COLOR="0;31"
>/usr/lib/os-release LOGO="fedora-logo-icon"
>/usr/lib/os-release CPE_NAME="cpe:/o:centos:centos:9"
>/usr/lib/os-release HOME_URL="https://centos.org/"
>/usr/lib/os-release BUG_REPORT_URL="https://issues.redhat.com/"
>/usr/lib/os-release REDHAT_SUPPORT_PRODUCT="Red Hat Enterprise Linux 9"
>/usr/lib/os-release REDHAT_SUPPORT_PRODUCT_VERSION="CentOS Stream"
>/etc/centos-release CentOS Stream release 9
>/etc/system-release-cpe cpe:/o:centos:centos:9
link=/etc/redhat-release centos-release
link=/etc/system-release centos-release

[rhel9]
suite=bookworm
pm=dnf
dbpath=/var/lib/rpm
releasever=9
provides=redhat-release = 9.5, system-release = 9.5
divert=/etc/debian_version
>/usr/lib/os-release NAME="Red Hat Enterprise Linux"
>/usr/lib/os-release VERSION="9.5 (Plow)"
>/usr/lib/os-release ID="rhel"
>/usr/lib/os-release ID_LIKE="fedora"
>/usr/lib/os-release VERSION_ID="9.5"
>/usr/lib/os-release PLATFORM_ID="platform:el9"
>/usr/lib/os-release PRETTY_NAME="Red Hat Enterprise Linux 9.5 (Plow)"
>/usr/lib/os-release ANSI_COLOR="0;31"
>/usr/lib/os-release LOGO="fedora-logo-icon"
>/usr/lib/os-release CPE_NAME="cpe:/o:redhat:enterprise_linux:9::baseos"
>/usr/lib/os-release HOME_URL="https://www.redhat.com/"
>/usr/lib/os-release DOCUMENTATION_URL="https://access.redhat.com/documentation/en-us/red_hat_enterprise_linux/9"
>/usr/lib/os-release BUG_REPORT_URL="https://issues.redhat.com/"
>/usr/lib/os-release REDHAT_BUGZILLA_PRODUCT="Red Hat Enterprise Linux 9"
>/usr/lib/os-release REDHAT_BUGZILLA_PRODUCT_VERSION=9.5
>/usr/lib/os-release REDHAT_SUPPORT_PRODUCT="Red Hat Enterprise Linux"
>/usr/lib/os-release REDHAT_SUPPORT_PRODUCT_VERSION="9.5"
>/etc/redhat-release Red Hat Enterprise Linux release 9.5 (Plow)
>/etc/system-release-cpe cpe:/o:redhat:enterprise_linux:9::baseos
link=/etc/system-release redhat-release

[al2023]
suite=bookworm
pm=dnf
dbpath=/var/lib/rpm
releasever=2023.6.20241212
provides=system-release = 2023.6.20241212
divert=/etc/debian_version
>/usr/lib/os-release NAME="Amazon Linux"
>/usr/lib/os-release VERSION="2023"
>/usr/lib/os-release ID="amzn"
>/usr/lib/os-release ID_LIKE="fedora"
>/usr/lib/os-release VERSION_ID="2023"
>/usr/lib/os-release PLATFORM_ID="platform:al2023"
>/usr/lib/os-release PRETTY_NAME="Amazon Linux 2023.6.20241212"
>/usr/lib/os-release ANSI_COLOR="0;33"
>/usr/lib/os-release CPE_NAME="cpe:2.3:o:amazon:amazon_linux:2023"
>/usr/lib/os-release HOME_URL="https://aws.amazon.com/linux/amazon-linux-2023/"
>/usr/lib/os-release DOCUMENTATION_URL="https://docs.aws.amazon.com/linux/"
>/usr/lib/os-release SUPPORT_URL="https://aws.amazon.com/premiumsupport/"
>/usr/lib/os-release BUG_REPORT_URL="https://github.com/amazonlinux/amazon-linux-2023"
>/usr/lib/os-release VENDOR_NAME="AWS"
>/usr/lib/os-release VENDOR_URL="https://aws.amazon.com/"
>/usr/lib/os-release SUPPORT_END="2029-06-30"
>/etc/amazon-linux-release Amazon Linux release 2023.6.20241212 (Amazon Linux)
>/etc/system-release-cpe cpe:2.3:o:amazon:amazon_linux:2023
link=/etc/system-release amazon-linux-release

[fedora]
suite=bookworm
pm=dnf
dbpath=/usr/lib/sysimage/rpm
releasever=43
provides=fedora-release = 43, fedora-release-common = 43, redhat-release = 43, system-release = 43
divert=/etc/debian_version
>/usr/lib/os-release NAME="Fedora Linux"
>/usr/lib/os-release VERSION="43 (Forty Three)"
>/usr/lib/os-release RELEASE_TYPE=stable
>/usr/lib/os-release ID=fedora
>/usr/lib/os-release VERSION_ID=43
>/usr/lib/os-release VERSION_CODENAME=""
>/usr/lib/os-release PLATFORM_ID="platform:f43"
>/usr/lib/os-release PRETTY_NAME="Fedora Linux 43 (Forty Three)"
>/usr/lib/os-release ANSI_COLOR="0;38;2;60;110;180"
>/usr/lib/os-release LOGO=fedora-logo-icon
>/usr/lib/os-release CPE_NAME="cpe:/o:fedoraproject:fedora:43"
>/usr/lib/os-release DEFAULT_HOSTNAME="fedora"
>/usr/lib/os-release HOME_URL="https://fedoraproject.org/"
>/usr/lib/os-release DOCUMENTATION_URL="https://docs.fedoraproject.org/en-US/fedora/f43/system-administrators-guide/"
>/usr/lib/os-release SUPPORT_URL="https://ask.fedoraproject.org/"
>/usr/lib/os-release BUG_REPORT_URL="https://bugzilla.redhat.com/"
>/usr/lib/os-release REDHAT_BUGZILLA_PRODUCT="Fedora"
>/usr/lib/os-release REDHAT_BUGZILLA_PRODUCT_VERSION=43
>/usr/lib/os-release REDHAT_SUPPORT_PRODUCT="Fedora"
>/usr/lib/os-release REDHAT_SUPPORT_PRODUCT_VERSION=43
>/usr/lib/os-release SUPPORT_END=2026-12-09
>/etc/fedora-release Fedora release 43 (Forty Three)
>/etc/system-release-cpe cpe:/o:fedoraproject:fedora:43
link=/etc/redhat-release fedora-release
link=/etc/system-release fedora-release

[rocky10]
suite=trixie
pm=dnf
dbpath=/usr/lib/sysimage/rpm
releasever=10
provides=rocky-release = 10.0, redhat-release = 10.0, system-release = 10.0
divert=/etc/debian_version
>/usr/lib/os-release NAME="Rocky Linux"
>/usr/lib/os-release VERSION="10.0 (Red Quartz)"
>/usr/lib/os-release ID="rocky"
>/usr/lib/os-release ID_LIKE="rhel centos fedora"
>/usr/lib/os-release VERSION_ID="10.0"
>/usr/lib/os-release PLATFORM_ID="platform:el10"
>/usr/lib/os-release PRETTY_NAME="Rocky Linux 10.0 (Red Quartz)"
>/usr/lib/os-release ANSI_COLOR="0;32"
>/usr/lib/os-release LOGO="fedora-logo-icon"
>/usr/lib/os-release CPE_NAME="cpe:/o:rocky:rocky:10::baseos"
>/usr/lib/os-release HOME_URL="https://rockylinux.org/"
>/usr/lib/os-release BUG_REPORT_URL="https://bugs.rockylinux.org/"
>/usr/lib/os-release SUPPORT_END="2035-05-31"
>/usr/lib/os-release ROCKY_SUPPORT_PRODUCT="Rocky-Linux-10"
>/usr/lib/os-release ROCKY_SUPPORT_PRODUCT_VERSION="10.0"
>/usr/lib/os-release REDHAT_SUPPORT_PRODUCT="Rocky Linux"
>/usr/lib/os-release REDHAT_SUPPORT_PRODUCT_VERSION="10.0"
>/etc/rocky-release Rocky Linux release 10.0 (Red Quartz)
>/etc/system-release-cpe cpe:/o:rocky:rocky:10::baseos
link=/etc/redhat-release rocky-release
link=/etc/system-release rocky-release

[leap156]
suite=bookworm
pm=zypper
dbpath=/usr/lib/sysimage/rpm
releasever=15.6
provides=openSUSE-release = 15.6, distribution-release = 15.6
divert=/etc/debian_version
>/usr/lib/os-release NAME="openSUSE Leap"
>/usr/lib/os-release VERSION="15.6"
>/usr/lib/os-release ID="opensuse-leap"
>/usr/lib/os-release ID_LIKE="suse opensuse"
>/usr/lib/os-release VERSION_ID="15.6"
>/usr/lib/os-release PRETTY_NAME="openSUSE Leap 15.6"
>/usr/lib/os-release ANSI_COLOR="0;32"
>/usr/lib/os-release CPE_NAME="cpe:/o:opensuse:leap:15.6"
>/usr/lib/os-release BUG_REPORT_URL="https://bugs.opensuse.org"
>/usr/lib/os-release HOME_URL="https://www.opensuse.org/"
>/usr/lib/os-release DOCUMENTATION_URL="https://en.opensuse.org/Portal:Leap"
>/usr/lib/os-release LOGO="distributor-logo-Leap"

[sles15]
suite=bookworm
pm=zypper
dbpath=/usr/lib/sysimage/rpm
releasever=15.6
provides=sles-release = 15.6, distribution-release = 15.6
divert=/etc/debian_version
>/usr/lib/os-release NAME="SLES"
>/usr/lib/os-release VERSION="15-SP6"
>/usr/lib/os-release VERSION_ID="15.6"
>/usr/lib/os-release PRETTY_NAME="SUSE Linux Enterprise Server 15 SP6"
>/usr/lib/os-release ID="sles"
>/usr/lib/os-release ID_LIKE="suse"
>/usr/lib/os-release ANSI_COLOR="0;32"
>/usr/lib/os-release CPE_NAME="cpe:/o:suse:sles:15:sp6"
>/usr/lib/os-release DOCUMENTATION_URL="https://documentation.suse.com/"
EOF
)

# Debian packages per package manager (added to base-<suite>.tar, cached as base-<suite>-<pm>.tar).
# dnf-plugins-core Breaks zypper in Debian, so RPM and SUSE hosts need separate layers. python3-systemd:
# trixie's system_upgrade plugin fails to import without it (on every dnf call), even when disabled.
declare -A PM_PACKAGES=(
  [dnf]="rpm dnf python3-dnf dnf-plugins-core python3-systemd"
  [zypper]="rpm zypper"
)
# Added to both layers: the shared libraries of Debian's Docker engine, which the mirror's Docker RPMs carry
# (tests/agents/build.sh; they declare no library Requires). dockerd links libdevmapper (bookworm's systemd pulls
# it in through libcryptsetup12, trixie's does not), runc libseccomp; the rest (libsystemd0, libudev1, libcap2,
# libgcrypt20, liblz4-1, liblzma5, libzstd1, libselinux1, libpcre2-8-0) come with systemd.
DOCKER_LIBS="libdevmapper1.02.1 libseccomp2"
# What the dpkg userland of every synthetic RPM/SUSE host really provides (names of both families).
MARKER_PROVIDES="/bin/sh, /usr/bin/sh, /bin/bash, /usr/bin/bash, bash, sh, coreutils, grep, sed, gawk, findutils,
  tar, gzip, util-linux, shadow-utils, shadow, /usr/sbin/useradd, /usr/sbin/groupadd, glibc, glibc-common,
  systemd, systemd-libs, systemd-sysv, /usr/bin/systemctl, iptables, iptables-nft, iptables-libs, procps,
  procps-ng, gnupg2, gnupg, gpg2, /usr/bin/gpg, python3, python3-libs, /usr/bin/python3, sudo, ca-certificates"
BASE_PACKAGES="python3,systemd,systemd-sysv,sudo,ca-certificates"          # Debian images (unchanged)
SYNTHETIC_PACKAGES="$BASE_PACKAGES,iptables,procps,gnupg"                   # every synthetic image
# Plugins Debian's dnf-plugins-core enables but EL/Fedora do not install by default (local copies every
# installed RPM into a _dnf_local repo; show-leaves prints after each transaction; system-upgrade fails to
# load on trixie without python3-systemd).
DNF_OFF_PLUGINS="local versionlock post-transaction-actions pre-transaction-actions show-leaves system-upgrade"
MASK_UNITS="systemd-resolved.service systemd-timesyncd.service getty@tty1.service"

mirror="${ECSA_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
build_dir="${ECSA_BUILD_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/build}/images"

# ---------------------------------------------------------------- data access
names() { sed -n 's/^\[\(.*\)\]$/\1/p' <<<"$HOSTS"; }
entry() { awk -v n="[$1]" '/^\[/ { on = ($0 == n); next } on && NF' <<<"$HOSTS"; }
field() { entry "$1" | sed -n "s/^$2=//p"; }
pretty_name() { entry "$1" | sed -n 's/^>\/usr\/lib\/os-release PRETTY_NAME="\{0,1\}\([^"]*\)"\{0,1\}$/\1/p'; }
os_version() { entry "$1" | sed -n 's/^>\/usr\/lib\/os-release VERSION_ID="\{0,1\}\([^"]*\)"\{0,1\}$/\1/p'; }
is_synthetic() { entry "$1" | grep -q '^>'; }

if [ "${1:-}" = "--list" ]; then names; exit 0; fi
[ "$#" -gt 0 ] || set -- debian11 debian12 debian13
for name in "$@"; do
  names | grep -qxF -- "$name" || { echo "ERROR: unknown image '$name' (known: $(names | tr '\n' ' '))" >&2; exit 1; }
done

need() { command -v "$1" >/dev/null 2>&1 || { echo "ERROR: $1 is missing (apt-get install $2)" >&2; exit 1; }; }

# ---------------------------------------------------------------- chroot helpers
cleanup() { # unmount any /proc left mounted in a build root (never remove a tree with mounts inside)
  local m
  for m in "$build_dir"/*/proc; do if mountpoint -q "$m"; then umount -l "$m" || true; fi; done
}
trap cleanup EXIT
in_root() { # ROOT CMD...: run in the chroot with /proc mounted, no services started, Debian's DNS
  local root=$1; shift
  mountpoint -q "$root/proc" || mount -t proc proc "$root/proc"
  DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 chroot "$root" "$@"
}
leave_root() { # ROOT: unmount what in_root mounted, before the tree is tarred or removed
  if mountpoint -q "$1/proc"; then umount "$1/proc"; fi
}
fresh_dir() { # DIR: an empty work tree (unmounting first, in case an earlier run died inside it)
  leave_root "$1"
  rm -rf "$1" && mkdir -p "$1"
}

# base-<suite>.tar: one debootstrap per suite; base-<suite>-<pm>.tar: the same plus the package manager.
base_tar() {
  local suite=$1 pm=$2 tar tmp
  tar="$build_dir/base-$suite.tar"
  if [ ! -s "$tar" ] || [ "$(cat "$tar.packages" 2>/dev/null)" != "$SYNTHETIC_PACKAGES" ]; then
    need debootstrap debootstrap
    tmp="$build_dir/base-$suite.tmp"
    fresh_dir "$tmp"
    echo "debootstrap $suite (log: $build_dir/base-$suite.log) ..." >&2
    debootstrap --variant=minbase --include="$SYNTHETIC_PACKAGES" "$suite" "$tmp" "$mirror" \
      >"$build_dir/base-$suite.log" 2>&1 || { echo "ERROR: debootstrap $suite failed; see $build_dir/base-$suite.log" >&2; exit 1; }
    tar -C "$tmp" -cf "$tar.part" . && mv "$tar.part" "$tar"
    echo "$SYNTHETIC_PACKAGES" >"$tar.packages"
    rm -f "$build_dir/base-$suite"-*.tar  # layers of the old base
    rm -rf "$tmp"
  fi
  [ "$pm" = apt ] && { echo "$tar"; return; }
  local layer="$build_dir/base-$suite-$pm.tar" packages="${PM_PACKAGES[$pm]} $DOCKER_LIBS"
  if [ ! -s "$layer" ] || [ "$(cat "$layer.packages" 2>/dev/null)" != "$packages" ]; then
    tmp="$build_dir/base-$suite-$pm.tmp"
    fresh_dir "$tmp" && tar -C "$tmp" -xf "$tar"
    echo "adding $packages to $suite (log: $build_dir/base-$suite-$pm.log) ..." >&2
    cp /etc/resolv.conf "$tmp/etc/resolv.conf"
    printf '#!/bin/sh\nexit 101\n' >"$tmp/usr/sbin/policy-rc.d" && chmod +x "$tmp/usr/sbin/policy-rc.d"
    # shellcheck disable=SC2086
    { in_root "$tmp" apt-get update && in_root "$tmp" apt-get install -y --no-install-recommends $packages; } \
      >"$build_dir/base-$suite-$pm.log" 2>&1 \
      || { leave_root "$tmp"; echo "ERROR: apt-get install in $suite failed; see $build_dir/base-$suite-$pm.log" >&2; exit 1; }
    in_root "$tmp" apt-get clean
    leave_root "$tmp"
    rm -f "$tmp/usr/sbin/policy-rc.d" "$tmp/etc/resolv.conf"
    rm -rf "$tmp"/var/lib/apt/lists/*
    tar -C "$tmp" -cf "$layer.part" . && mv "$layer.part" "$layer"
    echo "$packages" >"$layer.packages"
    rm -rf "$tmp"
  fi
  echo "$layer"
}

# ---------------------------------------------------------------- claiming a distro
divert() { # ROOT PATH: move a Debian-owned file away (kept as PATH.debian) so the claimed one replaces it
  in_root "$1" dpkg-divert --quiet --local --rename --divert "$2.debian" --add "$2"
}
write_claims() { # ROOT NAME
  local root=$1 name=$2 path line
  for path in $(field "$name" divert); do divert "$root" "$path"; done
  for path in $(entry "$name" | sed -n 's/^>\([^ ]*\) .*/\1/p' | sort -u); do
    if in_root "$root" dpkg -S "$path" >/dev/null 2>&1; then divert "$root" "$path"; fi
    rm -f "$root$path"
    entry "$name" | while IFS= read -r line; do
      case "$line" in ">$path "*) printf '%s\n' "${line#">$path "}" ;; esac
    done >"$root$path"
  done
  field "$name" link | while read -r path target; do ln -sfn "$target" "$root$path"; done
}

setup_rpm() { # ROOT NAME: rpm database, package-manager config and the marker RPM
  local root=$1 name=$2 pm dbpath releasever version provides ghosts p marker
  pm=$(field "$name" pm); dbpath=$(field "$name" dbpath); releasever=$(field "$name" releasever)
  version=$(os_version "$name")
  mkdir -p "$root/etc/rpm"
  printf '%%_dbpath %s\n%%__gpg /usr/bin/gpg\n' "$dbpath" >"$root/etc/rpm/macros.ecsa-synthetic"
  mkdir -p "$root$dbpath"
  if [ "$dbpath" != /var/lib/rpm ]; then rm -rf "$root/var/lib/rpm"; ln -s "../..$dbpath" "$root/var/lib/rpm"; fi
  in_root "$root" rpm --initdb 2>/dev/null
  rm -f "$root/etc/selinux/config"
  # The marker declares what dpkg installed and owns the claimed release files (%ghost: never written).
  provides=$(printf '%s, %s, system-release(releasever) = %s, %s' "$MARKER_PROVIDES" "${PM_PACKAGES[$pm]// /, }" \
    "$releasever" "$(field "$name" provides)" | tr ',' '\n' | sed 's/^[[:space:]]*//;s/[[:space:]]*$//' | grep -v '^$' | sed 's/^/Provides: /')
  ghosts=$( { echo /etc/os-release; entry "$name" | sed -n 's/^>\([^ ]*\) .*/\1/p'; field "$name" link | cut -d' ' -f1; } | sort -u)
  mkdir -p "$root/tmp/marker"
  {
    echo "Name: ecsa-synthetic-host"
    echo "Version: $version"
    echo "Release: 1"
    echo "Summary: Marker: what the Debian userland of this synthetic $(pretty_name "$name") host provides"
    echo "License: MIT"
    echo "BuildArch: noarch"
    echo "$provides"
    printf '%%description\nDeclares the dpkg-installed userland (shell, systemd, iptables, gnupg, python3, ...) to rpm.\n'
    printf '%%install\n'
    for p in $ghosts; do echo "mkdir -p %{buildroot}$(dirname "$p") && touch %{buildroot}$p"; done
    printf '%%files\n'
    for p in $ghosts; do echo "%ghost $p"; done
  } >"$root/tmp/marker/marker.spec"
  in_root "$root" rpmbuild -bb --define '_topdir /tmp/marker' /tmp/marker/marker.spec
  marker=$(cd "$root" && ls tmp/marker/RPMS/noarch/ecsa-synthetic-host-*.rpm)
  case "$pm" in
    dnf)
      mkdir -p "$root/etc/yum.repos.d" "$root/etc/dnf/protected.d"
      for p in $DNF_OFF_PLUGINS; do
        if [ -f "$root/etc/dnf/plugins/$p.conf" ]; then sed -i '0,/^enabled *=.*/s//enabled=0/' "$root/etc/dnf/plugins/$p.conf"
        else printf '[main]\nenabled=0\n' >"$root/etc/dnf/plugins/$p.conf"; fi
      done
      echo ecsa-synthetic-host >"$root/etc/dnf/protected.d/ecsa-synthetic-host.conf"
      in_root "$root" dnf -y --disablerepo='*' --releasever "$releasever" install "/$marker"
      in_root "$root" dnf clean all
      rm -rf "$root/var/cache/dnf"/* "$root/var/log/dnf"*.log "$root/var/log/hawkey.log" ;;
    zypper)
      mkdir -p "$root/etc/zypp/repos.d" "$root/etc/zypp/services.d"
      in_root "$root" zypper --non-interactive --no-gpg-checks install --allow-unsigned-rpm "/$marker"
      in_root "$root" zypper --non-interactive clean --all || true ;;
  esac
  rm -rf "$root/tmp/marker"
}

# ---------------------------------------------------------------- images
INPUTS_LABEL=fleet.ecs_anywhere.inputs
image_inputs() { # NAME: a hash of what the image is made from (its entry, the package lists and settings it uses)
  local name=$1 pm
  pm=$(field "$name" pm)
  {
    entry "$name"
    echo "$MASK_UNITS"
    if ! is_synthetic "$name"; then
      echo "$BASE_PACKAGES"
    else
      echo "$SYNTHETIC_PACKAGES"
      if [ "$pm" != apt ]; then
        printf '%s\n' "${PM_PACKAGES[$pm]} $DOCKER_LIBS" "$MARKER_PROVIDES" "$DNF_OFF_PLUGINS"
      fi
    fi
  } | sha256sum | cut -c1-16
}

finish_root() { # ROOT NAME TAG LABEL...: container tweaks, then docker import
  local root=$1 name=$2 tag=$3 unit; shift 3
  for unit in $MASK_UNITS; do chroot "$root" systemctl mask "$unit" >/dev/null 2>&1 || true; done
  echo "$name" >"$root/etc/hostname"
  apt-get clean -o RootDir="$root" >/dev/null 2>&1 || true
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/archives/*.deb
  local changes=(-c 'CMD ["/lib/systemd/systemd"]' -c 'ENV container=docker')
  changes+=(-c "LABEL $INPUTS_LABEL=$(image_inputs "$name")")
  for unit in "$@"; do changes+=(-c "LABEL $unit"); done
  tar -C "$root" -c . | docker import "${changes[@]}" - "$tag" >/dev/null
}

build_debian() { # NAME TAG
  local name=$1 tag=$2 suite root
  need debootstrap debootstrap
  suite=$(field "$name" suite); root="$build_dir/$name"
  fresh_dir "$root"
  echo "Building $tag from $suite (log: $build_dir/$name.log) ..."
  debootstrap --variant=minbase --include="$BASE_PACKAGES" "$suite" "$root" "$mirror" >"$build_dir/$name.log" 2>&1 \
    || { echo "ERROR: debootstrap $suite failed; see $build_dir/$name.log" >&2; exit 1; }
  finish_root "$root" "$name" "$tag" 'fleet.ecs_anywhere.synthetic=false'
  rm -rf "$root"
}

build_synthetic() { # NAME TAG
  local name=$1 tag=$2 suite pm tar root log rc
  suite=$(field "$name" suite); pm=$(field "$name" pm)
  tar=$(base_tar "$suite" "$pm")
  root="$build_dir/$name"; log="$build_dir/$name.log"
  fresh_dir "$root" && tar -C "$root" -xf "$tar"
  echo "Building $tag: $(pretty_name "$name") on Debian $suite with $pm (log: $log) ..."
  set +e # a subshell outside any conditional, so that set -e holds inside it
  (
    set -e
    write_claims "$root" "$name"
    if [ "$pm" != apt ]; then setup_rpm "$root" "$name"; fi
  ) >"$log" 2>&1
  rc=$?
  set -e
  leave_root "$root"
  [ "$rc" = 0 ] || { echo "ERROR: building $tag failed; see $log" >&2; exit 1; }
  finish_root "$root" "$name" "$tag" 'fleet.ecs_anywhere.synthetic=true' \
    "fleet.ecs_anywhere.claims=\"$(pretty_name "$name")\""
  rm -rf "$root"
}

mkdir -p "$build_dir"
# One build at a time per build dir: concurrent runs would share the cached tarballs and work trees.
exec 9>"$build_dir/.lock"
flock 9
for name in "$@"; do
  tag="ecsa-host:$name"
  built_from=$(docker image inspect -f "{{ index .Config.Labels \"$INPUTS_LABEL\" }}" "$tag" 2>/dev/null || true)
  if [ "$built_from" = "$(image_inputs "$name")" ]; then
    echo "$tag exists"
    continue
  fi
  start=$SECONDS
  if is_synthetic "$name"; then build_synthetic "$name" "$tag"; else build_debian "$name" "$tag"; fi
  echo "$tag built in $((SECONDS - start))s"
done
