#!/usr/bin/env bash
# The built collection installs offline, carries no test-only material, and its content loads from the install.
set -euo pipefail
tarball=${1:?usage: test_artifact.sh fleet-ecs_anywhere-X.tar.gz}
repo=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
site=$("$repo/.venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')

fail() { echo "FAIL: $*" >&2; exit 1; }

listing=$(tar -tzf "$tarball")
for forbidden in tests/emulator tests/agents tests/harness tests/images molecule/ bench/ .venv build/ Makefile requirements/; do
  if grep -q "^${forbidden}" <<<"$listing"; then
    fail "test-only path '$forbidden' is in $tarball"
  fi
done
for required in MANIFEST.json FILES.json meta/runtime.yml meta/execution-environment.yml requirements.txt README.md \
    plugins/module_utils/common.py; do
  grep -qx "$required" <<<"$listing" || fail "'$required' is missing from $tarball"
done

# --offline resolves amazon.aws from what is installed: the copy the `ansible` package ships.
ANSIBLE_COLLECTIONS_PATH="$work/collections:$site" \
  "$repo/.venv/bin/ansible-galaxy" collection install --offline -p "$work/collections" "$tarball" >"$work/install.log" 2>&1 \
  || { cat "$work/install.log"; fail "offline install of $tarball failed"; }
installed="$work/collections/ansible_collections/fleet/ecs_anywhere"
[ -f "$installed/MANIFEST.json" ] || fail "nothing installed at $installed"

version=$("$repo/.venv/bin/python" -c 'import json,sys; print(json.load(open(sys.argv[1]))["collection_info"]["version"])' "$installed/MANIFEST.json")
[ "$version" = "0.1.0" ] || fail "installed version is $version, expected 0.1.0"

# ansible-builder (execution environments for AWX and Automation Controller) finds the Python packages the
# controller-side modules need in the installed copy.
deps=$("$repo/.venv/bin/ansible-builder" introspect --sanitize "$work/collections") \
  || fail "ansible-builder introspect failed on the installed collection"
for requirement in boto3 botocore; do
  grep -Eq "^- '${requirement}>=[0-9.]+ +# from collection fleet.ecs_anywhere'" <<<"$deps" \
    || fail "ansible-builder does not see $requirement as a requirement of fleet.ecs_anywhere: $deps"
done

# The example execution environment (docs/examples/execution-environment) names this very tarball, and the build
# context ansible-builder makes of it copies the tarball in before Galaxy installs from it.
example="$repo/docs/examples/execution-environment"
mkdir -p "$work/ee" && cp "$example"/*.yml "$tarball" "$work/ee/"
"$repo/.venv/bin/ansible-builder" create -f "$work/ee/execution-environment.yml" --context "$work/ee/context" \
  >"$work/ee/create.log" 2>&1 || { cat "$work/ee/create.log"; fail "ansible-builder create failed on $example"; }
recipe="$work/ee/context/Dockerfile"
[ -f "$recipe" ] || recipe="$work/ee/context/Containerfile"
name=$(basename "$tarball")
copied=$(grep -n "^COPY _build/collections/$name /tmp/$name$" "$recipe" | cut -d: -f1)
installed_at=$(grep -n "ansible-galaxy collection install .*-r requirements.yml" "$recipe" | cut -d: -f1)
[ -n "$copied" ] && [ -n "$installed_at" ] && [ "$copied" -lt "$installed_at" ] \
  || fail "the build context of $example does not copy $name in before the collection install"
grep -q "name: /tmp/$name$" "$work/ee/context/_build/requirements.yml" \
  || fail "the example's requirements.yml does not install /tmp/$name"

# Every module and role documents itself from the installed copy, not from the checkout.
cd "$work"
export ANSIBLE_COLLECTIONS_PATH="$work/collections:$site"
for module in "$installed"/plugins/modules/*.py; do
  [ -e "$module" ] || continue
  name=$(basename "$module" .py)
  "$repo/.venv/bin/ansible-doc" "fleet.ecs_anywhere.$name" >/dev/null || fail "ansible-doc fleet.ecs_anywhere.$name failed"
done
for role in "$installed"/roles/*/; do
  [ -e "$role" ] || continue
  name=$(basename "$role")
  "$repo/.venv/bin/ansible-doc" -t role "fleet.ecs_anywhere.$name" >/dev/null || fail "ansible-doc -t role fleet.ecs_anywhere.$name failed"
done
echo "artifact OK: $(basename "$tarball") installs offline ($(grep -c . <<<"$listing") entries)"
