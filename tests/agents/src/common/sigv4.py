"""AWS Signature Version 4, hand-rolled with the standard library only.

The hosts have nothing but Debian's python3 (what Ansible needs there), so botocore is not available.
The canonicalisation follows botocore's ``SigV4Auth`` (and aws-sdk-go's v4 signer) for the requests
the agents send: ``POST /`` with a JSON body and no query string.

Two signers share it:

* :func:`sign_hmac` - ordinary SigV4 with access key / secret key (+ session token).
* :func:`sign_rsa`  - what amazon-ssm-agent does for ``RequestManagedInstanceRoleToken``: the same
  string to sign, but the signature is RSA-PSS (SHA-256, MGF1-SHA-256, salt 32) with the instance's
  registered private key, base64-encoded.
"""

import base64
import hashlib
import hmac
import time
import urllib.parse

ALGORITHM = "AWS4-HMAC-SHA256"


def amz_date(now=None):
    """``now`` is epoch seconds (default: the current time)."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))


def _quote(value, safe="-_.~"):
    return urllib.parse.quote(value, safe=safe)


def canonical_query(query):
    pairs = urllib.parse.parse_qsl(query or "", keep_blank_values=True)
    return "&".join(f"{k}={v}" for k, v in sorted((_quote(k), _quote(v)) for k, v in pairs))


def canonical_headers(headers, signed):
    lower = {}
    for name, value in headers.items():
        lower.setdefault(name.lower(), []).append(" ".join(str(value).split()))
    return "".join(f"{name}:{','.join(sorted(lower[name]))}\n" for name in signed)


def canonical_request(method, path, query, headers, *, signed, payload):
    return "\n".join([
        method.upper(),
        _quote(path or "/", safe="/-_.~"),
        canonical_query(query),
        canonical_headers(headers, signed),
        ";".join(signed),
        hashlib.sha256(payload).hexdigest(),
    ])


def credential_scope(datestamp, region, service):
    return f"{datestamp}/{region}/{service}/aws4_request"


def string_to_sign(timestamp, scope, creq):
    return "\n".join([ALGORITHM, timestamp, scope, hashlib.sha256(creq.encode("utf-8")).hexdigest()])


def _prepare(headers, url, region, service, now):
    """Add X-Amz-Date (and Host) and return (timestamp, scope, signed-header list, path, query)."""
    parts = urllib.parse.urlsplit(url)
    timestamp = amz_date(now)
    headers["X-Amz-Date"] = timestamp
    if not any(k.lower() == "host" for k in headers):
        headers["Host"] = host_header(url)
    skip = {"authorization", "user-agent", "x-amzn-trace-id", "content-length", "expect"}
    signed = sorted({k.lower() for k in headers if k.lower() not in skip})
    scope = credential_scope(timestamp[:8], region, service)
    return timestamp, scope, signed, parts.path or "/", parts.query


def host_header(url):
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    default = {"http": 80, "https": 443}.get(parts.scheme)
    if parts.port and parts.port != default:
        host = f"{host}:{parts.port}"
    return host


def _hmac(key, msg):
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


def signing_key(secret_key, datestamp, region, service):
    k = _hmac(("AWS4" + secret_key).encode("utf-8"), datestamp)
    k = _hmac(k, region)
    k = _hmac(k, service)
    return _hmac(k, "aws4_request")


def sign_hmac(method, url, headers, payload, *, region, service, access_key, secret_key, session_token=None,
              now=None):
    """Sign in place: sets X-Amz-Date, Host, X-Amz-Security-Token and Authorization."""
    if session_token:
        headers["X-Amz-Security-Token"] = session_token
    timestamp, scope, signed, path, query = _prepare(headers, url, region, service, now)
    creq = canonical_request(method, path, query, headers, signed=signed, payload=payload)
    sts = string_to_sign(timestamp, scope, creq)
    signature = hmac.new(signing_key(secret_key, timestamp[:8], region, service), sts.encode("utf-8"),
                         hashlib.sha256).hexdigest()
    headers["Authorization"] = (f"{ALGORITHM} Credential={access_key}/{scope}, "
                                f"SignedHeaders={';'.join(signed)}, Signature={signature}")
    return headers


def sign_rsa(method, url, headers, payload, *, region, service, instance_id, private_key, now=None):
    """amazon-ssm-agent's rsaauth signer: SigV4 string to sign, RSA-PSS signature (base64).

    ``private_key`` is an :class:`rsakey.RsaKey`.
    """
    timestamp, scope, signed, path, query = _prepare(headers, url, region, service, now)
    creq = canonical_request(method, path, query, headers, signed=signed, payload=payload)
    sts = string_to_sign(timestamp, scope, creq)
    raw = private_key.sign_pss_sha256(sts.encode("utf-8"))
    headers["Authorization"] = (f"{ALGORITHM} Credential={instance_id}/{scope}, "
                                f"SignedHeaders={';'.join(signed)}, Signature={base64.b64encode(raw).decode('ascii')}")
    return headers
