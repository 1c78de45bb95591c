#!/bin/sh
# Make sure the tools that build the stand-in RPMs and their repositories are present: rpmbuild (Debian's `rpm`)
# and createrepo_c (Debian's `createrepo-c`). Idempotent; a quick no-op when both are there. Installs them with
# apt-get (Debian's archive) when run as root on Debian; otherwise says what is missing and fails.
set -eu

missing=""
command -v rpmbuild >/dev/null 2>&1 || missing="$missing rpm"
command -v createrepo_c >/dev/null 2>&1 || missing="$missing createrepo-c"
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ] || [ ! -f /etc/debian_version ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "ERROR: missing build tools:$missing (install them: apt-get install$missing)" >&2
    exit 1
fi

log_dir="${ECSA_BUILD_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/build}"
mkdir -p "$log_dir"
log="$log_dir/apt-build-tools.log"
# Concurrent builds (make agents in parallel with the test fixture's own build) must not race dpkg's lock.
exec 9>"$log_dir/.apt-build-tools.lock"
flock 9
command -v rpmbuild >/dev/null 2>&1 && command -v createrepo_c >/dev/null 2>&1 && exit 0
echo "build-tools: installing$missing from Debian (log: $log) ..."
export DEBIAN_FRONTEND=noninteractive
# shellcheck disable=SC2086 # one word per package
if ! apt-get install -y -q --no-install-recommends $missing >"$log" 2>&1; then
    apt-get update -q >>"$log" 2>&1 || true
    # shellcheck disable=SC2086
    apt-get install -y -q --no-install-recommends $missing >>"$log" 2>&1 ||
        { echo "ERROR: apt-get install$missing failed; see $log" >&2; exit 1; }
fi
if ! command -v rpmbuild >/dev/null 2>&1 || ! command -v createrepo_c >/dev/null 2>&1; then
    echo "ERROR: rpmbuild/createrepo_c still missing after apt-get install; see $log" >&2
    exit 1
fi
