#!/bin/sh
# Build the stand-in agent packages from the sources in tests/agents/src (no network needed), as .debs and RPMs
# from the same staged files:
#   amazon-ssm-agent_<ver>_<arch>.deb and amazon-ssm-agent-<ver>.<rpmarch>.rpm for SSM_VERSION (the release the
#   mirror publishes as latest) and SSM_NEXT_VERSION (the release a test publishes later);
#   amazon-ecs-init_<ver>_<arch>.deb and amazon-ecs-init-<ver>.<rpmarch>.rpm for each ECS version
#   (<rpmarch>: x86_64 for amd64, aarch64 for arm64; RPM Version = <ver> less its "-N" revision, Release = N);
#   docker/ with the stand-ins of Docker's own packages: docker-ce and docker-ce-cli
#   (5:<ver>~debian.<N>~<codename>, 5:<ver>~ubuntu.<N>~<codename>, per codename and version) and containerd.io
#   (<ver>, per version);
#   docker/rpm/ with Docker's RPMs: docker-ce and docker-ce-cli (Epoch 3, Release <rev>.<el9|el10|fc43...>) and
#   containerd.io (Release <rev>.<tag>) per dist tag of DOCKER_RPM_REPOS, and the distributions' own docker,
#   containerd and runc per DOCKER_DISTRO_REPOS (docker/rpm/<repo>/, e.g. docker/rpm/amazonlinux/2023/).
#   Unlike the .debs (Python stand-ins), these RPMs carry a real engine: Debian 12's docker.io, containerd, runc and
#   tini (amd64 for x86_64, arm64 for aarch64), downloaded once with apt-get download into DEBIAN_DEB_CACHE
#   (<repo>/build/cache/debian; the only network access, to Debian's archive) and repackaged as RPMs: unpacked
#   with dpkg-deb -x, /lib moved to /usr/lib, Debian's paths and units kept (/usr/sbin/dockerd, /usr/bin/containerd,
#   /usr/sbin/runc), RPM names, versions and relations Docker's / the distributions' as before.
# Usage: tests/agents/build.sh OUTDIR     (no-op when the inputs did not change)
# Env:   SSM_VERSION (3.3.1957.0-1), SSM_NEXT_VERSION (3.3.2299.0-1), ECS_VERSIONS ("1.105.1-1 1.106.0-1"),
#        ARCHES ("amd64 arm64"), DOCKER_VERSIONS ("27.3.1-1 27.5.1-1"), CONTAINERD_VERSIONS ("1.7.24-1 1.7.25-1"),
#        DOCKER_CODENAMES ("bullseye:11 bookworm:12 trixie:13"), DOCKER_UBUNTU_CODENAMES ("jammy:22.04 noble:24.04"),
#        DOCKER_ARCHES ("amd64"), DOCKER_RPM_REPOS ("centos:9 centos:10 rhel:9 rhel:10 fedora:43 fedora:44
#        fedora:45"), DOCKER_DISTRO_REPOS ("amazonlinux/2023 suse/15"), DEBIAN_DEB_CACHE, ECSA_DEBIAN_MIRROR
#        (http://deb.debian.org/debian), ECSA_DEBIAN_SECURITY_MIRROR (http://deb.debian.org/debian-security),
#        DOCKER_RPM_PAYLOAD (w1.zstdio: rpmbuild's payload compression of the Docker RPMs)
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
DOCKER_UBUNTU_CODENAMES=${DOCKER_UBUNTU_CODENAMES:-"jammy:22.04 noble:24.04"}
DOCKER_ARCHES=${DOCKER_ARCHES:-amd64}
DOCKER_RPM_REPOS=${DOCKER_RPM_REPOS:-"centos:9 centos:10 rhel:9 rhel:10 fedora:43 fedora:44 fedora:45"}
DOCKER_DISTRO_REPOS=${DOCKER_DISTRO_REPOS:-"amazonlinux/2023 suse/15"}
RUNC_VERSION=1.2.2
# The Docker RPMs' payload: Debian's own packages of this suite (the suite most synthetic images are built on; its
# binaries also run on the trixie-based ones).
DEBIAN_SUITE=bookworm
DEBIAN_DOCKER_DEBS="docker.io containerd runc tini"
DEBIAN_DEB_CACHE=${DEBIAN_DEB_CACHE:-${ECSA_BUILD_DIR:-$(cd "$HERE/../.." && pwd)/build}/cache/debian}
ECSA_DEBIAN_MIRROR=${ECSA_DEBIAN_MIRROR:-http://deb.debian.org/debian}
ECSA_DEBIAN_SECURITY_MIRROR=${ECSA_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
# Payload compression of the Docker RPMs (~3.6 GB of mostly Go binaries in 40 RPMs), measured on 2 cores: zstd
# level 1 makes `make agents` from scratch take ~25 s and the mirror 1.1 GB; level 3 ~5 s more for 8 % less;
# gzip -9 (the agent RPMs') would spend ~40 s per 250 MB of payload, minutes in all.
DOCKER_RPM_PAYLOAD=${DOCKER_RPM_PAYLOAD:-w1.zstdio}
# Fixed mtimes make the packages reproducible (same inputs -> same bytes).
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1767225600}
export SOURCE_DATE_EPOCH

"$HERE/../harness/ensure-build-tools.sh"

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

rpm_arch() {  # rpm_arch DEBARCH -> the RPM architecture
    case $1 in amd64) echo x86_64 ;; arm64) echo aarch64 ;; *) echo "$1" ;; esac
}

