#!/usr/bin/env bash
# Run integration targets against the AWS emulator: `tests/integration/run.sh [TARGET ...]` (default: all).
# Each target gets a fresh emulator state (POST /moto-api/reset) so that targets cannot lean on each other.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
bin="$repo/.venv/bin"
state=$(mktemp -d)
cleanup() {
  if [ -f "$state/pid" ]; then
    kill "$(cat "$state/pid")" 2>/dev/null || true
  fi
  rm -rf "$state"
}
trap cleanup EXIT

"$bin/python" -m tests.emulator --host 127.0.0.1 --port 0 --port-file "$state/port" >"$state/emulator.log" 2>&1 &
echo $! >"$state/pid"
for _ in $(seq 1 100); do
  [ -s "$state/port" ] && break
  sleep 0.1
done
[ -s "$state/port" ] || { cat "$state/emulator.log"; echo "ERROR: the emulator did not start" >&2; exit 1; }
port=$(cat "$state/port")

export AWS_ENDPOINT_URL="http://127.0.0.1:$port" EMULATOR_URL="http://127.0.0.1:$port"
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export ANSIBLE_COLLECTIONS_PATH="$repo/build/collections" ANSIBLE_CONFIG="$repo/tests/ansible.cfg"
export PATH="$bin:$PATH"

if [ "$#" -eq 0 ]; then
  mapfile -t targets < <(find tests/integration/targets -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sort)
  set -- "${targets[@]}"
fi
failed=()
for target in "$@"; do
  [ -f "tests/integration/targets/$target/tasks/main.yml" ] || { echo "ERROR: no target '$target'" >&2; exit 2; }
  curl -fsS -X POST "$EMULATOR_URL/moto-api/reset" >/dev/null
  echo "=== integration target: $target"
  # Modules run on the controller with the venv that has boto3, not with whatever python3 is first on PATH.
  if ! "$bin/ansible-playbook" -i localhost, -c local -e "ansible_python_interpreter=$bin/python" \
      tests/integration/target.yml -e "target=$target"; then
    failed+=("$target")
  fi
done
if [ "${#failed[@]}" -gt 0 ]; then
  echo "FAILED integration targets: ${failed[*]}" >&2
  echo "emulator log: last lines"; tail -20 "$state/emulator.log"
  exit 1
fi
echo "integration: $# target(s) passed"
