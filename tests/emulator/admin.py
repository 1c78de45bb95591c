"""WSGI front in front of moto: per-action call stats, fault injection and the /_emu/* test hooks.

It sits outside moto so it sees every API request (including the agent-private SSM calls and
faulted ones) and can answer before moto does.
"""

from __future__ import annotations

import fnmatch
import functools
import ipaddress
import json
import random
import re
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

import botocore.session
from botocore.validate import ParamValidator

from . import clock
from . import ecs_external
from . import signatures
from . import ssm_hybrid
from .common import JSON_CT
from .common import STATE_LOCK
from .common import wsgi_body

# X-Amz-Target prefixes of the JSON services we care about; others fall back to the SigV4 scope.
TARGET_SERVICES = {
    "AmazonSSM": "ssm",
    "AmazonEC2ContainerServiceV20141113": "ecs",
    "AWSCognitoIdentityService": "cognito-identity",
}


@dataclass
class Fault:
    action: str
    code: str
    status: int
    rate: float
    remaining: int
    message: str

    def view(self) -> dict:
        return {
            "action": self.action,
            "code": self.code,
            "status": self.status,
            "rate": self.rate,
            "remaining": self.remaining,
            "message": self.message,
        }


class Controls:
    """Mutable test-hook state; one instance per process."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.stats: Counter[str] = Counter()
        self.faults: list[Fault] = []
        self.rng = random.Random(0)

    def reset(self) -> None:
        with self.lock:
            self.stats.clear()
            self.faults.clear()
            self.rng = random.Random(0)
        clock.reset()

    def record(self, key: str) -> Fault | None:
        """Count the call and decide (repeatably, seeded RNG) whether a fault fires for it."""
        with self.lock:
            self.stats[key] += 1
            for fault in self.faults:
                if fault.remaining > 0 and (fault.action == "*" or fnmatch.fnmatchcase(key, fault.action)):
                    if self.rng.random() < fault.rate:
                        fault.remaining -= 1
                        return fault
        return None


CONTROLS = Controls()


def action_key(environ: dict) -> str | None:
    """'<service>:<Action>' for an AWS API request, None for anything else (moto-api, admin, junk)."""
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    scope_service = None
    auth = environ.get("HTTP_AUTHORIZATION", "")
    if "Credential=" in auth:
        parts = auth.split("Credential=", 1)[1].split(",", 1)[0].split("/")
        if len(parts) == 5:
            scope_service = parts[3]
    if "." in target:
        prefix, action = target.rsplit(".", 1)
        return f"{TARGET_SERVICES.get(prefix, scope_service or prefix.lower())}:{action}"
    action = _query_action(environ)
    if action:
        return f"{scope_service or 'unknown'}:{action}"
    return None


def _query_action(environ: dict) -> str | None:
    action = parse_qs(environ.get("QUERY_STRING", "")).get("Action")
    if action:
        return action[0]
    if not environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        return None
    body = wsgi_body(environ)
    action = parse_qs(body.decode("utf-8", "replace")).get("Action")
    return action[0] if action else None


def _is_loopback(environ: dict) -> bool:
    try:
        return ipaddress.ip_address(environ.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


def _respond(start_response: Callable, status: int, payload: Any, content_type: str = "application/json") -> list:
    body = json.dumps(payload, indent=1, default=str).encode("utf-8")
    reason = {200: "OK", 400: "Bad Request", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed"}
    start_response(
        f"{status} {reason.get(status, 'Error')}",
        [("Content-Type", content_type), ("Content-Length", str(len(body)))],
    )
    return [body]


def _signature_shape_error(environ: dict) -> tuple[str, str] | None:
    """Reject a SigV4 header moto's router cannot parse or that names another service (moto would 500)."""
    auth = environ.get("HTTP_AUTHORIZATION")
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    expected = TARGET_SERVICES.get(target.rsplit(".", 1)[0]) if "." in target else None
    if not auth or expected is None:
        return None
    match = re.match(r"^\S+\s+Credential=([^,\s]+)", auth)
    scope = match.group(1).split("/") if match else []
    if len(scope) == 5 and scope[3] == expected and scope[4] == "aws4_request":
        return None
    if target == "AmazonSSM.RequestManagedInstanceRoleToken":
        return "InvalidInstanceId", "The request signature is not valid for a managed instance."
    return "IncompleteSignatureException", "Authorization header is not a valid SigV4 header for this service."


# Agent-private SSM operations: not in botocore's model, handled by ssm_hybrid.
PRIVATE_OPERATIONS = {
    "ssm": {"RegisterManagedInstance", "RequestManagedInstanceRoleToken", "UpdateInstanceInformation"},
}


