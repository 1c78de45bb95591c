"""AWS emulator for the collection's tests: moto 5.2.5 server plus our bounded SSM/ECS extension.

`install()` patches moto in-process (server mode and `mock_aws()` alike); `self_check()` asserts the
moto internals we depend on still look the way this code expects, so a moto upgrade fails loudly.
See docs/aws-emulation.md and tests/emulator/PROTOCOL.md.
"""

# moto is imported lazily on purpose: `python -m tests.emulator` must bind its sockets before paying
# for moto's imports, and importing this package must stay cheap.
# ruff: noqa: PLC0415

from __future__ import annotations

import threading

from .compat import EmulatorIncompatible
from .compat import self_check

__all__ = ["EmulatorIncompatible", "install", "self_check"]

_install_state = {"installed": False}
_install_lock = threading.Lock()


def install() -> None:
    """Apply all patches once; later calls are no-ops."""
    with _install_lock:
        if _install_state["installed"]:
            return
        self_check()
        from moto.ecs.responses import EC2ContainerServiceResponse
        from moto.iam.models import IAMBackend
        from moto.moto_server import werkzeug_app
        from moto.ssm.responses import SimpleSystemManagerResponse

        from . import ecs_external
        from . import iam_policies
        from . import ssm_hybrid

        for name, method in ssm_hybrid.NEW_METHODS.items():
            setattr(SimpleSystemManagerResponse, name, method)
        for name, ours in ssm_hybrid.TAG_METHODS.items():
            original = getattr(SimpleSystemManagerResponse, name)
            setattr(SimpleSystemManagerResponse, name, ssm_hybrid.managed_instance_tag_method(ours, original))
        for name, method in ecs_external.NEW_METHODS.items():
            setattr(EC2ContainerServiceResponse, name, method)
        for name, ours in ecs_external.TAG_METHODS.items():
            original = getattr(EC2ContainerServiceResponse, name)
            setattr(EC2ContainerServiceResponse, name, ecs_external.container_instance_tag_method(ours, original))
        IAMBackend._init_aws_policies = iam_policies.init_aws_policies
        # The SSM agent registers with anonymous credentials; without this moto routes it to S3.
        werkzeug_app.UNSIGNED_REQUESTS["AmazonSSM"] = ("ssm", "us-east-1")
        _install_state["installed"] = True
