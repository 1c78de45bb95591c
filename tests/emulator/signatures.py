"""SigV4 HMAC verification of the callers that sign with a secret key, as AWS verifies them and moto does not.

Two kinds of keys sign with HMAC: the operator's (the controller's modules and the tests; ``testing``/``testing``
unless the emulator is started with ``--credential``) and the role credentials Systems Manager issued to a
managed instance (the agents). For both, the emulator knows the secret, so it recomputes the signature from the
request as received, with botocore's canonicalisation restricted to the listed ``SignedHeaders``, and answers
as AWS does when it differs. That catches what an emulator that only reads the access key id lets through: a
secret that went astray between the inventory and the module, a signer that canonicalises differently from AWS
(the stand-in agents sign by hand), a body changed after signing, a session token left out.

Left to the handlers, as before: requests without ``Authorization`` (RegisterManagedInstance is unsigned), the
RSA-signed calls of a managed instance (``Credential=mi-...``, checked by ``ssm_hybrid.verify_rsa_sigv4``), and
role keys the emulator no longer knows (revoked at deregistration, or never issued), which the handlers answer
with the service's own error. ``X-Amz-Date`` is not compared with any clock (PROTOCOL.md §0).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import threading
from urllib.parse import quote

from . import ssm_hybrid
from .common import sigv4_string_to_sign
from .common import wsgi_body

DEFAULT_OPERATOR_CREDENTIALS = {"testing": "testing"}

_lock = threading.Lock()
_operator_credentials: dict[str, str] = dict(DEFAULT_OPERATOR_CREDENTIALS)

_AUTH_RE = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=(?P<cred>[^,\s]+),\s*SignedHeaders=(?P<signed>[^,\s]+),\s*Signature=(?P<sig>\S+)$"
)
# Temporary keys (what Systems Manager issues) start with ASIA; long-term ones with AKIA or, here, anything else.
_ROLE_KEY = re.compile(r"^ASIA[A-Z0-9]{16}$")

# (code, HTTP status) per error protocol: JSON services answer 400, query services (IAM, STS) 403.
_UNKNOWN_KEY = {"json": ("UnrecognizedClientException", 400), "query": ("InvalidClientTokenId", 403)}
_BAD_SIGNATURE = {"json": ("InvalidSignatureException", 400), "query": ("SignatureDoesNotMatch", 403)}
_UNKNOWN_KEY_TEXT = "The security token included in the request is invalid."
_BAD_SIGNATURE_TEXT = (
    "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access "
    "Key and signing method. Consult the service documentation for details."
)


def set_operator_credentials(credentials: dict[str, str]) -> None:
    """Replace the operator keys the emulator accepts (access key id -> secret)."""
    with _lock:
        _operator_credentials.clear()
        _operator_credentials.update(credentials)


def _header(environ: dict, name: str) -> str | None:
    if name in ("content-type", "content-length"):
        return environ.get(name.upper().replace("-", "_"))
    return environ.get("HTTP_" + name.upper().replace("-", "_"))


def _raw_path(environ: dict) -> str:
    # The signature covers the path as sent; PATH_INFO is already decoded.
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw:
        return raw.split("?", 1)[0] or "/"
    return quote(environ.get("PATH_INFO") or "/", safe="/-_.~")


def expected_signature(environ: dict, secret: str, scope: list[str], signed: list[str], amz_date: str) -> str | None:
    """The signature AWS would compute for this request and secret, or None when a signed header is missing."""
    headers = {}
    for name in signed:
        value = _header(environ, name)
        if value is None:
            return None
        headers[name] = value
    url = f"http://{headers.get('host', '')}{_raw_path(environ)}"
    if environ.get("QUERY_STRING"):
        url += f"?{environ['QUERY_STRING']}"
    string_to_sign = sigv4_string_to_sign(
        environ.get("REQUEST_METHOD", "GET"), url, headers, wsgi_body(environ),
        algorithm="AWS4-HMAC-SHA256", amz_date=amz_date, scope=scope,
    )  # fmt: skip
    key = ("AWS4" + secret).encode("utf-8")
    for part in scope[1:]:
        key = hmac.new(key, part.encode("utf-8"), hashlib.sha256).digest()
    return hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def signature_error(environ: dict, protocol: str) -> tuple[int, str, str] | None:
    """(HTTP status, error code, message) when AWS would refuse the request's HMAC signature, else None."""
    match = _AUTH_RE.match((environ.get("HTTP_AUTHORIZATION") or "").strip())
    if not match:
        return None  # unsigned, RSA-signed or malformed: the handlers and the shape check answer those
    scope = match["cred"].split("/")
    if len(scope) != 5 or scope[0].startswith("mi-"):
        return None
    access_key = scope[0]
    protocol = "query" if protocol != "json" else "json"
    issued = ssm_hybrid.issued_credential(access_key)
    if issued is not None:
        secret, token = issued[1].secret_key, issued[1].session_token
        if not hmac.compare_digest(environ.get("HTTP_X_AMZ_SECURITY_TOKEN") or "", token):
            code, status = _UNKNOWN_KEY[protocol]
            return status, code, _UNKNOWN_KEY_TEXT
    elif _ROLE_KEY.match(access_key):
        return None  # a role key revoked or never issued: the service's own answer
    else:
        with _lock:
            secret = _operator_credentials.get(access_key)
        if secret is None:
            code, status = _UNKNOWN_KEY[protocol]
            return status, code, _UNKNOWN_KEY_TEXT
    amz_date = environ.get("HTTP_X_AMZ_DATE") or ""
    expected = expected_signature(environ, secret, scope, match["signed"].split(";"), amz_date)
    if expected is None or not amz_date or not hmac.compare_digest(expected, match["sig"]):
        code, status = _BAD_SIGNATURE[protocol]
        return status, code, _BAD_SIGNATURE_TEXT
    return None