# The RPM dist tag of a Docker repository: centos:9 -> el9, rhel:10 -> el10, fedora:43 -> fc43.
dist_tag() {
    case ${1%:*} in fedora) echo "fc${1#*:}" ;; centos|rhel) echo "el${1#*:}" ;;
        *) echo "build.sh: unknown Docker RPM repository $1" >&2; return 1 ;; esac
}
DOCKER_RPM_TAGS=$(for r in $DOCKER_RPM_REPOS; do dist_tag "$r"; done | LC_ALL=C sort -u | tr '\n' ' ')

# distro_evr REPO PACKAGE UPSTREAM REVISION: sets dv and dr, the Version and Release of the distribution's own
# package, as it names them (Amazon Linux 2023: docker-25.0.8-1.amzn2023.0.4; SUSE: docker-27.5.1_ce-150000.218.1).
distro_evr() {
    case $1 in
        amazonlinux/2023) dv=$3 dr="$4.amzn2023.0.1" ;;
        suse/15) dv=$3 dr="150000.$4"; if [ "$2" = docker ]; then dv="${3}_ce"; fi ;;
        *) echo "build.sh: unknown distribution repository $1" >&2; exit 1 ;;
    esac
}

# fetch_debs DEBARCH: Debian's DEBIAN_DOCKER_DEBS of DEBIAN_SUITE for DEBARCH in $DEBIAN_DEB_CACHE/<suite>-<arch>/
# (with SHA256SUMS), downloaded once: a no-op when the cache holds them. apt-get runs on a private state (sources,
# lists, cache) under the cache dir, so it needs neither the machine's sources nor its foreign architectures
# (arm64 on an amd64 machine); the archive's signed Release files (debian-archive-keyring) vouch for the .debs.
fetch_debs() {
    da=$1 dir="$DEBIAN_DEB_CACHE/$DEBIAN_SUITE-$1" key="$DEBIAN_SUITE|$DEBIAN_DOCKER_DEBS|$1"
    if [ -s "$dir/SHA256SUMS" ] && [ "$(cat "$dir/.key" 2>/dev/null)" = "$key" ]; then return 0; fi
    mkdir -p "$DEBIAN_DEB_CACHE"
    # One download at a time (make agents and the agents tests' own build may run together).
    exec 8>"$DEBIAN_DEB_CACHE/.lock"
    flock 8
    if [ -s "$dir/SHA256SUMS" ] && [ "$(cat "$dir/.key" 2>/dev/null)" = "$key" ]; then exec 8>&-; return 0; fi
    kr=/usr/share/keyrings/debian-archive-keyring.gpg
    if ! command -v apt-get >/dev/null 2>&1 || [ ! -f "$kr" ]; then
        echo "build.sh: apt-get and $kr are needed to download $DEBIAN_DOCKER_DEBS" >&2
        exit 1
    fi
    tmp="$dir.tmp"
    rm -rf "$tmp" && mkdir -p "$tmp/apt/lists/partial" "$tmp/apt/cache/archives/partial" "$tmp/debs"
    printf 'deb [signed-by=%s] %s %s main\n' "$kr" "$ECSA_DEBIAN_MIRROR" "$DEBIAN_SUITE" \
        "$kr" "$ECSA_DEBIAN_MIRROR" "$DEBIAN_SUITE-updates" \
        "$kr" "$ECSA_DEBIAN_SECURITY_MIRROR" "$DEBIAN_SUITE-security" > "$tmp/apt/sources.list"
    set -- -q -o "Dir::Etc::SourceList=$tmp/apt/sources.list" -o Dir::Etc::SourceParts=/dev/null \
        -o Dir::Etc::Preferences=/dev/null -o Dir::Etc::PreferencesParts=/dev/null \
        -o "Dir::State::Lists=$tmp/apt/lists" -o "Dir::Cache=$tmp/apt/cache" -o Dir::State::status=/dev/null \
        -o "APT::Architecture=$da" -o "APT::Architectures::=$da" -o Debug::NoLocking=1 -o APT::Sandbox::User=root
    echo "agents: downloading $DEBIAN_DOCKER_DEBS ($DEBIAN_SUITE, $da) from Debian's archive ..."
    # shellcheck disable=SC2086 # one word per package
    if ! { apt-get "$@" update && (cd "$tmp/debs" && apt-get "$@" download $DEBIAN_DOCKER_DEBS); } \
            > "$tmp/apt.log" 2>&1; then
        cat "$tmp/apt.log" >&2
        echo "build.sh: could not download $DEBIAN_DOCKER_DEBS ($DEBIAN_SUITE, $da) from $ECSA_DEBIAN_MIRROR" >&2
        exit 1
    fi
    (cd "$tmp/debs" && sha256sum -- *.deb) > "$tmp/debs/SHA256SUMS"
    echo "$key" > "$tmp/debs/.key"
    rm -rf "$dir" && mv "$tmp/debs" "$dir" && rm -rf "$tmp"
    exec 8>&-
}
for arch in $DOCKER_ARCHES; do fetch_debs "$arch"; done

