#!/bin/sh
# Build the stand-in agent packages from the sources in tests/agents/src (no network needed):
#   amazon-ssm-agent_<ver>_<arch>.deb for SSM_VERSION (the release the mirror publishes as latest) and
#   SSM_NEXT_VERSION (the release a test publishes later), amazon-ecs-init_<ver>_<arch>.deb for each ECS version;
#   docker/ with the stand-ins of Docker's own packages: docker-ce and docker-ce-cli
#   (5:<ver>~debian.<N>~<codename>, per codename and version) and containerd.io (<ver>, per version).
# Usage: tests/agents/build.sh OUTDIR     (no-op when the inputs did not change)
# Env:   SSM_VERSION (3.3.1957.0-1), SSM_NEXT_VERSION (3.3.2299.0-1), ECS_VERSIONS ("1.105.1-1 1.106.0-1"),
#        ARCHES ("amd64 arm64"), DOCKER_VERSIONS ("27.3.1-1 27.5.1-1"), CONTAINERD_VERSIONS ("1.7.24-1 1.7.25-1"),
#        DOCKER_CODENAMES ("bullseye:11 bookworm:12 trixie:13"), DOCKER_ARCHES ("amd64")
set -eu

OUT=${1:?usage: build.sh OUTDIR}
HERE=$(cd "$(dirname "$0")" && pwd)
SRC="$HERE/src"
SSM_VERSION=${SSM_VERSION:-3.3.1957.0-1}
SSM_NEXT_VERSION=${SSM_NEXT_VERSION:-3.3.2299.0-1}
ECS_VERSIONS=${ECS_VERSIONS:-"1.105.1-1 1.106.0-1"}
ARCHES=${ARCHES:-"amd64 arm64"}
DOCKER_VERSIONS=${DOCKER_VERSIONS:-"27.3.1-1 27.5.1-1"}
CONTAINERD_VERSIONS=${CONTAINERD_VERSIONS:-"1.7.24-1 1.7.25-1"}
DOCKER_CODENAMES=${DOCKER_CODENAMES:-"bullseye:11 bookworm:12 trixie:13"}
DOCKER_ARCHES=${DOCKER_ARCHES:-amd64}
RUNC_VERSION=1.2.2
# Fixed mtimes make the packages reproducible (same inputs -> same bytes).
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1767225600}
export SOURCE_DATE_EPOCH

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

stamp=$( (echo "$SSM_VERSION|$SSM_NEXT_VERSION|$ECS_VERSIONS|$ARCHES|$SOURCE_DATE_EPOCH";
          echo "$DOCKER_VERSIONS|$CONTAINERD_VERSIONS|$DOCKER_CODENAMES|$DOCKER_ARCHES";
          cd "$HERE" && find build.sh src -type f ! -name '*.pyc' ! -path '*/__pycache__/*' | LC_ALL=C sort |
          xargs sha256sum) | sha256sum | cut -d' ' -f1)

expected=""
for arch in $ARCHES; do
    for v in $SSM_VERSION $SSM_NEXT_VERSION; do expected="$expected amazon-ssm-agent_${v}_${arch}.deb"; done
    for v in $ECS_VERSIONS; do expected="$expected amazon-ecs-init_${v}_${arch}.deb"; done
done
for arch in $DOCKER_ARCHES; do
    for v in $CONTAINERD_VERSIONS; do expected="$expected docker/containerd.io_${v}_${arch}.deb"; done
    for cn in $DOCKER_CODENAMES; do
        for v in $DOCKER_VERSIONS; do
            for p in docker-ce docker-ce-cli; do
                expected="$expected docker/${p}_${v}~debian.${cn#*:}~${cn%:*}_${arch}.deb"
            done
        done
    done
done

if [ -f "$OUT/.inputs.sha256" ] && [ "$(cat "$OUT/.inputs.sha256")" = "$stamp" ]; then
    ok=1
    for f in $expected; do [ -f "$OUT/$f" ] || ok=0; done
    if [ "$ok" = 1 ]; then
        echo "agents: up to date ($OUT)"
        exit 0
    fi
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

subst() {  # subst FILE VERSION ARCH -> stdout
    sed -e "s/@VERSION@/$2/g" -e "s/@ARCH@/$3/g" -e "s/@SSM_VERSION@/${2%-*}/g" \
        -e "s/@ECS_VERSION@/$2/g" "$1"
}

