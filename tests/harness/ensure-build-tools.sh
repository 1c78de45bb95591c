#!/bin/sh
# Make sure the controller has the tools the tests build and check with. Idempotent; a quick no-op when all are
# there. Installs what is missing with apt-get (Debian's archive) when run as root on Debian; otherwise says what is
# missing and fails.
#   ensure-build-tools.sh [rpm] [signatures]    (no argument: both)
#   rpm         rpmbuild (Debian's `rpm`) and createrepo_c (`createrepo-c`): the stand-in RPMs and their repositories
#   signatures  gpg and gpg-agent (`gnupg`), gpgv and Sequoia's sqv (`sqv`): the signature tests of verified_package,
#               which run the two verifiers apt uses on keys and signatures generated with gpg
set -eu

[ "$#" -gt 0 ] || set -- rpm signatures
wanted=""  # "command:package" pairs
for group in "$@"; do
    case $group in
        rpm) wanted="$wanted rpmbuild:rpm createrepo_c:createrepo-c" ;;
        signatures) wanted="$wanted gpg:gnupg gpg-agent:gpg-agent gpgv:gpgv sqv:sqv" ;;
        *) echo "ERROR: unknown tool group '$group' (rpm, signatures)" >&2; exit 2 ;;
    esac
done

missing_packages() {
    missing=""
    for pair in $wanted; do
        command -v "${pair%%:*}" >/dev/null 2>&1 || missing="$missing ${pair#*:}"
    done
    echo "$missing"
}

missing=$(missing_packages)
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
missing=$(missing_packages)
[ -z "$missing" ] && exit 0
echo "build-tools: installing$missing from Debian (log: $log) ..."
export DEBIAN_FRONTEND=noninteractive
# shellcheck disable=SC2086 # one word per package
if ! apt-get install -y -q --no-install-recommends $missing >"$log" 2>&1; then
    apt-get update -q >>"$log" 2>&1 || true
    # shellcheck disable=SC2086
    apt-get install -y -q --no-install-recommends $missing >>"$log" 2>&1 ||
        { echo "ERROR: apt-get install$missing failed; see $log" >&2; exit 1; }
fi
missing=$(missing_packages)
if [ -n "$missing" ]; then
    echo "ERROR:$missing still missing after apt-get install; see $log" >&2
    exit 1
fi
