"""Start-up self-check: the moto internals the extension patches or relies on (docs/aws-emulation.md §2.1)."""

# Imports inside self_check() keep moto off the import path of this package (see __init__.py).
# ruff: noqa: PLC0415

from __future__ import annotations

import inspect

EXPECTED_MOTO = "5.2.5"


class EmulatorIncompatible(RuntimeError):
    pass


def _require(condition: bool, what: str) -> None:
    if not condition:
        raise EmulatorIncompatible(
            f"moto internals changed: {what}. The emulator extension was written against moto=={EXPECTED_MOTO}; "
            "pin it (requirements/dev.txt) or port tests/emulator to the new internals."
        )


def _params(func: object) -> list[str]:
    return list(inspect.signature(func).parameters)  # type: ignore[arg-type]


def self_check() -> None:
    import moto
    from moto.core import responses as core_responses
    from moto.core.base_backend import BaseBackend
    from moto.core.exceptions import ServiceException
    from moto.core.utils import method_names_from_class
    from moto.ecs import models as ecs_models
    from moto.ecs.responses import EC2ContainerServiceResponse
    from moto.iam import models as iam_models
    from moto.iam.models import iam_backends
    from moto.moto_server import werkzeug_app
    from moto.ssm.models import ssm_backends
    from moto.ssm.responses import SimpleSystemManagerResponse

    _require(moto.__version__ == EXPECTED_MOTO, f"moto version is {moto.__version__}, expected {EXPECTED_MOTO}")
    _require(hasattr(core_responses.BaseResponse, "call_action"), "BaseResponse.call_action is gone")
    _require(
        "method_names_from_class" in inspect.getsource(core_responses.BaseResponse.call_action),
        "call_action no longer looks handlers up with method_names_from_class on every request",
    )
    _require(_params(method_names_from_class) == ["clazz"], "method_names_from_class signature")
    _require(_params(ServiceException.__init__)[:1] == ["self"], "ServiceException.__init__ signature")
    _require(hasattr(BaseBackend, "reset"), "BaseBackend.reset is gone")
    _require(isinstance(getattr(werkzeug_app, "UNSIGNED_REQUESTS", None), dict), "werkzeug_app.UNSIGNED_REQUESTS")
    for name in ("DomainDispatcherApplication", "create_backend_app", "MotoRequestHandler"):
        _require(hasattr(werkzeug_app, name), f"moto.moto_server.werkzeug_app.{name}")
    ssm_members = (
        "ssm_backend",
        "get_current_account",
        "get_access_key",
        "add_tags_to_resource",
        "remove_tags_from_resource",
        "list_tags_for_resource",
    )
    for attr in ssm_members:
        _require(hasattr(SimpleSystemManagerResponse, attr), f"SimpleSystemManagerResponse.{attr}")
    for attr in (
        "ecs_backend",
        "tag_resource",
        "untag_resource",
        "list_tags_for_resource",
        "register_container_instance",
    ):
        _require(hasattr(EC2ContainerServiceResponse, attr), f"EC2ContainerServiceResponse.{attr}")
    _require(
        _params(ecs_models.ContainerInstance.__init__)
        == ["self", "ec2_instance_id", "account_id", "region_name", "cluster_name", "backend"],
        "ecs.models.ContainerInstance.__init__ signature",
    )
    _require(
        hasattr(ecs_models.ContainerInstance, "container_instance_arn"), "ContainerInstance.container_instance_arn"
    )
    _require(
        _params(ecs_models.EC2ContainerServiceBackend.register_container_instance)
        == ["self", "cluster_str", "ec2_instance_id"],
        "EC2ContainerServiceBackend.register_container_instance signature",
    )
    _require(hasattr(ecs_models.EC2ContainerServiceBackend, "enable_long_arn_for_name"), "enable_long_arn_for_name")
    probe = ecs_models.EC2ContainerServiceBackend("us-east-1", "000000000000")
    for attr in ("clusters", "container_instances", "account_settings"):
        _require(isinstance(getattr(probe, attr, None), dict), f"EC2ContainerServiceBackend().{attr}")
    _require(
        "registered_container_instances_count" in inspect.getsource(ecs_models.Cluster.__init__),
        "Cluster.registered_container_instances_count",
    )
    for backends in (ssm_backends, iam_backends, ecs_models.ecs_backends):
        _require(isinstance(backends, dict), "BackendDict is no longer a dict")
    _require(hasattr(iam_backends.backend, "get_roles"), "IAMBackend.get_roles")
    _require(
        "self._init_aws_policies()" in inspect.getsource(iam_models.IAMBackend.__init__),
        "IAMBackend.__init__ no longer builds the AWS managed policies with _init_aws_policies",
    )
    _require(
        _params(iam_models.AWSManagedPolicy.from_data) == ["name", "account_id", "region_name", "data"]
        and "default_version_id" in inspect.getsource(iam_models.AWSManagedPolicy.from_data),
        "AWSManagedPolicy.from_data builds policies differently",
    )
