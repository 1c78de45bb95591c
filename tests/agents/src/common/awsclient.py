"""Minimal AWS JSON-1.1 client shared by the stand-in agents (standard library only).

* Endpoints may be full URLs (``http://127.0.0.1:PORT``) or bare hosts (``ssm.us-east-1.amazonaws.com``,
  https is assumed), like the Go SDK's endpoint override.
* Proxies come from the environment (``https_proxy``/``http_proxy``/``no_proxy`` and upper-case forms),
  the way Go's ``http.ProxyFromEnvironment`` reads them: loopback destinations never use a proxy.
* AWS errors become :class:`AwsError` (code from ``__type`` after the last ``#``); transport failures
  become :class:`EndpointError`.
"""

import configparser
import io
import ipaddress
import json
import os
import socket
import tempfile
import urllib.error
import urllib.parse
import urllib.request

from sigv4 import host_header  # noqa: F401  (re-exported for the agents)


class AwsError(Exception):
    def __init__(self, code, message, status=400):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


class EndpointError(Exception):
    """The endpoint could not be reached (DNS, connection refused, timeout, proxy failure)."""


def endpoint_url(endpoint, default):
    endpoint = (endpoint or "").strip() or default
    if "://" not in endpoint:
        endpoint = "https://" + endpoint
    return endpoint.rstrip("/") + "/"


def _is_loopback(host):
    if host in ("localhost", "localhost.localdomain") or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def proxies_for(url):
    """Proxy map for ``url`` (empty when no proxy applies), following Go's ProxyFromEnvironment."""
    host = urllib.parse.urlsplit(url).hostname or ""
    if _is_loopback(host):
        return {}
    env = urllib.request.getproxies_environment()
    if not env:
        return {}
    if urllib.request.proxy_bypass_environment(host, env):
        return {}
    return {k: v for k, v in env.items() if k in ("http", "https")}


def _parse_error(status, body):
    try:
        doc = json.loads(body.decode("utf-8") or "{}")
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        return AwsError("InternalFailure" if status >= 500 else "UnknownError",
                        f"HTTP {status}: {body[:200].decode('utf-8', 'replace')}", status)
    code = str(doc.get("__type") or doc.get("code") or "UnknownError").rsplit("#", 1)[-1]
    message = ""
    for key, value in doc.items():
        if key.lower() == "message":
            message = str(value)
    return AwsError(code, message, status)


def json_call(url, target, body, signer=None, timeout=10.0):
    """POST an AWS JSON-1.1 request. ``signer(headers, payload)`` adds the auth headers."""
    payload = json.dumps(body or {}).encode("utf-8")
    headers = {
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": target,
        "Host": host_header(url),
    }
    if signer is not None:
        signer(headers, payload)
    request = urllib.request.Request(url, data=payload, method="POST", headers=headers)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler(proxies_for(url)))
    try:
        with opener.open(request, timeout=timeout) as resp:
            data = resp.read()
    except urllib.error.HTTPError as exc:
        raise _parse_error(exc.code, exc.read()) from None
    except (TimeoutError, urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise EndpointError(f'RequestError: send request failed caused by: Post "{url}": {reason}') from None
    try:
        return json.loads(data.decode("utf-8") or "{}")
    except ValueError:
        raise AwsError("SerializationException", f"response is not JSON: {data[:200]!r}", 200) from None


# ---------------------------------------------------------------------------------------------
# Shared credentials file (the SSM agent writes it, the ECS agent reads it)

def read_credentials(path, profile="default"):
    parser = configparser.RawConfigParser()
    try:
        with open(path, encoding="utf-8") as fh:
            parser.read_file(fh)
    except (OSError, configparser.Error):
        return None
    if not parser.has_section(profile):
        return None
    sec = parser[profile]
    if not sec.get("aws_access_key_id") or not sec.get("aws_secret_access_key"):
        return None
    return {
        "AccessKeyId": sec.get("aws_access_key_id").strip(),
        "SecretAccessKey": sec.get("aws_secret_access_key").strip(),
        "SessionToken": (sec.get("aws_session_token") or "").strip() or None,
    }


def write_credentials(path, creds, profile="default"):
    """Replace ``profile`` in the ini file (other profiles kept); mode 0600, written atomically."""
    parser = configparser.RawConfigParser()
    try:
        with open(path, encoding="utf-8") as fh:
            parser.read_file(fh)
    except (OSError, configparser.Error):
        parser = configparser.RawConfigParser()
    if parser.has_section(profile):
        parser.remove_section(profile)
    parser.add_section(profile)
    parser.set(profile, "aws_access_key_id", creds["AccessKeyId"])
    parser.set(profile, "aws_secret_access_key", creds["SecretAccessKey"])
    parser.set(profile, "aws_session_token", creds["SessionToken"])
    buf = io.StringIO()
    parser.write(buf)
    atomic_write(path, buf.getvalue().encode("utf-8"), 0o600, dir_mode=0o700)


def atomic_write(path, data, mode=0o600, dir_mode=0o755):
    directory = os.path.dirname(path)
    os.makedirs(directory, mode=dir_mode, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def source_ip_towards(url):
    """The local address the kernel would use to reach ``url`` (no packet is sent)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.connect((host, port))
            return sock.getsockname()[0]
    except OSError:
        return "127.0.0.1"
