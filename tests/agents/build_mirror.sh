#!/bin/sh
# Build the signed package mirror laid out like AWS's S3 buckets (ecs-anywhere-facts.md §4):
#   build/mirror/amazon-ssm-<region>/latest/debian_<arch>/amazon-ssm-agent.deb (+ .sig, binary detached)
#   build/mirror/amazon-ecs-agent-<region>/amazon-ecs-init-<ver>.<arch>.deb (+ .asc, armored detached)
#   build/mirror/amazon-ecs-agent-<region>/amazon-ecs-init-latest.<arch>.deb (+ .asc) = newest version
#   build/mirror/fleet-test-signing-key.asc / .fpr  (public test key; private key stays in build/gpg)
# and, not served, the bucket files of the next SSM agent release (SSM_NEXT_VERSION), which a test publishes into
# its world's mirror (tests.harness.publish) to roll it out:
#   build/mirror-next/amazon-ssm-<region>/latest/debian_<arch>/amazon-ssm-agent.deb (+ .sig)
# and Docker's Debian repository laid out like download.docker.com/linux/debian, signed with the same key:
#   build/mirror/docker/linux/debian/gpg  (the public key, as Docker publishes its own)
#   build/mirror/docker/linux/debian/dists/<codename>/{Release,Release.gpg,InRelease}
#   build/mirror/docker/linux/debian/dists/<codename>/stable/binary-<arch>/Packages{,.gz}
#   build/mirror/docker/linux/debian/dists/<codename>/pool/stable/<arch>/{docker-ce,docker-ce-cli,containerd.io}_*.deb
# Usage: tests/agents/build_mirror.sh [BUILD_DIR]      (default: <repo>/build)
# Env:   MIRROR_REGIONS ("us-east-1"), plus build.sh's SSM_VERSION / SSM_NEXT_VERSION / ECS_VERSIONS / ARCHES and
#        DOCKER_CODENAMES / DOCKER_ARCHES.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BUILD=${1:-$REPO/build}
mkdir -p "$BUILD"
BUILD=$(cd "$BUILD" && pwd)
AGENTS="$BUILD/agents"
MIRROR="$BUILD/mirror"
NEXT="$BUILD/mirror-next"
GNUPGHOME="$BUILD/gpg"
export GNUPGHOME
REGIONS=${MIRROR_REGIONS:-us-east-1}
SSM_VERSION=${SSM_VERSION:-3.3.1957.0-1}
SSM_NEXT_VERSION=${SSM_NEXT_VERSION:-3.3.2299.0-1}
ECS_VERSIONS=${ECS_VERSIONS:-"1.105.1-1 1.106.0-1"}
ARCHES=${ARCHES:-"amd64 arm64"}
DOCKER_CODENAMES=${DOCKER_CODENAMES:-"bullseye:11 bookworm:12 trixie:13"}
DOCKER_ARCHES=${DOCKER_ARCHES:-amd64}
DOCKER_CHANNEL=stable
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1767225600}
KEY_UID="fleet.ecs_anywhere test signing key <fleet-test-signing@example.invalid>"

"$HERE/build.sh" "$AGENTS"

gpg_() { gpg --batch --quiet --no-tty --pinentry-mode loopback --passphrase '' "$@"; }
cleanup() { gpgconf --kill gpg-agent >/dev/null 2>&1 || true; rm -rf "$MIRROR.tmp" "$MIRROR.old" "$NEXT.tmp"; }
trap cleanup EXIT

mkdir -p "$GNUPGHOME"
chmod 0700 "$GNUPGHOME"
if ! gpg --batch --list-secret-keys "$KEY_UID" >/dev/null 2>&1; then
    gpg_ --quick-generate-key "$KEY_UID" rsa3072 sign never
    echo "mirror: generated test signing key in $GNUPGHOME"
fi
FPR=$(gpg --batch --with-colons --list-secret-keys "$KEY_UID" | awk -F: '$1=="fpr"{print $10; exit}')

stamp=$( (cat "$AGENTS/.inputs.sha256"; echo "$REGIONS|$FPR|$DOCKER_CODENAMES|$DOCKER_ARCHES|$SOURCE_DATE_EPOCH"
          sha256sum "$HERE/build_mirror.sh") | sha256sum |
         cut -d' ' -f1)
