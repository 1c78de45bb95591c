"""Shared fixtures of the role tests."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def workdir(request):
    """A private directory holding the test module's PLAYBOOK (and, while it runs, its 0600 variables file)."""
    name = request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")
    path = Path(tempfile.mkdtemp(prefix=f"ecsa-{name}-"))
    path.chmod(0o700)
    (path / "play.yml").write_text(request.module.PLAYBOOK)
    yield path
    shutil.rmtree(path, ignore_errors=True)
