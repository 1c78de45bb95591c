"""The emulator's own clock and tunables.

Expiry, ping timeouts and ECS agent connectivity all read this clock so tests can move time forward
(`POST /_emu/clock`) instead of sleeping.
"""

from __future__ import annotations

import datetime as dt
import threading

_DEFAULTS = {
    "ping_timeout_seconds": 600.0,
    "agent_timeout_seconds": 90.0,
    "strict_iam": False,
    # Newest amazon-ssm-agent version known to the emulator; drives IsLatestVersion.
    "latest_agent_version": "3.3.1957.0",
}

_lock = threading.Lock()
_state = {"offset": 0.0}
_settings = dict(_DEFAULTS)


def now() -> dt.datetime:
    """Current emulator time (UTC, timezone-aware)."""
    return dt.datetime.now(dt.UTC) + dt.timedelta(seconds=_state["offset"])


def advance(seconds: float) -> None:
    with _lock:
        _state["offset"] += seconds


def offset_seconds() -> float:
    return _state["offset"]


def settings() -> dict:
    return dict(_settings)


def setting(name: str):
    return _settings[name]


def update_settings(values: dict) -> dict:
    """Validate and apply; raises ValueError with a readable message on bad input."""
    clean = {}
    for key, value in values.items():
        if key not in _DEFAULTS:
            raise ValueError(f"unknown setting {key!r}; known: {sorted(_DEFAULTS)}")
        default = _DEFAULTS[key]
        if isinstance(default, bool):
            if not isinstance(value, bool):
                raise ValueError(f"{key} must be a boolean")
            clean[key] = value
        elif isinstance(default, float):
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise ValueError(f"{key} must be a positive number")
            clean[key] = float(value)
        elif not isinstance(value, str) or not value:
            raise ValueError(f"{key} must be a non-empty string")
        else:
            clean[key] = value
    with _lock:
        _settings.update(clean)
    return settings()


def reset() -> None:
    with _lock:
        _state["offset"] = 0.0
        _settings.clear()
        _settings.update(_DEFAULTS)


def epoch(value: dt.datetime | None) -> float | None:
    """JSON-1.1 timestamps are epoch seconds; botocore and the AWS CLI parse numbers."""
    if value is None:
        return None
    if value.tzinfo is None:  # moto stores naive UTC datetimes
        value = value.replace(tzinfo=dt.UTC)
    return round(value.timestamp(), 3)
