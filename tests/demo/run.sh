#!/usr/bin/env bash
# make demo: an offline AWS (emulator + signed package mirror) and three Debian 12 hosts (demo-host1..3)
# registered as ECS Anywhere external instances through the collection's playbooks, then the fleet report.
# Running it again reuses the world: 0 changed, no new activation, the same fleet. make demo-clean removes it.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$REPO"
NAME="${ECSA_DEMO_NAME:-demo}"
OUT="$REPO/build/demo"
PY="$REPO/.venv/bin/python"
START=$(date +%s)

say() { printf '\n==> %s\n' "$*"; }

say "Docker engine, venv, host image and stand-in agents"
tests/harness/ensure-docker.sh
make -s venv image-debian12 agents

say "Offline world: emulator, mirror and three hosts"
"$PY" -m tests.demo.world ensure --name "$NAME" --hosts 3 --host-prefix demo-host
mkdir -p "$OUT"
"$PY" -m tests.demo.inventory --world "$NAME" --out "$OUT/inventory.yml" --cluster demo --report-path "$OUT/fleet" >/dev/null
eval "$("$PY" -m tests.demo.world env --name "$NAME")"
export ANSIBLE_COLLECTIONS_PATH="$REPO/build/collections" ANSIBLE_CONFIG="$REPO/tests/ansible.cfg"
export PATH="$REPO/.venv/bin:$PATH"

STATS_BEFORE="$("$PY" -m tests.demo.world stats --name "$NAME")"

say "ansible-playbook fleet.ecs_anywhere.prerequisites"
ansible-playbook -i "$OUT/inventory.yml" fleet.ecs_anywhere.prerequisites | tee "$OUT/prerequisites.log" | sed -n '/PLAY RECAP/,$p'

say "ansible-playbook fleet.ecs_anywhere.register"
ansible-playbook -i "$OUT/inventory.yml" fleet.ecs_anywhere.register > "$OUT/register.log" 2>&1 || {
    tail -60 "$OUT/register.log"; echo "register failed: full log in $OUT/register.log" >&2; exit 1; }
sed -n '/PLAY RECAP/,$p' "$OUT/register.log"

STATS_AFTER="$("$PY" -m tests.demo.world stats --name "$NAME")"
say "Fleet report ($OUT/fleet.md, $OUT/fleet.json)"
cat "$OUT/fleet.md"

"$PY" - "$STATS_BEFORE" "$STATS_AFTER" "$OUT/register.log" "$("$PY" -m tests.demo.world summary --name "$NAME")" <<'PYEOF'
import json, re, sys
before, after, log, summary = json.loads(sys.argv[1]), json.loads(sys.argv[2]), open(sys.argv[3]).read(), json.loads(sys.argv[4])
recap = log[log.rfind("PLAY RECAP"):]
changed = sum(int(n) for n in re.findall(r"changed=(\d+)", recap))
delta = lambda k: after.get(k, 0) - before.get(k, 0)
print(f"\nregister: changed={changed}, CreateActivation calls={delta('ssm:CreateActivation')}, "
      f"DeleteActivation calls={delta('ssm:DeleteActivation')}")
print(f"emulator: {len(summary['managed_instances'])} managed instances ({', '.join(summary['managed_instances'])}), "
      f"{summary['active_container_instances']} ACTIVE container instances, {summary['activations']} activations left")
PYEOF
say "Done in $(( $(date +%s) - START )) s. Run 'make demo' again: nothing changes. 'make demo-clean' removes it all."