if [ -f "$MIRROR/.inputs.sha256" ] && [ "$(cat "$MIRROR/.inputs.sha256")" = "$stamp" ] && [ -d "$NEXT" ]; then
    echo "mirror: up to date ($MIRROR)"
    exit 0
fi

T="$MIRROR.tmp"
rm -rf "$T" "$NEXT.tmp"
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
        d="$NEXT.tmp/amazon-ssm-$region/latest/debian_$arch"
        mkdir -p "$d"
        src="amazon-ssm-agent_${SSM_NEXT_VERSION}_${arch}.deb"
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

packages_index() {  # packages_index REPO POOLDIR -> the Packages stanzas of REPO/POOLDIR/*.deb
    for deb in "$1/$2"/*.deb; do
        dpkg-deb --field "$deb"
        echo "Filename: $2/$(basename "$deb")"
        echo "Size: $(stat -c %s "$deb")"
        echo "MD5sum: $(md5sum < "$deb" | cut -d' ' -f1)"
        echo "SHA1: $(sha1sum < "$deb" | cut -d' ' -f1)"
        echo "SHA256: $(sha256sum < "$deb" | cut -d' ' -f1)"
        echo
    done
}

release() {  # release DISTDIR CODENAME -> Release listing every index under DISTDIR
    printf 'Origin: Docker\nLabel: Docker CE\nSuite: %s\nCodename: %s\nArchitectures: %s\nComponents: %s\n' \
        "$2" "$2" "$DOCKER_ARCHES" "$DOCKER_CHANNEL"
    echo "Description: Docker CE for Debian $2 (fleet.ecs_anywhere test stand-in)"
    # The packages' fixed date: reproducible, and never "not valid yet" on a host with a sane clock.
    echo "Date: $(LC_ALL=C date -u -d "@$SOURCE_DATE_EPOCH" '+%a, %d %b %Y %H:%M:%S UTC')"
    for algo in MD5Sum:md5sum SHA1:sha1sum SHA256:sha256sum SHA512:sha512sum; do
        echo "${algo%%:*}:"
        (cd "$1" && find "$DOCKER_CHANNEL" -type f -name 'Packages*' | LC_ALL=C sort | while read -r f; do
            printf ' %s %8d %s\n' "$("${algo#*:}" < "$f" | cut -d' ' -f1)" "$(stat -c %s "$f")" "$f"
        done)
    done
}

repo="$T/docker/linux/debian"
mkdir -p "$repo"
cp "$T/fleet-test-signing-key.asc" "$repo/gpg"
for cn in $DOCKER_CODENAMES; do
    codename=${cn%:*} number=${cn#*:}
    dist="dists/$codename"
    for arch in $DOCKER_ARCHES; do
        pool="$dist/pool/$DOCKER_CHANNEL/$arch"
        index="$repo/$dist/$DOCKER_CHANNEL/binary-$arch"
        mkdir -p "$repo/$pool" "$index"
        cp "$AGENTS/docker/"containerd.io_*_"$arch".deb \
           "$AGENTS/docker/"docker-ce*_*"~debian.$number~${codename}_$arch".deb "$repo/$pool/"
        packages_index "$repo" "$pool" > "$index/Packages"
        gzip -9n < "$index/Packages" > "$index/Packages.gz"
    done
    release "$repo/$dist" "$codename" > "$repo/$dist/Release"
    gpg_ --local-user "$FPR" --digest-algo SHA512 --clearsign --output "$repo/$dist/InRelease" "$repo/$dist/Release"
    gpg_ --local-user "$FPR" --digest-algo SHA512 --armor --detach-sign --output "$repo/$dist/Release.gpg" \
        "$repo/$dist/Release"
done

echo "$stamp" > "$T/.inputs.sha256"
# Tests of other worlds may be serving the old tree: swap by renames, so it is never missing for long.
rm -rf "$MIRROR.old"
if [ -e "$MIRROR" ]; then mv "$MIRROR" "$MIRROR.old"; fi
mv "$T" "$MIRROR"
rm -rf "$MIRROR.old" "$NEXT"
mv "$NEXT.tmp" "$NEXT"
echo "mirror: built $MIRROR (regions: $REGIONS; latest ssm $SSM_VERSION, next $SSM_NEXT_VERSION; latest ecs-init $latest; docker repo: $DOCKER_CODENAMES; key $FPR)"