stamp=$( (echo "$SSM_VERSION|$SSM_NEXT_VERSION|$ECS_VERSIONS|$ARCHES|$SOURCE_DATE_EPOCH";
          echo "$DOCKER_VERSIONS|$CONTAINERD_VERSIONS|$DOCKER_CODENAMES|$DOCKER_UBUNTU_CODENAMES|$DOCKER_ARCHES";
          echo "$DOCKER_RPM_REPOS|$DOCKER_DISTRO_REPOS|$DOCKER_RPM_PAYLOAD"
          for arch in $DOCKER_ARCHES; do cat "$DEBIAN_DEB_CACHE/$DEBIAN_SUITE-$arch/SHA256SUMS"; done
          cd "$HERE" && find build.sh src -type f ! -name '*.pyc' ! -path '*/__pycache__/*' | LC_ALL=C sort |
          xargs sha256sum) | sha256sum | cut -d' ' -f1)

expected=""
for arch in $ARCHES; do
    ra=$(rpm_arch "$arch")
    for v in $SSM_VERSION $SSM_NEXT_VERSION; do
        expected="$expected amazon-ssm-agent_${v}_${arch}.deb amazon-ssm-agent-${v}.${ra}.rpm"
    done
    for v in $ECS_VERSIONS; do expected="$expected amazon-ecs-init_${v}_${arch}.deb amazon-ecs-init-${v}.${ra}.rpm"; done
done
for arch in $DOCKER_ARCHES; do
    ra=$(rpm_arch "$arch")
    for v in $CONTAINERD_VERSIONS; do
        expected="$expected docker/containerd.io_${v}_${arch}.deb"
        for tag in $DOCKER_RPM_TAGS; do expected="$expected docker/rpm/containerd.io-${v}.${tag}.${ra}.rpm"; done
    done
    for cn in $DOCKER_CODENAMES; do
        for v in $DOCKER_VERSIONS; do
            for p in docker-ce docker-ce-cli; do
                expected="$expected docker/${p}_${v}~debian.${cn#*:}~${cn%:*}_${arch}.deb"
            done
        done
    done
    for cn in $DOCKER_UBUNTU_CODENAMES; do
        for v in $DOCKER_VERSIONS; do
            for p in docker-ce docker-ce-cli; do
                expected="$expected docker/${p}_${v}~ubuntu.${cn#*:}~${cn%:*}_${arch}.deb"
            done
        done
    done
    for tag in $DOCKER_RPM_TAGS; do
        for v in $DOCKER_VERSIONS; do
            for p in docker-ce docker-ce-cli; do expected="$expected docker/rpm/${p}-${v}.${tag}.${ra}.rpm"; done
        done
    done
    for repo in $DOCKER_DISTRO_REPOS; do
        for v in $DOCKER_VERSIONS; do
            distro_evr "$repo" docker "${v%-*}" "${v##*-}"
            expected="$expected docker/rpm/$repo/docker-$dv-$dr.$ra.rpm"
        done
        for v in $CONTAINERD_VERSIONS; do
            distro_evr "$repo" containerd "${v%-*}" "${v##*-}"
            expected="$expected docker/rpm/$repo/containerd-$dv-$dr.$ra.rpm"
        done
        distro_evr "$repo" runc "$RUNC_VERSION" 1
        expected="$expected docker/rpm/$repo/runc-$dv-$dr.$ra.rpm"
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
RPM_JOBS="$WORK/rpm-jobs"
: > "$RPM_JOBS"

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