finish() {  # finish ROOTDIR DEB [COMPRESSION]
    root=$1
    find "$root" -type d -exec chmod 0755 {} +
    chmod 0755 "$root"/DEBIAN/post* "$root"/DEBIAN/pre* 2>/dev/null || true
    (cd "$root" && find . -type f ! -path './DEBIAN/*' | LC_ALL=C sort | sed 's|^\./||' | xargs md5sum) \
        > "$root/DEBIAN/md5sums"
    find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
    dpkg-deb --root-owner-group "-Z${3:-xz}" --build "$root" "$2" >/dev/null
    echo "agents: built $(basename "$2")"
}

common() {  # common LIBDIR
    install -d "$1"
    install -m 0644 "$SRC/common/sigv4.py" "$SRC/common/rsakey.py" "$SRC/common/awsclient.py" "$1/"
}

build_ssm() {  # build_ssm VERSION ARCH
    version=$1 arch=$2
    r="$WORK/ssm-$version-$arch"
    install -d "$r/DEBIAN" "$r/usr/bin" "$r/lib/systemd/system" "$r/etc/amazon/ssm" \
        "$r/var/lib/amazon/ssm" "$r/var/log/amazon/ssm" "$r/usr/share/doc/amazon-ssm-agent"
    subst "$SRC/ssm/debian/control.in" "$version" "$arch" > "$r/DEBIAN/control"
    install -m 0644 "$SRC/ssm/debian/conffiles" "$r/DEBIAN/conffiles"
    for s in postinst prerm postrm; do install -m 0755 "$SRC/ssm/debian/$s" "$r/DEBIAN/$s"; done
    subst "$SRC/ssm/amazon-ssm-agent" "$version" "$arch" > "$r/usr/bin/amazon-ssm-agent"
    install -m 0755 "$SRC/ssm/ssm-cli" "$r/usr/bin/ssm-cli"
    chmod 0755 "$r/usr/bin/amazon-ssm-agent"
    common "$r/usr/lib/amazon-ssm-agent/standin"
    install -m 0644 "$SRC/ssm/amazon-ssm-agent.service" "$r/lib/systemd/system/"
    install -m 0644 "$SRC/ssm/amazon-ssm-agent.json.template" "$SRC/ssm/seelog.xml.template" "$r/etc/amazon/ssm/"
    echo "Stand-in amazon-ssm-agent $version built by the fleet.ecs_anywhere test suite." \
        > "$r/usr/share/doc/amazon-ssm-agent/README.standin"
    finish "$r" "$OUT/amazon-ssm-agent_${version}_${arch}.deb"
}

build_ecs() {  # build_ecs VERSION ARCH
    v=$1 arch=$2
    r="$WORK/ecs-$v-$arch"
    install -d "$r/DEBIAN" "$r/usr/libexec" "$r/lib/systemd/system" "$r/etc/ecs" "$r/var/lib/ecs/data" \
        "$r/var/log/ecs" "$r/var/cache/ecs" "$r/usr/share/doc/amazon-ecs-init"
    subst "$SRC/ecs/debian/control.in" "$v" "$arch" > "$r/DEBIAN/control"
    for s in postinst prerm postrm; do install -m 0755 "$SRC/ecs/debian/$s" "$r/DEBIAN/$s"; done
    subst "$SRC/ecs/amazon-ecs-init" "$v" "$arch" > "$r/usr/libexec/amazon-ecs-init"
    chmod 0755 "$r/usr/libexec/amazon-ecs-init"
    common "$r/usr/lib/amazon-ecs-init/standin"
    install -m 0644 "$SRC/ecs/ecs.service" "$r/lib/systemd/system/ecs.service"
    echo 2 > "$r/var/cache/ecs/state"
    echo "Stand-in amazon-ecs-init $v built by the fleet.ecs_anywhere test suite." \
        > "$r/usr/share/doc/amazon-ecs-init/README.standin"
    finish "$r" "$OUT/amazon-ecs-init_${v}_${arch}.deb"
}

dsubst() {  # dsubst FILE VERSION ARCH UPSTREAM -> stdout (placeholders of the docker stand-ins)
    sed -e "s/@VERSION@/$2/g" -e "s/@ARCH@/$3/g" -e "s/@DOCKER_VERSION@/$4/g" -e "s/@CONTAINERD_VERSION@/$4/g" \
        -e "s/@RUNC_VERSION@/$RUNC_VERSION/g" -e "s/@UNITS@/$units/g" -e "s/@SERVICES@/$services/g" "$1"
}

