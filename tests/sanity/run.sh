#!/usr/bin/env bash
# ansible-test sanity needs the collection at .../ansible_collections/fleet/ecs_anywhere. Stage what the
# collection ships (the build_ignore of galaxy.yml applies) plus its unit and integration tests, and run there.
# The offline AWS world (tests/emulator, tests/agents, tests/harness) is test tooling, checked by ruff instead.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
# ansible-test --venv bootstraps pip from the internet; a venv of our own with its pinned sanity requirements works offline.
SANITY_VENV="$repo/build/sanity-venv"
reqs="$repo/.venv/lib/python3.11/site-packages/ansible_test/_data/requirements"
if [ ! -x "$SANITY_VENV/bin/ansible-test" ] || [ "$reqs/ansible.txt" -nt "$SANITY_VENV/bin/ansible-test" ]; then
  python3 -m venv "$SANITY_VENV"
  core=$(grep -i "^ansible-core==" "$repo/requirements/dev.txt")
  mapfile -t boto < <(grep -iE "^(boto3|botocore)==" "$repo/requirements/dev.txt")
  sanity_reqs=()
  for f in "$reqs"/sanity.*.txt; do sanity_reqs+=(-r "$f"); done
  "$SANITY_VENV/bin/pip" install --quiet "$core" "${boto[@]}" "${sanity_reqs[@]}"
fi
pip_version=$(grep -oP "pip='\K[0-9.]+" "$SANITY_VENV"/lib/python3*/site-packages/ansible_test/_internal/python_requirements.py)
mkdir -p ~/.ansible/test/cache
cp "$repo/tests/sanity/get_pip_offline.py" ~/.ansible/test/cache/"get_pip_${pip_version//./_}.py"
# The shellcheck sanity test is skipped with only a warning when the program is missing.
if ! command -v shellcheck >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ] && [ -f /etc/debian_version ]; then
  apt-get install -y -qq shellcheck >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq shellcheck >/dev/null; }
fi
root=$(mktemp -d "${TMPDIR:-/tmp}/ecsa-sanity.XXXXXX")
trap 'rm -rf "$root"' EXIT
stage="$root/ansible_collections/fleet/ecs_anywhere"
mkdir -p "$stage"
cd "$repo"
git ls-files --cached --others --exclude-standard -z \
  | grep -zvE '^(\.ci/|\.venv/|bench/|build/|molecule/|requirements/|tests/(agents|build|demo|e2e|emulator|harness|images|proving|roles)/|tests/__init__\.py|tests/molecule\.sh|tests/README\.md|Makefile$|pyproject\.toml$)' \
  | xargs -0 -I{} cp --parents {} "$stage/"
cd "$stage"
# Outside any git work tree ansible-test lists the files itself; inside ours it would see only tracked ones.
# validate-modules imports the modules: amazon.aws must be importable from the staged tree's parent.
ln -sfn "$("$repo/.venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/ansible_collections/amazon" \
  "$root/ansible_collections/amazon"
"$SANITY_VENV/bin/ansible-test" sanity --local --python 3.11 --color no "$@"