# Directories every host has: the RPMs own only their own directories below these.
SHARED_DIRS=" /etc /usr /usr/bin /usr/lib /usr/libexec /usr/lib/systemd /usr/lib/systemd/system /usr/share"
SHARED_DIRS="$SHARED_DIRS /usr/share/doc /var /var/lib /var/log /var/cache /etc/default /usr/sbin /usr/lib/udev"
SHARED_DIRS="$SHARED_DIRS /usr/lib/udev/rules.d /usr/share/man /usr/share/man/man1 /usr/share/man/man5"
SHARED_DIRS="$SHARED_DIRS /usr/share/man/man8 /usr/share/bash-completion /usr/share/bash-completion/completions"
SHARED_DIRS="$SHARED_DIRS /usr/share/zsh /usr/share/zsh/vendor-completions /usr/share/fish"
SHARED_DIRS="$SHARED_DIRS /usr/share/fish/vendor_completions.d "

# rpm_package STAGE SPECIN VERSION-REVISION ARCH OUTDIR [CONFFILES [SCRIPTLETS]]: the spec of one RPM (SPECIN's
# header and scriptlets with @RPM_VERSION@/@RPM_RELEASE@ from VERSION-REVISION, SCRIPTLETS appended, %install
# copying STAGE, %files listing it, CONFFILES as %config(noreplace)); queued, rpmbuild runs them all at the end.
# STAGE holds the same files as the .deb's root, with units under usr/lib/systemd/system. The buildroot is a tree of
# hard links to STAGE (the Docker payloads are ~150 MB each), compressed as $rpm_payload says (default gzip -9);
# $spec_sed, when set, is a sed script applied to the header too.
rpm_package() {
    stage=$1 conffiles=${6:-}
    spec="$stage.spec"
    find "$stage" -type d -exec chmod 0755 {} +
    find "$stage" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
    {
        sed -e "s/@RPM_VERSION@/${3%-*}/g" -e "s/@RPM_RELEASE@/${3##*-}/g" -e "s|@VENDOR@|${vendor:-}|g" \
            -f "${spec_sed:-/dev/null}" "$2"
        if [ -n "${7:-}" ]; then echo; dsubst "$7" "" "" ""; fi
        printf '\n%%install\nmkdir -p %%{buildroot}\ncp -al %s/. %%{buildroot}/\n\n' "$stage"
        printf '%%files\n%%defattr(-,root,root,-)\n'
        (cd "$stage" && find . -mindepth 1 -printf '%y %P\n' | LC_ALL=C sort -k 2) |
            awk -v shared="$SHARED_DIRS" -v conf=" $(printf '%s' "$conffiles" | tr '\n' ' ') " '{
                p = "/" $2
                if ($1 == "d") { if (index(shared, " " p " ") == 0) print "%dir " p }
                else if (index(conf, " " p " ")) print "%config(noreplace) " p
                else print p
            }'
    } > "$spec"
    echo "$spec $(rpm_arch "$4") $5 ${rpm_payload:-w9.gzdio}" >> "$RPM_JOBS"
}

