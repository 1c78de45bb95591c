#!/usr/bin/env bash
# Run integration targets against the AWS emulator: `tests/integration/run.sh [TARGET ...]` (default: all).
# Each target gets an emulator of its own, so that targets cannot lean on each other. A target is one chain of
# processes (ansible-playbook, then one module at a time) that keeps about one core busy, so INTEGRATION_JOBS targets
# (default: 2, the cores of our machines) run side by side; each one's output is shown whole once it ends.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
bin="$repo/.venv/bin"
state=$(mktemp -d)
trap 'rm -rf "$state"' EXIT

export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export ANSIBLE_COLLECTIONS_PATH="$repo/build/collections" ANSIBLE_CONFIG="$repo/tests/ansible.cfg"
export PATH="$bin:$PATH" bin state

# run_target NAME: start an emulator, run the target against it, stop it. Writes $state/NAME/{output.log,rc}.
run_target() {
  local target=$1 dir="$state/$1" emulator port rc=0
  mkdir -p "$dir"
  "$bin/python" -m tests.emulator --host 127.0.0.1 --port 0 --port-file "$dir/port" >"$dir/emulator.log" 2>&1 &
  emulator=$!
  # shellcheck disable=SC2064 # the emulator of this call, fixed now: the variable is gone when the shell exits
  trap "kill $emulator 2>/dev/null || true" EXIT
  for _ in $(seq 1 300); do
    [ -s "$dir/port" ] && break
    sleep 0.1
  done
  if [ ! -s "$dir/port" ]; then
    { echo "ERROR: the emulator did not start"; cat "$dir/emulator.log"; } >"$dir/output.log"
    echo 1 >"$dir/rc"
    return 0
  fi
  port=$(cat "$dir/port")
  export AWS_ENDPOINT_URL="http://127.0.0.1:$port" EMULATOR_URL="http://127.0.0.1:$port"
  # Modules run on the controller with the venv that has boto3, not with whatever python3 is first on PATH.
  "$bin/ansible-playbook" -i localhost, -c local -e "ansible_python_interpreter=$bin/python" \
    tests/integration/target.yml -e "target=$target" >"$dir/output.log" 2>&1 || rc=$?
  if [ "$rc" -ne 0 ]; then
    { echo "emulator log: last lines"; tail -20 "$dir/emulator.log"; } >>"$dir/output.log"
  fi
  echo "$rc" >"$dir/rc"
}
export -f run_target

if [ "$#" -eq 0 ]; then
  mapfile -t targets < <(find tests/integration/targets -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sort)
  set -- "${targets[@]}"
fi
for target in "$@"; do
  [ -f "tests/integration/targets/$target/tasks/main.yml" ] || { echo "ERROR: no target '$target'" >&2; exit 2; }
done
# shellcheck disable=SC2016 # $1 is expanded by the shell xargs starts
printf '%s\n' "$@" | xargs -P "${INTEGRATION_JOBS:-2}" -I{} bash -c 'run_target "$1"' _ {}

failed=()
for target in "$@"; do
  echo "=== integration target: $target"
  cat "$state/$target/output.log"
  [ "$(cat "$state/$target/rc" 2>/dev/null || echo 1)" = 0 ] || failed+=("$target")
done
if [ "${#failed[@]}" -gt 0 ]; then
  echo "FAILED integration targets: ${failed[*]}" >&2
  exit 1
fi
echo "integration: $# target(s) passed"
