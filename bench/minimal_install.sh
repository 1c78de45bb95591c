#!/usr/bin/env bash
# The bare minimum by hand, for the benchmark against the external_instance role (bench/bench_role_vs_shell.py):
# install the engine, install both agent packages, register, write the two ECS config files, start, wait for the
# container instance ARN. No preflight, no idempotency: a baseline, not a way to install. The path follows
# /etc/os-release:
#   Debian family: docker.io with apt, the agents' .deb files with apt, no signature checks.
#   RHEL family (dnf): docker-ce, docker-ce-cli and containerd.io from Docker's RPM repository on the mirror
#     (<BASE_URL>/docker/linux/centos/<major>/<arch>/stable, packages checked against SIGNING_KEY), the agents'
#     .rpm files checked with gpgv against their detached signatures, installed with dnf.
#   SUSE family: the distribution's docker package with zypper from the repository the host already has (on a
#     synthetic host the bench configures the mirror's stand-in before the clock starts, for both sides), the
#     agents' .rpm files checked as on dnf and installed with zypper.
#
# Environment: BASE_URL (package mirror), ENDPOINT (SSM and ECS API), REGION, CLUSTER, ACTIVATION_ID,
# ACTIVATION_CODE, ARCH (amd64|arm64, default amd64); DOCKER_PACKAGES (default docker.io) and APT_RECOMMENDS
# (default true, as AWS's installer) for the engine's apt transaction; SIGNING_KEY (armored key file that signs the
# mirror's RPM repository and agent files, default /root/fleet-test-signing-key.asc) on the RPM paths.
set -euo pipefail
: "${BASE_URL:?}" "${ENDPOINT:?}" "${REGION:?}" "${CLUSTER:?}" "${ACTIVATION_ID:?}" "${ACTIVATION_CODE:?}"
arch=${ARCH:-amd64}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fetch() {
  python3 -c 'import sys, urllib.request; urllib.request.urlretrieve(sys.argv[1], sys.argv[2])' "$1" "$2"
}

# shellcheck disable=SC1091 # the host's own file
. /etc/os-release
case " $ID ${ID_LIKE:-} " in
  *" suse "*) family=suse ;;
  *" rhel "* | *" fedora "*) family=dnf ;;
  *) family=debian ;;
esac

if [ "$family" = debian ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  recommends=()
  [ "${APT_RECOMMENDS:-true}" = true ] || recommends=(--no-install-recommends)
  # shellcheck disable=SC2086 # a list of package names
  apt-get install -y -qq "${recommends[@]}" ${DOCKER_PACKAGES:-docker.io} >/dev/null

  fetch "$BASE_URL/amazon-ssm-$REGION/latest/debian_$arch/amazon-ssm-agent.deb" "$work/amazon-ssm-agent.deb"
  fetch "$BASE_URL/amazon-ecs-agent-$REGION/amazon-ecs-init-latest.$arch.deb" "$work/amazon-ecs-init.deb"
  mkdir -p /etc/amazon/ssm
  printf '{"Ssm": {"Endpoint": "%s"}}\n' "$ENDPOINT" >/etc/amazon/ssm/amazon-ssm-agent.json
  apt-get install -y -qq "$work/amazon-ssm-agent.deb" "$work/amazon-ecs-init.deb" >/dev/null
else
  key=${SIGNING_KEY:-/root/fleet-test-signing-key.asc}
  rpm_arch=x86_64
  [ "$arch" = amd64 ] || rpm_arch=aarch64
  if [ "$family" = dnf ]; then
    rpm --import "$key"
    printf '[docker-ce-stable]\nname=Docker CE Stable\nbaseurl=%s\ngpgcheck=1\ngpgkey=file://%s\n' \
      "$BASE_URL/docker/linux/centos/${VERSION_ID%%.*}/$rpm_arch/stable" "$key" >/etc/yum.repos.d/docker-ce.repo
    dnf install -y -q docker-ce docker-ce-cli containerd.io >/dev/null
  else
    zypper --non-interactive --quiet install docker >/dev/null
  fi
  systemctl enable --now docker

  fetch "$BASE_URL/amazon-ssm-$REGION/latest/linux_$arch/amazon-ssm-agent.rpm" "$work/amazon-ssm-agent.rpm"
  fetch "$BASE_URL/amazon-ssm-$REGION/latest/linux_$arch/amazon-ssm-agent.rpm.sig" "$work/amazon-ssm-agent.rpm.sig"
  fetch "$BASE_URL/amazon-ecs-agent-$REGION/amazon-ecs-init-latest.$rpm_arch.rpm" "$work/amazon-ecs-init.rpm"
  fetch "$BASE_URL/amazon-ecs-agent-$REGION/amazon-ecs-init-latest.$rpm_arch.rpm.asc" "$work/amazon-ecs-init.rpm.asc"
  gpg --dearmor <"$key" >"$work/key.gpg"
  gpgv -q --keyring "$work/key.gpg" "$work/amazon-ssm-agent.rpm.sig" "$work/amazon-ssm-agent.rpm" 2>/dev/null
  gpgv -q --keyring "$work/key.gpg" "$work/amazon-ecs-init.rpm.asc" "$work/amazon-ecs-init.rpm" 2>/dev/null
  mkdir -p /etc/amazon/ssm
  printf '{"Ssm": {"Endpoint": "%s"}}\n' "$ENDPOINT" >/etc/amazon/ssm/amazon-ssm-agent.json
  if [ "$family" = dnf ]; then
    dnf install -y -q --setopt=localpkg_gpgcheck=False "$work/amazon-ssm-agent.rpm" "$work/amazon-ecs-init.rpm" >/dev/null
  else
    zypper --non-interactive --quiet --no-gpg-checks install --allow-unsigned-rpm \
      "$work/amazon-ssm-agent.rpm" "$work/amazon-ecs-init.rpm" >/dev/null
  fi
fi

systemctl stop amazon-ssm-agent || true
amazon-ssm-agent -register -code "$ACTIVATION_CODE" -id "$ACTIVATION_ID" -region "$REGION"
systemctl enable --now amazon-ssm-agent

mkdir -p /etc/ecs /var/lib/ecs
printf 'ECS_CLUSTER=%s\n' "$CLUSTER" >/etc/ecs/ecs.config
printf 'AWS_DEFAULT_REGION=%s\nECS_EXTERNAL=true\nECS_BACKEND_HOST=%s\n' "$REGION" "$ENDPOINT" >/var/lib/ecs/ecs.config
systemctl enable --now ecs

for _ in $(seq 1 120); do
  arn=$(python3 -c 'import json, urllib.request
try:
    print(json.load(urllib.request.urlopen("http://127.0.0.1:51678/v1/metadata", timeout=2)).get("ContainerInstanceArn") or "")
except Exception:
    print("")')
  if [ -n "$arn" ]; then
    echo "$arn"
    exit 0
  fi
  sleep 1
done
echo "no container instance ARN after 120 s" >&2
exit 1