# Build every queued spec, in parallel (each rpmbuild is short and single-threaded). Reproducible: build time and
# file mtimes from SOURCE_DATE_EPOCH, a fixed build host, no brp scripts (no byte-compiling, no stripping).
rpm_build_all() {
    [ -s "$RPM_JOBS" ] || return 0
    jobs=$(nproc 2>/dev/null || echo 4)
    # shellcheck disable=SC2016 # expanded by the inner sh
    xargs -P "$jobs" -L 1 sh -c '
        spec=$1 target=$2 outdir=$3 payload=$4 top=${1%.spec}.top
        mkdir -p "$top" "$outdir"
        rpmbuild -bb --quiet --target "$target" \
            --define "_topdir $top" --define "_rpmdir $outdir" \
            --define "_rpmfilename %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm" \
            --define "_buildhost fleet-ecs-anywhere-build" \
            --define "use_source_date_epoch_as_buildtime 1" --define "clamp_mtime_to_source_date_epoch 1" \
            --define "__os_install_post %{nil}" --define "_build_id_links none" \
            --define "_binary_payload $payload" --define "_binary_filedigest_algorithm 8" \
            "$spec" > "$top.log" 2>&1 || { cat "$top.log" >&2; exit 255; }
    ' sh < "$RPM_JOBS"
    echo "agents: built $(wc -l < "$RPM_JOBS") RPMs"
}

common() {  # common LIBDIR
    install -d "$1"
    install -m 0644 "$SRC/common/sigv4.py" "$SRC/common/rsakey.py" "$SRC/common/awsclient.py" "$1/"
}

stage_ssm() {  # stage_ssm ROOT VERSION ARCH UNITDIR: the files of amazon-ssm-agent
    r=$1
    install -d "$r/usr/bin" "$r/$4" "$r/etc/amazon/ssm" "$r/var/lib/amazon/ssm" "$r/var/log/amazon/ssm" \
        "$r/usr/share/doc/amazon-ssm-agent"
    subst "$SRC/ssm/amazon-ssm-agent" "$2" "$3" > "$r/usr/bin/amazon-ssm-agent"
    install -m 0755 "$SRC/ssm/ssm-cli" "$r/usr/bin/ssm-cli"
    chmod 0755 "$r/usr/bin/amazon-ssm-agent"
    common "$r/usr/lib/amazon-ssm-agent/standin"
    install -m 0644 "$SRC/ssm/amazon-ssm-agent.service" "$r/$4/"
    install -m 0644 "$SRC/ssm/amazon-ssm-agent.json.template" "$SRC/ssm/seelog.xml.template" "$r/etc/amazon/ssm/"
    echo "Stand-in amazon-ssm-agent $2 built by the fleet.ecs_anywhere test suite." \
        > "$r/usr/share/doc/amazon-ssm-agent/README.standin"
}

build_ssm() {  # build_ssm VERSION ARCH
    version=$1 arch=$2
    r="$WORK/ssm-$version-$arch"
    stage_ssm "$r" "$version" "$arch" lib/systemd/system
    install -d "$r/DEBIAN"
    subst "$SRC/ssm/debian/control.in" "$version" "$arch" > "$r/DEBIAN/control"
    install -m 0644 "$SRC/ssm/debian/conffiles" "$r/DEBIAN/conffiles"
    for s in postinst prerm postrm; do install -m 0755 "$SRC/ssm/debian/$s" "$r/DEBIAN/$s"; done
    finish "$r" "$OUT/amazon-ssm-agent_${version}_${arch}.deb"

    r="$WORK/rpm-ssm-$version-$arch"
    stage_ssm "$r" "$version" "$arch" usr/lib/systemd/system
    rpm_package "$r" "$SRC/ssm/rpm/amazon-ssm-agent.spec.in" "$version" "$arch" "$OUT" \
        "$(cat "$SRC/ssm/debian/conffiles")"
}

stage_ecs() {  # stage_ecs ROOT VERSION ARCH UNITDIR: the files of amazon-ecs-init
    r=$1
    install -d "$r/usr/libexec" "$r/$4" "$r/etc/ecs" "$r/var/lib/ecs/data" "$r/var/log/ecs" "$r/var/cache/ecs" \
        "$r/usr/share/doc/amazon-ecs-init"
    subst "$SRC/ecs/amazon-ecs-init" "$2" "$3" > "$r/usr/libexec/amazon-ecs-init"
    chmod 0755 "$r/usr/libexec/amazon-ecs-init"
    common "$r/usr/lib/amazon-ecs-init/standin"
    install -m 0644 "$SRC/ecs/ecs.service" "$r/$4/ecs.service"
    echo 2 > "$r/var/cache/ecs/state"
    echo "Stand-in amazon-ecs-init $2 built by the fleet.ecs_anywhere test suite." \
        > "$r/usr/share/doc/amazon-ecs-init/README.standin"
}

