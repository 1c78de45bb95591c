#!/usr/bin/env bash
# Run a molecule scenario against the offline world: start the AWS emulator and the package mirror on a
# Docker network of their own (tests/harness), export ECSA_* for molecule.yml, run molecule, tear down.
#
#   tests/molecule.sh [SCENARIO] [MOLECULE COMMAND...]     (default: default test)
#   MOLECULE_DISTRO=debian11|debian12|debian13 (default debian12): the host of the default scenario
#   ECSA_FAMILY_1..4: the synthetic hosts of the families scenario (defaults in molecule/families/molecule.yml)
#   MOLECULE_IMAGE=<registry image> (default scenario): a real distribution image instead of ours, prepared for the
#     scenario by molecule/shared/Dockerfile.j2 (systemd, Python, GnuPG); its own repositories must be reachable.
#     The README lists the images it is meant for; none could be pulled where this suite is developed.
#     MOLECULE_IMAGE_PULL=false takes the image from the local engine as it is (one loaded with docker load).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
scenario=${1:-default}
shift || true
[ "$#" -gt 0 ] || set -- test

export MOLECULE_DISTRO=${MOLECULE_DISTRO:-debian12}
python=${PYTHON:-$repo/.venv/bin/python}
bin=$(dirname "$python")
export PATH="$bin:$PATH"
name="mol-${scenario//_/-}-${MOLECULE_DISTRO}"

cd "$repo"
# The collection is importable as fleet.ecs_anywhere through this link (also made by `make venv`).
link=build/collections/ansible_collections/fleet/ecs_anywhere
if [ ! -e "$link" ]; then
  mkdir -p "$(dirname "$link")"
  ln -sfn ../../../.. "$link"
fi
hosts_label=$MOLECULE_DISTRO
real_image=""
if [ "$scenario" = families ]; then
  # The images the scenario's platforms name (the defaults there, unless ECSA_FAMILY_N says otherwise).
  mapfile -t images < <(sed -n 's/^ *image: ecsa-host:\${\(ECSA_FAMILY_[0-9]\):-\([^}]*\)}$/\1 \2/p' molecule/families/molecule.yml \
    | while read -r var default; do echo "${!var:-$default}"; done)
  tests/images/build.sh "${images[@]}"
  hosts_label="${images[*]}"
elif [ -n "${MOLECULE_IMAGE:-}" ]; then
  real_image=$MOLECULE_IMAGE
  hosts_label="$MOLECULE_IMAGE (real)"
else
  tests/images/build.sh "$MOLECULE_DISTRO"
fi
# The default scenario's host: our image as it is, or a real one that molecule builds a prepared image from.
if [ -n "$real_image" ]; then
  export ECSA_HOST_IMAGE=$real_image ECSA_HOST_PREBUILT=false ECSA_OWN_IMAGE=false
  if [ "${MOLECULE_IMAGE_PULL:-true}" != false ]; then docker pull "$real_image"; fi
  export ECSA_HOST_NAME="ecsa-molecule-$(printf %s "$real_image" | tr -c 'a-zA-Z0-9' '-')"
else
  export ECSA_HOST_IMAGE="ecsa-host:$MOLECULE_DISTRO" ECSA_HOST_PREBUILT=true ECSA_HOST_NAME="ecsa-molecule-$MOLECULE_DISTRO"
  # An image of this suite's making: prepare gives a synthetic one what a real host of its distribution comes with
  # (the distribution's repository, Ubuntu's snap agent).
  export ECSA_OWN_IMAGE=true
fi

trap '"$python" -m tests.harness down --name "$name"' EXIT
"$python" -m tests.harness up --name "$name" >/dev/null
# What molecule.yml and the scenario playbooks read: endpoints for the hosts and for the controller.
eval "$("$python" -m tests.harness show --name "$name" --format env)"
export ANSIBLE_COLLECTIONS_PATH="$repo/build/collections"

start=$(date +%s)
status=0
molecule "$@" -s "$scenario" || status=$?
echo "tests/molecule.sh: molecule $* -s $scenario on $hosts_label: exit $status after $(( $(date +%s) - start ))s"
exit "$status"