# docker_package ROOT NAME VERSION ARCH UPSTREAM DEB [UNITS SERVICES]: control, maintainer scripts, build.
# Units get the debhelper-like scripts that enable and start them, as Docker's packages do.
docker_package() {
    r=$1 units=${7:-} services=${8:-}
    size=$(du -sk --exclude=DEBIAN "$r" | cut -f1)
    dsubst "$SRC/docker/debian/$2.control.in" "$3" "$4" "$5" | sed "s/@INSTALLED_SIZE@/$size/" > "$r/DEBIAN/control"
    if [ -n "$units" ]; then
        for s in postinst prerm postrm; do dsubst "$SRC/docker/debian/$s.in" "$3" "$4" "$5" > "$r/DEBIAN/$s"; done
    fi
    # gzip: on files this small xz's start-up dominates, and the docker stand-ins are most of the packages.
    finish "$r" "$6" gzip
}

build_containerd() {  # build_containerd VERSION ARCH
    v=$1 arch=$2 up=${1%-*}
    r="$WORK/containerd-$v-$arch"
    install -d "$r/DEBIAN" "$r/usr/bin" "$r/lib/systemd/system" "$r/etc/containerd" "$r/usr/share/doc/containerd.io"
    units="" services=""
    for f in containerd ctr runc; do dsubst "$SRC/docker/$f" "$v" "$arch" "$up" > "$r/usr/bin/$f"; done
    chmod 0755 "$r/usr/bin/containerd" "$r/usr/bin/ctr" "$r/usr/bin/runc"
    install -m 0644 "$SRC/docker/containerd.service" "$r/lib/systemd/system/"
    install -m 0644 "$SRC/docker/config.toml" "$r/etc/containerd/"
    echo /etc/containerd/config.toml > "$r/DEBIAN/conffiles"
    echo "Stand-in containerd.io $v built by the fleet.ecs_anywhere test suite." \
        > "$r/usr/share/doc/containerd.io/README.standin"
    docker_package "$r" containerd.io "$v" "$arch" "$up" "$OUT/docker/containerd.io_${v}_${arch}.deb" \
        containerd.service containerd.service
}

build_docker() {  # build_docker VERSION CODENAME:NUMBER ARCH -> docker-ce and docker-ce-cli
    full="${1}~debian.${2#*:}~${2%:*}" arch=$3 up=${1%-*}
    units="" services=""
    r="$WORK/docker-ce-$full-$arch"
    install -d "$r/DEBIAN" "$r/usr/bin" "$r/lib/systemd/system" "$r/usr/share/doc/docker-ce"
    dsubst "$SRC/docker/dockerd" "5:$full" "$arch" "$up" > "$r/usr/bin/dockerd"
    chmod 0755 "$r/usr/bin/dockerd"
    install -m 0644 "$SRC/docker/docker.service" "$SRC/docker/docker.socket" "$r/lib/systemd/system/"
    echo "Stand-in docker-ce $full built by the fleet.ecs_anywhere test suite." \
        > "$r/usr/share/doc/docker-ce/README.standin"
    docker_package "$r" docker-ce "5:$full" "$arch" "$up" "$OUT/docker/docker-ce_${full}_${arch}.deb" \
        "docker.socket docker.service" docker.service

    units="" services=""
    r="$WORK/docker-ce-cli-$full-$arch"
    install -d "$r/DEBIAN" "$r/usr/bin" "$r/usr/share/doc/docker-ce-cli"
    dsubst "$SRC/docker/docker" "5:$full" "$arch" "$up" > "$r/usr/bin/docker"
    chmod 0755 "$r/usr/bin/docker"
    echo "Stand-in docker-ce-cli $full built by the fleet.ecs_anywhere test suite." \
        > "$r/usr/share/doc/docker-ce-cli/README.standin"
    docker_package "$r" docker-ce-cli "5:$full" "$arch" "$up" "$OUT/docker/docker-ce-cli_${full}_${arch}.deb"
}

for arch in $ARCHES; do
    for v in $SSM_VERSION $SSM_NEXT_VERSION; do build_ssm "$v" "$arch"; done
    for v in $ECS_VERSIONS; do build_ecs "$v" "$arch"; done
done
# The mirror takes every .deb here: none may be left from other versions.
rm -rf "$OUT/docker"
mkdir -p "$OUT/docker"
for arch in $DOCKER_ARCHES; do
    for v in $CONTAINERD_VERSIONS; do build_containerd "$v" "$arch"; done
    for cn in $DOCKER_CODENAMES; do
        for v in $DOCKER_VERSIONS; do build_docker "$v" "$cn" "$arch"; done
    done
done
echo "$stamp" > "$OUT/.inputs.sha256"