build_ecs() {  # build_ecs VERSION ARCH
    v=$1 arch=$2
    r="$WORK/ecs-$v-$arch"
    stage_ecs "$r" "$v" "$arch" lib/systemd/system
    install -d "$r/DEBIAN"
    subst "$SRC/ecs/debian/control.in" "$v" "$arch" > "$r/DEBIAN/control"
    for s in postinst prerm postrm; do install -m 0755 "$SRC/ecs/debian/$s" "$r/DEBIAN/$s"; done
    finish "$r" "$OUT/amazon-ecs-init_${v}_${arch}.deb"

    r="$WORK/rpm-ecs-$v-$arch"
    stage_ecs "$r" "$v" "$arch" usr/lib/systemd/system
    rpm_package "$r" "$SRC/ecs/rpm/amazon-ecs-init.spec.in" "$v" "$arch" "$OUT"
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

# docker_rpm STAGE NAME VERSION-RELEASE ARCH OUTDIR [UNITS SERVICES]: queue one of the Docker RPMs
# (src/docker/rpm/NAME.spec.in, its %description told what Debian payload it carries), with the scriptlets that enable
# and start the units, as docker_package does, and Debian's conffiles of what STAGE holds as %config(noreplace);
# payload compressed with DOCKER_RPM_PAYLOAD.
docker_rpm() {
    units=${6:-} services=${7:-}
    rpm_payload=$DOCKER_RPM_PAYLOAD spec_sed="$WORK/deb-$4/payload.sed"
    rpm_package "$1" "$SRC/docker/rpm/$2.spec.in" "$3" "$4" "$5" "$(cat "$WORK/deb-$4/conffiles")" \
        "$(if [ -n "$units" ]; then echo "$SRC/docker/rpm/scriptlets.in"; fi)"
    rpm_payload="" spec_sed=""
}

# ---- The Docker RPMs' payload: Debian's packages (fetch_debs), unpacked once per architecture as dpkg would, with
# /lib moved to /usr/lib (rpm must not create /lib over the merged-/usr symlink). Left out: the SysV init script
# (systemd runs the units), libnetwork's test programs dnet and ovrouter (no Docker package has them) and lintian
# overrides. Debian's units, paths and conffiles are kept: /usr/sbin/dockerd (docker.service runs it), /usr/sbin/runc
# (with Debian's /usr/bin/runc link), /usr/bin/docker-init -> tini-static, %config(noreplace) /etc/default/docker and
# /etc/containerd/config.toml.
DEB_DROP="etc/init.d usr/bin/dnet usr/sbin/ovrouter usr/share/lintian"
# What docker-ce-cli takes of docker.io (docker-ce keeps the rest), as Docker splits engine and CLI.
DEB_CLI_PATHS="usr/bin/docker usr/share/man/man1 usr/share/man/man5 usr/share/bash-completion usr/share/zsh"
DEB_CLI_PATHS="$DEB_CLI_PATHS usr/share/fish"

unpack_debs() {  # unpack_debs DEBARCH -> $WORK/deb-<arch>/<package>/, conffiles, payload.sed (the specs' @..._DEB@)
    d="$WORK/deb-$1"
    mkdir -p "$d"
    : > "$d/conffiles"
    number=$(for cn in $DOCKER_CODENAMES; do case $cn in "$DEBIAN_SUITE":*) echo "${cn#*:}" ;; esac; done)
    echo "s|@DEBIAN@|Debian ${number:-$DEBIAN_SUITE} ($DEBIAN_SUITE, $1)|g" > "$d/payload.sed"
    for p in $DEBIAN_DOCKER_DEBS; do
        for deb in "$DEBIAN_DEB_CACHE/$DEBIAN_SUITE-$1/${p}_"*"_$1.deb"; do
            dpkg-deb -x "$deb" "$d/$p"
            if [ -d "$d/$p/lib" ]; then
                mkdir -p "$d/$p/usr/lib" && cp -a "$d/$p/lib/." "$d/$p/usr/lib/" && rm -rf "${d:?}/$p/lib"
            fi
            # shellcheck disable=SC2086 # one word per path
            (cd "$d/$p" && rm -rf $DEB_DROP)
            dpkg-deb --info "$deb" conffiles >> "$d/conffiles" 2>/dev/null || true
            echo "s|@$(echo "$p" | tr 'a-z.' 'A-Z_')_DEB@|$p $(dpkg-deb -f "$deb" Version)|g" >> "$d/payload.sed"
        done
    done
}

