"""AWS managed policies for moto's IAM backend, built from data parsed once per process.

moto builds its IAM backend of an account, with every AWS managed policy (more than a thousand), each time the
backend is created: at the first call of an account, and twice on every POST /moto-api/reset (the reset re-creates
the backends in place, then drops them, and the next call creates them again). Each time it parses the whole
policy file and serialises every policy document again: about a second of CPU, which every test that resets paid.
The text and dates of the policies never change, so they are parsed once here; the policy objects, which hold
state (attachments, versions), are still new for every backend, so a reset leaves nothing behind.
"""

# ruff: noqa: PLC0415 - moto stays off the import path of the package (see __init__.py)

from __future__ import annotations

import functools
import json
from datetime import datetime
from typing import Any


@functools.cache
def _specs() -> tuple[tuple[str, Any, Any, str, datetime, datetime], ...]:
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    return tuple(
        (
            name,
            data.get("DefaultVersionId"),
            data.get("Path"),
            json.dumps(data.get("Document")),
            datetime.fromisoformat(data["CreateDate"]),
            datetime.fromisoformat(data["UpdateDate"]),
        )
        for name, data in json.loads(aws_managed_policies_data).items()
    )


def init_aws_policies(backend: Any) -> list:
    """Replacement of IAMBackend._init_aws_policies: the same policies as AWSManagedPolicy.from_data builds."""
    from moto.iam.models import AWSManagedPolicy
    from moto.settings import load_iam_aws_managed_policies

    if not load_iam_aws_managed_policies():
        return []
    return [
        AWSManagedPolicy(
            name,
            account_id=backend.account_id,
            region=backend.region_name,
            default_version_id=version,
            path=path,
            document=document,
            create_date=created,
            update_date=updated,
        )
        for name, version, path, document, created, updated in _specs()
    ]
