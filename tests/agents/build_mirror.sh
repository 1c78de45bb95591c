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
# and the same for Docker's Ubuntu repository (docker/linux/ubuntu/, DOCKER_UBUNTU_CODENAMES).
# The RPM side (RHEL family, Amazon Linux 2023, Fedora, SUSE), from the RPMs build.sh makes of the same sources:
#   build/mirror/amazon-ssm-<region>/latest/linux_<arch>/amazon-ssm-agent.rpm (+ .sig; the next release in
#   build/mirror-next at the same path)
#   build/mirror/amazon-ecs-agent-<region>/amazon-ecs-init-<ver|latest>.<x86_64|aarch64>.rpm (+ .asc)
#   (these two, like AWS's, carry no signature in the RPM header: they are checked with the detached signature)
#   build/mirror/docker/linux/<centos|rhel|fedora>/{gpg,docker-ce.repo}
#   build/mirror/docker/linux/<distro>/<releasever>/<basearch>/stable/{Packages/*.rpm,repodata/}  (DOCKER_RPM_REPOS)
#   build/mirror/distro/<amazonlinux/2023|suse/15>/<basearch>/{Packages/*.rpm,repodata/}: the distributions' own
#   docker, containerd and runc (DOCKER_DISTRO_REPOS); build/mirror/distro/gpg = the public test key
#   Each RPM repository: RPMs signed in their headers (rpmsign), repodata/repomd.xml with a detached armored
#   signature repodata/repomd.xml.asc and the key as repodata/repomd.xml.key (as SUSE's repositories have it).
# Usage: tests/agents/build_mirror.sh [BUILD_DIR]      (default: <repo>/build)
# Env:   MIRROR_REGIONS ("us-east-1"), plus build.sh's SSM_VERSION / SSM_NEXT_VERSION / ECS_VERSIONS / ARCHES and
#        DOCKER_CODENAMES / DOCKER_UBUNTU_CODENAMES / DOCKER_ARCHES / DOCKER_RPM_REPOS / DOCKER_DISTRO_REPOS.
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
DOCKER_UBUNTU_CODENAMES=${DOCKER_UBUNTU_CODENAMES:-"jammy:22.04 noble:24.04"}
DOCKER_ARCHES=${DOCKER_ARCHES:-amd64}
DOCKER_RPM_REPOS=${DOCKER_RPM_REPOS:-"centos:9 centos:10 rhel:9 rhel:10 fedora:43 fedora:44 fedora:45"}
DOCKER_DISTRO_REPOS=${DOCKER_DISTRO_REPOS:-"amazonlinux/2023 suse/15"}
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
          echo "$DOCKER_UBUNTU_CODENAMES|$DOCKER_RPM_REPOS|$DOCKER_DISTRO_REPOS"
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
rpm_arch() {  # rpm_arch DEBARCH -> the RPM architecture
    case $1 in amd64) echo x86_64 ;; arm64) echo aarch64 ;; *) echo "$1" ;; esac
}
for f in "$AGENTS"/*.deb; do sign "$f"; done
for arch in $ARCHES; do
    ra=$(rpm_arch "$arch")
    for v in $SSM_VERSION $SSM_NEXT_VERSION; do sign "$AGENTS/amazon-ssm-agent-$v.$ra.rpm"; done
    for v in $ECS_VERSIONS; do sign "$AGENTS/amazon-ecs-init-$v.$ra.rpm"; done
done

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
        # The RPMs: SSM's under linux_<amd64|arm64>, ecs-init's named with the RPM architecture.
        ra=$(rpm_arch "$arch")
        for tree in "$T:$SSM_VERSION" "$NEXT.tmp:$SSM_NEXT_VERSION"; do
            d="${tree%:*}/amazon-ssm-$region/latest/linux_$arch"
            src="amazon-ssm-agent-${tree##*:}.$ra.rpm"
            mkdir -p "$d"
            cp "$AGENTS/$src" "$d/amazon-ssm-agent.rpm"
            cp "$T/.sigs/$src.sig" "$d/amazon-ssm-agent.rpm.sig"
        done
        for v in $ECS_VERSIONS latest; do
            src="amazon-ecs-init-$([ "$v" = latest ] && echo "$latest" || echo "$v").$ra.rpm"
            cp "$AGENTS/$src" "$e/amazon-ecs-init-$v.$ra.rpm"
            cp "$T/.sigs/$src.asc" "$e/amazon-ecs-init-$v.$ra.rpm.asc"
        done
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

release() {  # release DISTDIR CODENAME DISTRONAME -> Release listing every index under DISTDIR
    printf 'Origin: Docker\nLabel: Docker CE\nSuite: %s\nCodename: %s\nArchitectures: %s\nComponents: %s\n' \
        "$2" "$2" "$DOCKER_ARCHES" "$DOCKER_CHANNEL"
    echo "Description: Docker CE for $3 $2 (fleet.ecs_anywhere test stand-in)"
    # The packages' fixed date: reproducible, and never "not valid yet" on a host with a sane clock.
    echo "Date: $(LC_ALL=C date -u -d "@$SOURCE_DATE_EPOCH" '+%a, %d %b %Y %H:%M:%S UTC')"
    for algo in MD5Sum:md5sum SHA1:sha1sum SHA256:sha256sum SHA512:sha512sum; do
        echo "${algo%%:*}:"
        (cd "$1" && find "$DOCKER_CHANNEL" -type f -name 'Packages*' | LC_ALL=C sort | while read -r f; do
            printf ' %s %8d %s\n' "$("${algo#*:}" < "$f" | cut -d' ' -f1)" "$(stat -c %s "$f")" "$f"
        done)
    done
}

apt_repo() {  # apt_repo DISTRO DISTRONAME CODENAMES: docker/linux/DISTRO laid out like download.docker.com's
    repo="$T/docker/linux/$1"
    mkdir -p "$repo"
    cp "$T/fleet-test-signing-key.asc" "$repo/gpg"
    for cn in $3; do
        codename=${cn%:*} number=${cn#*:}
        dist="dists/$codename"
        for arch in $DOCKER_ARCHES; do
            pool="$dist/pool/$DOCKER_CHANNEL/$arch"
            index="$repo/$dist/$DOCKER_CHANNEL/binary-$arch"
            mkdir -p "$repo/$pool" "$index"
            cp "$AGENTS/docker/"containerd.io_*_"$arch".deb \
               "$AGENTS/docker/"docker-ce*_*"~$1.$number~${codename}_$arch".deb "$repo/$pool/"
            packages_index "$repo" "$pool" > "$index/Packages"
            gzip -9n < "$index/Packages" > "$index/Packages.gz"
        done
        release "$repo/$dist" "$codename" "$2" > "$repo/$dist/Release"
        gpg_ --local-user "$FPR" --digest-algo SHA512 --clearsign --output "$repo/$dist/InRelease" \
            "$repo/$dist/Release"
        gpg_ --local-user "$FPR" --digest-algo SHA512 --armor --detach-sign --output "$repo/$dist/Release.gpg" \
            "$repo/$dist/Release"
    done
}
apt_repo debian Debian "$DOCKER_CODENAMES"
apt_repo ubuntu Ubuntu "$DOCKER_UBUNTU_CODENAMES"

# ---- RPM repositories. The RPMs are signed in their headers (a copy: build/agents keeps the unsigned builds).
SIGNED="$T/.rpms"
mkdir -p "$SIGNED"
cp -r "$AGENTS/docker/rpm/." "$SIGNED/"
# (rpmsign calls gpg itself: %__gpg for Debian's gpg, not the gpg2 it looks for; the key has no passphrase.)
find "$SIGNED" -name '*.rpm' -print0 | xargs -0 -P 4 -n 5 rpmsign --define "_gpg_name $FPR" \
    --define "__gpg /usr/bin/gpg" --define "_gpg_sign_cmd_extra_args --batch --pinentry-mode loopback" --addsign \
    >"$T/.rpmsign.log" 2>&1 ||
    { cat "$T/.rpmsign.log" >&2; exit 1; }
rm -f "$T/.rpmsign.log"

rpm_repo() {  # rpm_repo DIR RPM...: Packages/ + repodata/ (createrepo_c), repomd.xml signed
    dir=$1
    shift
    mkdir -p "$dir/Packages"
    # Hard links: repositories of one dist tag (centos/9 and rhel/9) share their RPMs (~150 MB per repository).
    cp -l "$@" "$dir/Packages/"
    createrepo_c --quiet --no-database --revision "$SOURCE_DATE_EPOCH" --set-timestamp-to-revision "$dir" >/dev/null
    gpg_ --local-user "$FPR" --armor --detach-sign --output "$dir/repodata/repomd.xml.asc" "$dir/repodata/repomd.xml"
    cp "$T/fleet-test-signing-key.asc" "$dir/repodata/repomd.xml.key"
}

dist_tag() {  # as build.sh: centos:9 -> el9, rhel:10 -> el10, fedora:43 -> fc43
    case ${1%:*} in fedora) echo "fc${1#*:}" ;; *) echo "el${1#*:}" ;; esac
}
for r in $DOCKER_RPM_REPOS; do
    distro=${r%:*} releasever=${r#*:}
    base="$T/docker/linux/$distro"
    if [ ! -f "$base/gpg" ]; then
        mkdir -p "$base"
        cp "$T/fleet-test-signing-key.asc" "$base/gpg"
        # As download.docker.com/linux/<distro>/docker-ce.repo (stable enabled; test and nightly not mirrored).
        cat > "$base/docker-ce.repo" <<REPO
[docker-ce-stable]
name=Docker CE Stable - \$basearch
baseurl=https://download.docker.com/linux/$distro/\$releasever/\$basearch/stable
enabled=1
gpgcheck=1
gpgkey=https://download.docker.com/linux/$distro/gpg

[docker-ce-stable-debuginfo]
name=Docker CE Stable - Debuginfo \$basearch
baseurl=https://download.docker.com/linux/$distro/\$releasever/debug-\$basearch/stable
enabled=0
gpgcheck=1
gpgkey=https://download.docker.com/linux/$distro/gpg

[docker-ce-stable-source]
name=Docker CE Stable - Sources
baseurl=https://download.docker.com/linux/$distro/\$releasever/source/stable
enabled=0
gpgcheck=1
gpgkey=https://download.docker.com/linux/$distro/gpg

[docker-ce-test]
name=Docker CE Test - \$basearch
baseurl=https://download.docker.com/linux/$distro/\$releasever/\$basearch/test
enabled=0
gpgcheck=1
gpgkey=https://download.docker.com/linux/$distro/gpg

[docker-ce-nightly]
name=Docker CE Nightly - \$basearch
baseurl=https://download.docker.com/linux/$distro/\$releasever/\$basearch/nightly
enabled=0
gpgcheck=1
gpgkey=https://download.docker.com/linux/$distro/gpg
REPO
    fi
    tag=$(dist_tag "$r")
    for arch in $DOCKER_ARCHES; do
        ra=$(rpm_arch "$arch")
        rpm_repo "$base/$releasever/$ra/$DOCKER_CHANNEL" "$SIGNED"/*."$tag.$ra.rpm"
    done
done

mkdir -p "$T/distro"
cp "$T/fleet-test-signing-key.asc" "$T/distro/gpg"
for repo in $DOCKER_DISTRO_REPOS; do
    for arch in $DOCKER_ARCHES; do
        ra=$(rpm_arch "$arch")
        rpm_repo "$T/distro/$repo/$ra" "$SIGNED/$repo/"*".$ra.rpm"
    done
done
rm -rf "$SIGNED"

echo "$stamp" > "$T/.inputs.sha256"
# Tests of other worlds may be serving the old tree: swap by renames, so it is never missing for long.
rm -rf "$MIRROR.old"
if [ -e "$MIRROR" ]; then mv "$MIRROR" "$MIRROR.old"; fi
mv "$T" "$MIRROR"
rm -rf "$MIRROR.old" "$NEXT"
mv "$NEXT.tmp" "$NEXT"
echo "mirror: built $MIRROR (regions: $REGIONS; latest ssm $SSM_VERSION, next $SSM_NEXT_VERSION; latest ecs-init $latest; docker repos: $DOCKER_CODENAMES $DOCKER_UBUNTU_CODENAMES $DOCKER_RPM_REPOS; distro repos: $DOCKER_DISTRO_REPOS; key $FPR)"