stage_deb() {  # stage_deb ROOT DEBARCH PACKAGE [PATH...]: hard links to the unpacked PACKAGE (only PATHs, if given)
    r=$1 from="$WORK/deb-$2/$3"
    shift 3
    mkdir -p "$r"
    if [ "$#" -eq 0 ]; then cp -al "$from/." "$r/"; else (cd "$from" && cp -al --parents "$@" "$r/"); fi
}

stage_deb_engine() {  # stage_deb_engine ROOT DEBARCH: docker.io less its CLI, plus tini (docker-init)
    stage_deb "$1" "$2" docker.io
    # shellcheck disable=SC2086 # one word per path
    (cd "$1" && rm -rf $DEB_CLI_PATHS)
    stage_deb "$1" "$2" tini
}

stage_deb_cli() {  # stage_deb_cli ROOT DEBARCH: the CLI part of docker.io, with its copyright
    # shellcheck disable=SC2086 # one word per path
    stage_deb "$1" "$2" docker.io $DEB_CLI_PATHS
    mkdir -p "$1/usr/share/doc/docker-ce-cli"
    cp -al "$WORK/deb-$2/docker.io/usr/share/doc/docker.io/copyright" "$1/usr/share/doc/docker-ce-cli/"
}

# The Python stand-ins' files, for the .debs of Docker's apt repositories only; the RPMs carry Debian's real engine
# (stage_deb).
stage_containerd() {  # stage_containerd ROOT VERSION ARCH UPSTREAM: containerd.io's containerd, ctr, runc and unit
    r=$1
    install -d "$r/usr/bin" "$r/usr/share/doc/containerd.io" "$r/lib/systemd/system" "$r/etc/containerd"
    for f in containerd ctr runc; do
        dsubst "$SRC/docker/$f" "$2" "$3" "$4" > "$r/usr/bin/$f"
        chmod 0755 "$r/usr/bin/$f"
    done
    install -m 0644 "$SRC/docker/containerd.service" "$r/lib/systemd/system/"
    install -m 0644 "$SRC/docker/config.toml" "$r/etc/containerd/"
    echo "Stand-in containerd.io $2 built by the fleet.ecs_anywhere test suite." \
        > "$r/usr/share/doc/containerd.io/README.standin"
}

stage_engine() {  # stage_engine ROOT VERSION ARCH UPSTREAM: docker-ce's dockerd and its units
    r=$1
    install -d "$r/usr/bin" "$r/lib/systemd/system" "$r/usr/share/doc/docker-ce"
    dsubst "$SRC/docker/dockerd" "$2" "$3" "$4" > "$r/usr/bin/dockerd"
    chmod 0755 "$r/usr/bin/dockerd"
    install -m 0644 "$SRC/docker/docker.service" "$SRC/docker/docker.socket" "$r/lib/systemd/system/"
    echo "Stand-in docker-ce ${2#*:} built by the fleet.ecs_anywhere test suite." \
        > "$r/usr/share/doc/docker-ce/README.standin"
}

stage_cli() {  # stage_cli ROOT VERSION ARCH UPSTREAM: docker-ce-cli's docker
    r=$1
    install -d "$r/usr/bin" "$r/usr/share/doc/docker-ce-cli"
    dsubst "$SRC/docker/docker" "$2" "$3" "$4" > "$r/usr/bin/docker"
    chmod 0755 "$r/usr/bin/docker"
    echo "Stand-in docker-ce-cli ${2#*:} built by the fleet.ecs_anywhere test suite." \
        > "$r/usr/share/doc/docker-ce-cli/README.standin"
}

CONTAINERD_CONFFILES=/etc/containerd/config.toml

build_containerd() {  # build_containerd VERSION ARCH
    v=$1 arch=$2 up=${1%-*}
    r="$WORK/containerd-$v-$arch"
    units="" services=""
    stage_containerd "$r" "$v" "$arch" "$up"
    install -d "$r/DEBIAN"
    echo "$CONTAINERD_CONFFILES" > "$r/DEBIAN/conffiles"
    docker_package "$r" containerd.io "$v" "$arch" "$up" "$OUT/docker/containerd.io_${v}_${arch}.deb" \
        containerd.service containerd.service
    for tag in $DOCKER_RPM_TAGS; do
        r="$WORK/rpm-containerd.io-$v.$tag-$arch"
        stage_deb "$r" "$arch" containerd
        stage_deb "$r" "$arch" runc
        docker_rpm "$r" containerd.io "$v.$tag" "$arch" "$OUT/docker/rpm" containerd.service containerd.service
    done
}

