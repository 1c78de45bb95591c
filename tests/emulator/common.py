"""Shared plumbing for the patched moto response handlers: AWS-shaped errors and input validation.

Every handler we add returns raw JSON (never moto's model serialiser) so the wire shape is the
same for ops inside and outside botocore's model, and every bad input maps to a 4xx AWS error code.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import re
import threading
from collections.abc import Callable
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from moto.core.exceptions import ServiceException

JSON_CT = "application/x-amz-json-1.1"

# Moto's backends are not thread-safe and werkzeug serves requests on threads; our handlers
# mutate several structures per call, so they run one at a time.
STATE_LOCK = threading.RLock()


class EmuError(Exception):
    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


def json_response(payload: dict, status: int = 200) -> tuple[str, dict]:
    return json.dumps(payload), {"status": status, "Content-Type": JSON_CT}


def error_response(code: str, message: str, status: int = 400) -> tuple[str, dict]:
    body, headers = json_response({"__type": code, "message": message}, status)
    headers["x-amzn-ErrorType"] = code
    return body, headers


def handler(func: Callable[[Any, dict], dict]) -> Callable[[Any], tuple[str, dict]]:
    """Wrap `func(response_obj, params) -> dict` into a moto response method returning raw JSON."""

    @functools.wraps(func)
    def method(self: Any) -> tuple[str, dict]:
        try:
            params = request_params(self)
            with STATE_LOCK:
                return json_response(func(self, params))
        except EmuError as exc:
            return error_response(exc.code, exc.message, exc.status)
        except ServiceException as exc:
            # moto's own typed errors raised from backend calls we reuse (e.g. EC2 lookups)
            return error_response(exc.code, exc.message)

    method.__emu_handler__ = True  # type: ignore[attr-defined]
    return method


def request_params(resp: Any) -> dict:
    body = resp.body
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if not body or not body.strip():
        return {}
    try:
        params = json.loads(body)
    except ValueError as exc:
        raise EmuError("SerializationException", "Request body is not valid JSON") from exc
    if not isinstance(params, dict):
        raise EmuError("SerializationException", "Request body must be a JSON object")
    return params


def wsgi_body(environ: dict) -> bytes:
    """The raw body of a WSGI request, put back for whoever reads it next (moto reads it again)."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    body = environ["wsgi.input"].read(length) if length > 0 else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def sigv4_string_to_sign(
    method: str, url: str, headers: dict[str, str], body: bytes, *, algorithm: str, amz_date: str, scope: list[str]
) -> str:
    """The SigV4 string to sign of a request as received, from its signed headers only (botocore's canonicalisation).

    ``scope`` is the Authorization header's credential, split: key, date, region, service, ``aws4_request``.
    """
    request = AWSRequest(method=method, url=url, data=body, headers=headers)
    request.context["timestamp"] = amz_date
    canonical = SigV4Auth(Credentials(scope[0], "unused"), scope[3], scope[2]).canonical_request(request)
    return "\n".join([algorithm, amz_date, "/".join(scope[1:]), hashlib.sha256(canonical.encode("utf-8")).hexdigest()])


def access_key_of(resp: Any) -> str | None:
    """The access key id from a SigV4 Authorization header, or None for unsigned requests."""
    auth = resp.headers.get("Authorization") or ""
    match = re.search(r"Credential=([^/,\s]+)/", auth)
    return match.group(1) if match else None


class Validator:
    """Checks request members the way AWS's model validation does, raising one error code."""

    def __init__(self, params: dict, code: str = "ValidationException"):
        self.params = params
        self.code = code

    def fail(self, message: str) -> None:
        raise EmuError(self.code, message)

    def string(
        self,
        name: str,
        *,
        required: bool = False,
        min_len: int = 0,
        max_len: int | None = None,
        pattern: str | None = None,
        source: dict | None = None,
    ) -> str | None:
        value = (self.params if source is None else source).get(name)
        if value is None:
            if required:
                self.fail(f"Member {name} must not be null")
            return None
        if not isinstance(value, str):
            self.fail(f"Member {name} must be a string")
        if len(value) < min_len:
            self.fail(f"Value at '{name}' failed to satisfy constraint: Member must have length >= {min_len}")
        if max_len is not None and len(value) > max_len:
            self.fail(f"Value at '{name}' failed to satisfy constraint: Member must have length <= {max_len}")
        if pattern is not None and not re.fullmatch(pattern, value):
            self.fail(f"Value '{value}' at '{name}' failed to satisfy constraint: Member must match {pattern}")
        return value

    def integer(
        self, name: str, low: int, high: int, *, default: int | None = None, source: dict | None = None
    ) -> int | None:
        value = (self.params if source is None else source).get(name)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(f"Member {name} must be an integer")
        if not low <= value <= high:
            self.fail(f"Value {value} at '{name}' failed to satisfy constraint: Member must be in [{low}, {high}]")
        return value

    def boolean(self, name: str, default: bool = False) -> bool:
        value = self.params.get(name)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.fail(f"Member {name} must be a boolean")
        return value

    def items(
        self,
        name: str,
        *,
        max_items: int | None = None,
        min_items: int = 0,
        kind: type = dict,
        source: dict | None = None,
    ) -> list:
        value = (self.params if source is None else source).get(name)
        if value is None:
            value = []
        if not isinstance(value, list) or not all(isinstance(item, kind) for item in value):
            self.fail(f"Member {name} must be a list of {'objects' if kind is dict else kind.__name__}")
        if len(value) < min_items:
            self.fail(f"Value at '{name}' failed to satisfy constraint: Member must have at least {min_items} items")
        if max_items is not None and len(value) > max_items:
            self.fail(f"Value at '{name}' failed to satisfy constraint: Member must have at most {max_items} items")
        return value


class Pager:
    """Opaque offset tokens. AWS tokens are opaque too; callers only echo them back."""

    PREFIX = "emu-page-"

    @classmethod
    def page(cls, items: list, max_results: int, token: str | None, code: str) -> tuple[list, str | None]:
        start = 0
        if token is not None:
            if not isinstance(token, str) or not token.startswith(cls.PREFIX) or not token[len(cls.PREFIX) :].isdigit():
                raise EmuError(code, "The specified token is not valid.")
            start = int(token[len(cls.PREFIX) :])
            if start > len(items):
                raise EmuError(code, "The specified token is not valid.")
        end = start + max_results
        return items[start:end], (f"{cls.PREFIX}{end}" if end < len(items) else None)