def _shape_error(environ: dict, key: str) -> tuple[str, str] | None:
    """Type-check JSON bodies of SSM/ECS calls against botocore's model before moto parses them.

    moto's model-driven parser (ECS) and some moto handlers (SSM) crash with a 500 on wrongly typed
    members; AWS answers SerializationException. Semantic checks stay with the handlers.
    """
    service, _, action = key.partition(":")
    if service not in ("ssm", "ecs") or not environ.get("HTTP_X_AMZ_TARGET"):
        return None
    operations = _model_operations(service)
    if action not in operations and action not in PRIVATE_OPERATIONS.get(service, ()):
        return "UnknownOperationException", f"Unknown operation {action}"
    try:
        int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return "SerializationException", "Invalid Content-Length"
    body = wsgi_body(environ)
    try:
        params = json.loads(body) if body.strip() else {}
    except ValueError:
        return "SerializationException", "Request body is not valid JSON"
    if not isinstance(params, dict):
        return "SerializationException", "Request body must be a JSON object"
    if action not in operations:
        return None
    shape = _input_shape(service, action)
    if shape is None:
        return None
    report = ParamValidator().validate(params, shape)
    wrong_types = [name for kind, name, _ in report._errors if kind == "invalid type"]  # noqa: SLF001
    if wrong_types:
        return "SerializationException", f"Wrongly typed members: {', '.join(sorted(wrong_types))}"
    return None


@functools.cache
def _input_shape(service: str, action: str):
    return botocore.session.get_session().get_service_model(service).operation_model(action).input_shape


@functools.cache
def _model_operations(service: str) -> frozenset[str]:
    try:
        return frozenset(botocore.session.get_session().get_service_model(service).operation_names)
    except Exception:  # noqa: BLE001 - unknown service name: no operations
        return frozenset()


def _error_protocol(environ: dict, key: str | None) -> str:
    """The error format the caller parses: "json", "query" (ErrorResponse XML) or "ec2" (Response/Errors XML).

    Decided from the request, not from the service model: botocore picks one of a service's protocols, and the
    answer must be in the one it used (an IAM or STS client cannot read a JSON error, so it cannot retry it).
    """
    if key is None or environ.get("HTTP_X_AMZ_TARGET"):
        return "json"
    return "ec2" if key.startswith("ec2:") else "query"


def _error(start_response: Callable, status: int, code: str, message: str, protocol: str = "json") -> list:
    return _fault_response(start_response, Fault("", code, status, 1.0, 0, message), protocol)


def _fault_response(start_response: Callable, fault: Fault, protocol: str = "json") -> list:
    request_id = str(uuid.uuid4())
    headers = [("x-amzn-RequestId", request_id)]
    if protocol == "json":
        body = json.dumps({"__type": fault.code, "message": fault.message}).encode("utf-8")
        headers += [("Content-Type", JSON_CT), ("x-amzn-ErrorType", fault.code)]
    else:
        error = f"<Code>{escape(fault.code)}</Code><Message>{escape(fault.message)}</Message>"
        if protocol == "ec2":
            text = f"<Response><Errors><Error>{error}</Error></Errors><RequestID>{request_id}</RequestID></Response>"
        else:
            kind = "Sender" if fault.status < 500 else "Receiver"
            text = (
                f"<ErrorResponse><Error><Type>{kind}</Type>{error}</Error>"
                f"<RequestId>{request_id}</RequestId></ErrorResponse>"
            )
        body = f'<?xml version="1.0" encoding="UTF-8"?>\n{text}'.encode()
        headers.append(("Content-Type", "text/xml"))
    start_response(
        f"{fault.status} {'Injected' if fault.action else 'Error'}", [*headers, ("Content-Length", str(len(body)))]
    )
    return [body]


def _json_body(environ: dict) -> Any:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        return json.loads(raw or b"{}")
    except ValueError as exc:
        raise ValueError("body must be JSON") from exc


def _parse_fault(body: Any) -> Fault:
    if not isinstance(body, dict):
        raise ValueError("fault must be a JSON object")
    action, code = body.get("action"), body.get("code")
    status, rate, count = body.get("status", 400), body.get("rate", 1.0), body.get("count", 1)
    if not isinstance(action, str) or not action or (action != "*" and ":" not in action):
        raise ValueError('action must be "<service>:<Action>" (globs allowed) or "*"')
    if not isinstance(code, str) or not code:
        raise ValueError("code must be a non-empty string")
    if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
        raise ValueError("status must be an integer 400-599")
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= 1:
        raise ValueError("rate must be a number between 0 and 1")
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError("count must be a positive integer")
    message = body.get("message", f"Injected fault {code}")
    return Fault(action, code, status, float(rate), count, str(message))


