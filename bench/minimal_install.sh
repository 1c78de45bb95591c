#!/usr/bin/env bash
# The bare minimum by hand, for the benchmark against the external_instance role (bench/bench_role_vs_shell.py):
# install docker.io, install both agent packages, register, write the two ECS config files, start, wait for the
# container instance ARN. No preflight, no signature checks, no idempotency: a baseline, not a way to install.
#
# Environment: BASE_URL (package mirror), ENDPOINT (SSM and ECS API), REGION, CLUSTER, ACTIVATION_ID,
# ACTIVATION_CODE, ARCH (amd64|arm64, default amd64); DOCKER_PACKAGES (default docker.io) and APT_RECOMMENDS
# (default true, as AWS's installer) for the engine's apt transaction.
set -euo pipefail
: "${BASE_URL:?}" "${ENDPOINT:?}" "${REGION:?}" "${CLUSTER:?}" "${ACTIVATION_ID:?}" "${ACTIVATION_CODE:?}"
arch=${ARCH:-amd64}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fetch() {
  python3 -c 'import sys, urllib.request; urllib.request.urlretrieve(sys.argv[1], sys.argv[2])' "$1" "$2"
}

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
