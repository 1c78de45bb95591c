# Copyright: fleet.ecs_anywhere contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared fixtures for the collection's unit tests.

* Makes ``ansible_collections.fleet.ecs_anywhere`` importable: ``ansible_collections`` is a namespace
  package, so adding ``build/collections`` (the symlink tree ``make`` creates) next to the
  ``ansible_collections`` of site-packages (amazon.aws) is enough.
* ``run_module``: runs a module's ``main()`` in-process and returns its result dict.
* ``aws_env``: dummy credentials and region, with any real endpoint or profile removed.
"""

from __future__ import annotations

import os
import pathlib
import sys
from unittest import mock

import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]


def _collection_paths():
    paths = [p for p in os.environ.get("ANSIBLE_COLLECTIONS_PATH", "").split(os.pathsep) if p]
    paths.append(str(REPO_ROOT / "build" / "collections"))
    return paths


for _path in _collection_paths():
    if (pathlib.Path(_path) / "ansible_collections").is_dir() and _path not in sys.path:
        sys.path.append(_path)
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))


class ModuleExit(Exception):
    """Raised instead of exit_json/fail_json so a test can inspect the result."""

    def __init__(self, result, failed):
        super().__init__(result.get("msg", ""))
        self.result = result
        self.failed = failed


def _run(module, args, check_mode=False, diff=False):
    from ansible.module_utils import basic
    from ansible.module_utils.testing import patch_module_args

    warnings = []

    def exit_json(self, **kwargs):
        kwargs.setdefault("changed", False)
        raise ModuleExit(kwargs, failed=False)

    def fail_json(self, msg, **kwargs):
        kwargs["msg"] = msg
        kwargs["failed"] = True
        raise ModuleExit(kwargs, failed=True)

    def warn(self, warning, **kwargs):
        warnings.append(warning)

    module_args = dict(args)
    module_args["_ansible_check_mode"] = check_mode
    module_args["_ansible_diff"] = diff
    with (
        patch_module_args(module_args),
        mock.patch.object(basic.AnsibleModule, "exit_json", exit_json),
        mock.patch.object(basic.AnsibleModule, "fail_json", fail_json),
        mock.patch.object(basic.AnsibleModule, "warn", warn),
    ):
        try:
            module.main()
        except ModuleExit as e:
            e.result["warnings"] = warnings
            return e.result
    raise AssertionError(f"{module.__name__}.main() returned without exit_json or fail_json")


@pytest.fixture
def run_module():
    """``run_module(module, args, check_mode=False, diff=False) -> dict`` (``failed`` set on fail_json)."""
    return _run


@pytest.fixture
def aws_env(monkeypatch):
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    # Nothing may reach a real endpoint from a unit test.
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)


@pytest.fixture(scope="session")
def signing():
    """Real keys and detached signatures (tests/unit/signing.py), made once; skips when gpg cannot be had."""
    from tests.unit import signing as signing_module

    missing, said = signing_module.ensure_tools()
    if {"gpg", "gpg-agent"} & set(missing):
        pytest.skip(
            "gpg and gpg-agent make the keys of the signature tests; tests/harness/ensure-build-tools.sh signatures "
            f"installs them (as root on Debian): {said or 'not installed'}"
        )
    made = signing_module.make_signing()
    made.missing = missing
    made.ensure_said = said
    try:
        yield made
    finally:
        made.close()
