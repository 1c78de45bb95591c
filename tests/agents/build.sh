#!/bin/sh
# Build the stand-in agent packages from the sources in tests/agents/src (no network needed):
#   amazon-ssm-agent_<SSM_VERSION>_<arch>.deb and amazon-ecs-init_<ver>_<arch>.deb for each ECS version.
# Usage: tests/agents/build.sh OUTDIR     (no-op when the inputs did not change)
# Env:   SSM_VERSION (3.3.1957.0-1), ECS_VERSIONS ("1.105.1-1 1.106.0-1"), ARCHES ("amd64 arm64")
set -eu

OUT=${1:?usage: build.sh OUTDIR}
HERE=$(cd "$(dirname "$0")" && pwd)
SRC="$HERE/src"
SSM_VERSION=${SSM_VERSION:-3.3.1957.0-1}
ECS_VERSIONS=${ECS_VERSIONS:-"1.105.1-1 1.106.0-1"}
ARCHES=${ARCHES:-"amd64 arm64"}
# Fixed mtimes make the packages reproducible (same inputs -> same bytes).
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1767225600}
export SOURCE_DATE_EPOCH

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

stamp=$( (echo "$SSM_VERSION|$ECS_VERSIONS|$ARCHES|$SOURCE_DATE_EPOCH";
          cd "$HERE" && find build.sh src -type f ! -name '*.pyc' ! -path '*/__pycache__/*' | LC_ALL=C sort |
          xargs sha256sum) | sha256sum | cut -d' ' -f1)

expected=""
for arch in $ARCHES; do
    expected="$expected amazon-ssm-agent_${SSM_VERSION}_${arch}.deb"
    for v in $ECS_VERSIONS; do expected="$expected amazon-ecs-init_${v}_${arch}.deb"; done
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
    sed -e "s/@VERSION@/$2/g" -e "s/@ARCH@/$3/g" -e "s/@SSM_VERSION@/${SSM_VERSION%-*}/g" \
        -e "s/@ECS_VERSION@/$2/g" "$1"
}

finish() {  # finish ROOTDIR DEB
    root=$1
    find "$root" -type d -exec chmod 0755 {} +
    chmod 0755 "$root"/DEBIAN/post* "$root"/DEBIAN/pre* 2>/dev/null || true
    (cd "$root" && find . -type f ! -path './DEBIAN/*' | LC_ALL=C sort | sed 's|^\./||' | xargs md5sum) \
        > "$root/DEBIAN/md5sums"
    find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
    dpkg-deb --root-owner-group -Zxz --build "$root" "$2" >/dev/null
    echo "agents: built $(basename "$2")"
}

common() {  # common LIBDIR
    install -d "$1"
    install -m 0644 "$SRC/common/sigv4.py" "$SRC/common/awsclient.py" "$1/"
}

build_ssm() {  # build_ssm ARCH
    arch=$1
    r="$WORK/ssm-$arch"
    install -d "$r/DEBIAN" "$r/usr/bin" "$r/lib/systemd/system" "$r/etc/amazon/ssm" \
        "$r/var/lib/amazon/ssm" "$r/var/log/amazon/ssm" "$r/usr/share/doc/amazon-ssm-agent"
    subst "$SRC/ssm/debian/control.in" "$SSM_VERSION" "$arch" > "$r/DEBIAN/control"
    install -m 0644 "$SRC/ssm/debian/conffiles" "$r/DEBIAN/conffiles"
    for s in postinst prerm postrm; do install -m 0755 "$SRC/ssm/debian/$s" "$r/DEBIAN/$s"; done
    subst "$SRC/ssm/amazon-ssm-agent" "$SSM_VERSION" "$arch" > "$r/usr/bin/amazon-ssm-agent"
    install -m 0755 "$SRC/ssm/ssm-cli" "$r/usr/bin/ssm-cli"
    chmod 0755 "$r/usr/bin/amazon-ssm-agent"
    common "$r/usr/lib/amazon-ssm-agent/standin"
    install -m 0644 "$SRC/ssm/amazon-ssm-agent.service" "$r/lib/systemd/system/"
    install -m 0644 "$SRC/ssm/amazon-ssm-agent.json.template" "$SRC/ssm/seelog.xml.template" "$r/etc/amazon/ssm/"
    echo "Stand-in amazon-ssm-agent $SSM_VERSION built by the fleet.ecs_anywhere test suite." \
        > "$r/usr/share/doc/amazon-ssm-agent/README.standin"
    finish "$r" "$OUT/amazon-ssm-agent_${SSM_VERSION}_${arch}.deb"
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

for arch in $ARCHES; do
    build_ssm "$arch"
    for v in $ECS_VERSIONS; do build_ecs "$v" "$arch"; done
done
echo "$stamp" > "$OUT/.inputs.sha256"
