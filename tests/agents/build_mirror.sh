#!/bin/sh
# Build the signed package mirror laid out like AWS's S3 buckets (ecs-anywhere-facts.md §4):
#   build/mirror/amazon-ssm-<region>/latest/debian_<arch>/amazon-ssm-agent.deb (+ .sig, binary detached)
#   build/mirror/amazon-ecs-agent-<region>/amazon-ecs-init-<ver>.<arch>.deb (+ .asc, armored detached)
#   build/mirror/amazon-ecs-agent-<region>/amazon-ecs-init-latest.<arch>.deb (+ .asc) = newest version
#   build/mirror/fleet-test-signing-key.asc / .fpr  (public test key; private key stays in build/gpg)
# Usage: tests/agents/build_mirror.sh [BUILD_DIR]      (default: <repo>/build)
# Env:   MIRROR_REGIONS ("us-east-1"), plus build.sh's SSM_VERSION / ECS_VERSIONS / ARCHES.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BUILD=${1:-$REPO/build}
mkdir -p "$BUILD"
BUILD=$(cd "$BUILD" && pwd)
AGENTS="$BUILD/agents"
MIRROR="$BUILD/mirror"
GNUPGHOME="$BUILD/gpg"
export GNUPGHOME
REGIONS=${MIRROR_REGIONS:-us-east-1}
SSM_VERSION=${SSM_VERSION:-3.3.1957.0-1}
ECS_VERSIONS=${ECS_VERSIONS:-"1.105.1-1 1.106.0-1"}
ARCHES=${ARCHES:-"amd64 arm64"}
KEY_UID="fleet.ecs_anywhere test signing key <fleet-test-signing@example.invalid>"

"$HERE/build.sh" "$AGENTS"

gpg_() { gpg --batch --quiet --no-tty --pinentry-mode loopback --passphrase '' "$@"; }
cleanup() { gpgconf --kill gpg-agent >/dev/null 2>&1 || true; rm -rf "$MIRROR.tmp"; }
trap cleanup EXIT

mkdir -p "$GNUPGHOME"
chmod 0700 "$GNUPGHOME"
if ! gpg --batch --list-secret-keys "$KEY_UID" >/dev/null 2>&1; then
    gpg_ --quick-generate-key "$KEY_UID" rsa3072 sign never
    echo "mirror: generated test signing key in $GNUPGHOME"
fi
FPR=$(gpg --batch --with-colons --list-secret-keys "$KEY_UID" | awk -F: '$1=="fpr"{print $10; exit}')

stamp=$( (cat "$AGENTS/.inputs.sha256"; echo "$REGIONS|$FPR"; sha256sum "$HERE/build_mirror.sh") | sha256sum |
         cut -d' ' -f1)
if [ -f "$MIRROR/.inputs.sha256" ] && [ "$(cat "$MIRROR/.inputs.sha256")" = "$stamp" ]; then
    echo "mirror: up to date ($MIRROR)"
    exit 0
fi

T="$MIRROR.tmp"
rm -rf "$T"
mkdir -p "$T/.sigs"
sign() {  # sign FILE -> .sigs/<name>.sig and .asc (signed once, copied per region)
    name=$(basename "$1")
    gpg_ --local-user "$FPR" --detach-sign --output "$T/.sigs/$name.sig" "$1"
    gpg_ --local-user "$FPR" --armor --detach-sign --output "$T/.sigs/$name.asc" "$1"
}
for f in "$AGENTS"/*.deb; do sign "$f"; done

latest=$(for v in $ECS_VERSIONS; do echo "$v"; done | sort -V | tail -n 1)
for region in $REGIONS; do
    for arch in $ARCHES; do
        d="$T/amazon-ssm-$region/latest/debian_$arch"
        mkdir -p "$d"
        src="amazon-ssm-agent_${SSM_VERSION}_${arch}.deb"
        cp "$AGENTS/$src" "$d/amazon-ssm-agent.deb"
        cp "$T/.sigs/$src.sig" "$d/amazon-ssm-agent.deb.sig"
        e="$T/amazon-ecs-agent-$region"
        mkdir -p "$e"
        for v in $ECS_VERSIONS; do
            src="amazon-ecs-init_${v}_${arch}.deb"
            cp "$AGENTS/$src" "$e/amazon-ecs-init-$v.$arch.deb"
            cp "$T/.sigs/$src.asc" "$e/amazon-ecs-init-$v.$arch.deb.asc"
        done
        cp "$AGENTS/amazon-ecs-init_${latest}_${arch}.deb" "$e/amazon-ecs-init-latest.$arch.deb"
        cp "$T/.sigs/amazon-ecs-init_${latest}_${arch}.deb.asc" "$e/amazon-ecs-init-latest.$arch.deb.asc"
    done
done
rm -rf "$T/.sigs"
gpg --batch --armor --export "$FPR" > "$T/fleet-test-signing-key.asc"
echo "$FPR" > "$T/fleet-test-signing-key.fpr"
echo "$stamp" > "$T/.inputs.sha256"
rm -rf "$MIRROR"
mv "$T" "$MIRROR"
echo "mirror: built $MIRROR (regions: $REGIONS; latest ecs-init $latest; key $FPR)"