class EmulatorApp:
    """WSGI app: /_emu/* hooks, reset interception, stats + faults, then moto."""

    def __init__(self, moto_app: Callable) -> None:
        self.moto_app = moto_app

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if path.startswith("/_emu/"):
            if not _is_loopback(environ):
                return _respond(start_response, 403, {"error": "test hooks answer loopback callers only"})
            try:
                return self.admin(path, method, environ, start_response)
            except ValueError as exc:
                return _respond(start_response, 400, {"error": str(exc)})
        if path.rstrip("/") == "/moto-api/reset" and method == "POST":
            result = self.moto_app(environ, start_response)
            CONTROLS.reset()
            return result
        key = action_key(environ)
        if key is not None:
            fault = CONTROLS.record(key)
            if fault is not None:
                return _fault_response(start_response, fault, _error_protocol(environ, key))
            rejection = _signature_shape_error(environ)
            if rejection is not None:
                return _error(start_response, 400, *rejection)
            # AWS authenticates a request before it reads its parameters.
            protocol = _error_protocol(environ, key)
            refused = signatures.signature_error(environ, protocol)
            if refused is not None:
                return _error(start_response, *refused, protocol)
            rejection = _shape_error(environ, key)
            if rejection is not None:
                return _error(start_response, 400, *rejection)
        try:
            return self.moto_app(environ, start_response)
        except NotImplementedError as exc:
            # moto answers unimplemented actions with an HTML 500; callers deserve an AWS-shaped error.
            return _error(
                start_response,
                501,
                "NotImplemented",
                f"The emulator does not implement {key}: {exc}",
                _error_protocol(environ, key),
            )
        except Exception as exc:  # noqa: BLE001 - a genuine emulator bug: still a 500, but one botocore can parse
            if key is None:
                raise
            return _error(
                start_response, 500, "InternalFailure", f"{type(exc).__name__}: {exc}", _error_protocol(environ, key)
            )

    def admin(self, path: str, method: str, environ: dict, start_response: Callable) -> list:
        route = (method, path.rstrip("/"))
        if route == ("GET", "/_emu/stats"):
            with CONTROLS.lock:
                return _respond(start_response, 200, dict(CONTROLS.stats))
        if route == ("POST", "/_emu/faults"):
            body = _json_body(environ)
            rules = body if isinstance(body, list) else [body]
            faults = [_parse_fault(rule) for rule in rules]
            seed = body.get("seed", 0) if isinstance(body, dict) else 0
            with CONTROLS.lock:
                CONTROLS.faults.extend(faults)
                CONTROLS.rng = random.Random(seed)
                return _respond(start_response, 200, {"faults": [f.view() for f in CONTROLS.faults]})
        if route == ("GET", "/_emu/faults"):
            with CONTROLS.lock:
                return _respond(start_response, 200, {"faults": [f.view() for f in CONTROLS.faults]})
        if route == ("DELETE", "/_emu/faults"):
            with CONTROLS.lock:
                CONTROLS.faults.clear()
            return _respond(start_response, 200, {"faults": []})
        if route == ("GET", "/_emu/clock"):
            return _respond(start_response, 200, _clock_view())
        if route == ("POST", "/_emu/clock"):
            body = _json_body(environ)
            seconds = body.get("advance_seconds") if isinstance(body, dict) else None
            if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 0 <= seconds <= 10**9:
                raise ValueError("advance_seconds must be a number between 0 and 1e9")
            clock.advance(float(seconds))
            return _respond(start_response, 200, _clock_view())
        if route == ("GET", "/_emu/settings"):
            return _respond(start_response, 200, clock.settings())
        if route == ("POST", "/_emu/settings"):
            body = _json_body(environ)
            if not isinstance(body, dict):
                raise ValueError("settings must be a JSON object")
            return _respond(start_response, 200, clock.update_settings(body))
        if route == ("GET", "/_emu/state"):
            return _respond(start_response, 200, debug_state())
        if route == ("GET", "/_emu/activation-codes"):
            with STATE_LOCK:
                return _respond(start_response, 200, {"codes": ssm_hybrid.issued_activation_codes()})
        return _respond(start_response, 404, {"error": f"no test hook {method} {path}"})


def _clock_view() -> dict:
    now = clock.now()
    return {"now": now.isoformat(), "epoch": now.timestamp(), "offset_seconds": clock.offset_seconds()}


def debug_state() -> dict:
    with STATE_LOCK:
        return {
            "clock": _clock_view(),
            "settings": clock.settings(),
            "ssm": ssm_hybrid.debug_state(),
            "ecs": ecs_external.debug_state(),
        }
