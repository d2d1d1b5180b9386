"""Times and durations as the client accepts them.

Times become int64 nanoseconds since the Unix epoch (UTC); durations int64
nanoseconds. The string forms are the CLI's (docs/cli.md, "Times and
durations"), plus whatever ``pandas.Timestamp`` parses.
"""

import datetime as _dt
import re
import time as _time
from decimal import Decimal, InvalidOperation

import numpy as np
import pandas as pd

_UNITS_NS = {
    "ns": 1,
    "us": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
    "d": 86_400_000_000_000,
}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|ms|s|m|h|d)")
_EPOCH = re.compile(r"^(-?\d+)(ns|us|ms|s)$")
_RELATIVE = re.compile(r"^(?:now)?\s*([+-])\s*(.+)$")
_INT64_MAX = 2**63 - 1


def now_ns():
    return _time.time_ns()


def parse_duration_text(text):
    """`1m`, `1h30m`, `1.5h`, `500ms`, `7d` -> ns; positive, whole ns."""
    s = text.strip()
    pos = 0
    total = Decimal(0)
    while pos < len(s):
        m = _PART.match(s, pos)
        if not m:
            raise ValueError(
                f"invalid duration {text!r}: want <number><unit>... with units "
                "ns us ms s m h d (e.g. 1m, 1h30m, 1.5h, 500ms)")
        try:
            total += Decimal(m.group(1)) * _UNITS_NS[m.group(2)]
        except InvalidOperation:
            raise ValueError(f"invalid duration {text!r}") from None
        pos = m.end()
    if not s:
        raise ValueError("empty duration")
    if total != total.to_integral_value():
        raise ValueError(f"duration {text!r} is not a whole number of nanoseconds")
    ns = int(total)
    if ns <= 0:
        raise ValueError(f"duration {text!r} must be positive")
    if ns > _INT64_MAX:
        raise ValueError(f"duration {text!r} does not fit in int64 nanoseconds")
    return ns


def to_duration_ns(value, name="duration"):
    """A positive duration: str (CLI form), timedelta, pandas.Timedelta,
    numpy.timedelta64."""
    if isinstance(value, str):
        return parse_duration_text(value)
    if isinstance(value, (pd.Timedelta, _dt.timedelta, np.timedelta64)):
        ns = int(pd.Timedelta(value).value)
        if ns <= 0:
            raise ValueError(f"{name} must be positive, got {value!r}")
        return ns
    raise TypeError(f"{name}: want a string like '1h', a timedelta or a pandas.Timedelta, "
                    f"got {type(value).__name__}")


def _timestamp_ns(ts):
    if ts is pd.NaT:
        raise ValueError("time is NaT")
    if ts.tzinfo is None:
        ts = ts.tz_localize("UTC")  # naive means UTC, as pandas' utc=True does
    return int(ts.value)


def to_time_ns(value, now=None, name="time"):
    """A point in time -> ns since the epoch (UTC).

    Accepts datetime.datetime / datetime.date, pandas.Timestamp,
    numpy.datetime64, and strings: ISO 8601 / RFC 3339 (with `Z` or an offset;
    without one it is UTC), `now`, relative to now (`-1h`, `-30m`, `+10m`,
    `now-1h`, `-1h30m`) and epoch times with a unit (`1700000000s`,
    `...ms`, `...us`, `...ns`). Naive datetimes are UTC. Bare numbers are
    refused (seconds or nanoseconds?), as in the CLI.
    """
    if isinstance(value, bool) or isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(
            f"{name}: a bare number ({value!r}) is ambiguous; pass a datetime, a pandas."
            "Timestamp, an ISO string, '-1h' or an epoch with a unit ('1700000000s')")
    if isinstance(value, str):
        s = value.strip()
        if s.lower() == "now":
            return now_ns() if now is None else now
        m = _RELATIVE.match(s.lower())
        if m:
            delta = parse_duration_text(m.group(2))
            base = now_ns() if now is None else now
            return base + delta if m.group(1) == "+" else base - delta
        m = _EPOCH.match(s)
        if m:
            return int(m.group(1)) * _UNITS_NS[m.group(2)]
        if re.fullmatch(r"-?\d+", s):
            raise ValueError(f"{name}: a bare number ({s!r}) is ambiguous; add a unit "
                             "(1700000000s, ...ms, ...us, ...ns)")
        try:
            ts = pd.Timestamp(s)
        except (ValueError, OverflowError) as e:
            raise ValueError(
                f"{name}: cannot parse {value!r}: want ISO 8601 (2026-11-23T10:00:00Z), "
                f"'now', '-1h' or an epoch with a unit ({e})") from None
        return _timestamp_ns(ts)
    if isinstance(value, (pd.Timestamp, _dt.datetime, np.datetime64)):
        return _timestamp_ns(pd.Timestamp(value))
    if isinstance(value, _dt.date):
        return _timestamp_ns(pd.Timestamp(value))
    raise TypeError(f"{name}: want a datetime, a pandas.Timestamp, an ISO string or "
                    f"'-1h'/'now', got {type(value).__name__}")


def time_range(start, end):
    """(start_ns, end_ns) with one `now` for both ends."""
    now = now_ns()
    return to_time_ns(start, now, "start"), to_time_ns(end, now, "end")