build_docker() {  # build_docker VERSION CODENAME:NUMBER ARCH [DISTRO] -> docker-ce and docker-ce-cli (.debs)
    full="${1}~${4:-debian}.${2#*:}~${2%:*}" arch=$3 up=${1%-*}
    units="" services=""
    r="$WORK/docker-ce-$full-$arch"
    stage_engine "$r" "5:$full" "$arch" "$up"
    install -d "$r/DEBIAN"
    docker_package "$r" docker-ce "5:$full" "$arch" "$up" "$OUT/docker/docker-ce_${full}_${arch}.deb" \
        "docker.socket docker.service" docker.service

    units="" services=""
    r="$WORK/docker-ce-cli-$full-$arch"
    stage_cli "$r" "5:$full" "$arch" "$up"
    install -d "$r/DEBIAN"
    docker_package "$r" docker-ce-cli "5:$full" "$arch" "$up" "$OUT/docker/docker-ce-cli_${full}_${arch}.deb"
}

build_docker_rpm() {  # build_docker_rpm VERSION TAG ARCH -> docker-ce and docker-ce-cli (RPMs, Epoch 3)
    v="$1.$2" arch=$3
    r="$WORK/rpm-docker-ce-$v-$arch"
    stage_deb_engine "$r" "$arch"
    docker_rpm "$r" docker-ce "$v" "$arch" "$OUT/docker/rpm" "docker.socket docker.service" docker.service
    r="$WORK/rpm-docker-ce-cli-$v-$arch"
    stage_deb_cli "$r" "$arch"
    docker_rpm "$r" docker-ce-cli "$v" "$arch" "$OUT/docker/rpm"
}

build_distro() {  # build_distro REPO ARCH -> the distribution's own docker, containerd and runc (RPMs)
    repo=$1 arch=$2 out="$OUT/docker/rpm/$1" slug=$(echo "$1" | tr / -)
    case $repo in amazonlinux/*) vendor="Amazon Linux" ;; suse/*) vendor="SUSE LLC <https://www.suse.com/>" ;; esac
    for v in $DOCKER_VERSIONS; do
        distro_evr "$repo" docker "${v%-*}" "${v##*-}"
        r="$WORK/rpm-distro-$slug-docker-$dv-$dr-$arch"
        stage_deb "$r" "$arch" docker.io
        stage_deb "$r" "$arch" tini
        docker_rpm "$r" docker "$dv-$dr" "$arch" "$out" "docker.socket docker.service" docker.service
    done
    for v in $CONTAINERD_VERSIONS; do
        distro_evr "$repo" containerd "${v%-*}" "${v##*-}"
        r="$WORK/rpm-distro-$slug-containerd-$dv-$dr-$arch"
        stage_deb "$r" "$arch" containerd
        docker_rpm "$r" containerd "$dv-$dr" "$arch" "$out" containerd.service containerd.service
    done
    distro_evr "$repo" runc "$RUNC_VERSION" 1
    r="$WORK/rpm-distro-$slug-runc-$dv-$dr-$arch"
    stage_deb "$r" "$arch" runc
    docker_rpm "$r" runc "$dv-$dr" "$arch" "$out"
    vendor=""
}

for arch in $ARCHES; do
    for v in $SSM_VERSION $SSM_NEXT_VERSION; do build_ssm "$v" "$arch"; done
    for v in $ECS_VERSIONS; do build_ecs "$v" "$arch"; done
done
# The mirror takes every package under docker/: none may be left from other versions.
rm -rf "$OUT/docker"
mkdir -p "$OUT/docker/rpm"
for arch in $DOCKER_ARCHES; do
    unpack_debs "$arch"
    for v in $CONTAINERD_VERSIONS; do build_containerd "$v" "$arch"; done
    for cn in $DOCKER_CODENAMES; do
        for v in $DOCKER_VERSIONS; do build_docker "$v" "$cn" "$arch"; done
    done
    for cn in $DOCKER_UBUNTU_CODENAMES; do
        for v in $DOCKER_VERSIONS; do build_docker "$v" "$cn" "$arch" ubuntu; done
    done
    for tag in $DOCKER_RPM_TAGS; do
        for v in $DOCKER_VERSIONS; do build_docker_rpm "$v" "$tag" "$arch"; done
    done
    for repo in $DOCKER_DISTRO_REPOS; do build_distro "$repo" "$arch"; done
done
rpm_build_all
echo "$stamp" > "$OUT/.inputs.sha256"
