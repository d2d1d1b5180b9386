"""Times and durations the client accepts (historian._times)."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from historian import _times

T0 = 1795428000 * 10**9  # 2026-11-23T10:00:00Z
NOW = T0 + 123


@pytest.mark.parametrize("value", [
    "2026-11-23T10:00:00Z",
    "2026-11-23T11:00:00+01:00",
    "2026-11-23 10:00:00",           # naive: UTC
    "2026-11-23T10:00:00.000000000Z",
    "1795428000s",
    "1795428000000ms",
    "1795428000000000us",
    "1795428000000000000ns",
    dt.datetime(2026, 11, 23, 10, 0, 0),  # naive: UTC
    dt.datetime(2026, 11, 23, 11, 0, 0, tzinfo=dt.timezone(dt.timedelta(hours=1))),
    pd.Timestamp("2026-11-23T10:00:00Z"),
    pd.Timestamp("2026-11-23T04:00:00", tz="America/Chicago"),
    np.datetime64("2026-11-23T10:00:00"),
])
def test_absolute_times(value):
    assert _times.to_time_ns(value, NOW) == T0


def test_nanoseconds_survive():
    assert _times.to_time_ns("2026-11-23T10:00:00.000000007Z") == T0 + 7
    assert _times.to_time_ns(pd.Timestamp(T0 + 7, tz="UTC")) == T0 + 7


def test_date_is_midnight_utc():
    assert _times.to_time_ns(dt.date(2026, 11, 23)) == T0 - 10 * 3600 * 10**9


@pytest.mark.parametrize("text,delta", [
    ("now", 0), ("-1h", -3600 * 10**9), ("now-1h", -3600 * 10**9), ("+10m", 600 * 10**9),
    ("-1h30m", -5400 * 10**9), ("-1.5h", -5400 * 10**9), ("-500ms", -5 * 10**8),
    ("-7d", -7 * 86400 * 10**9), ("NOW", 0),
])
def test_relative_times(text, delta):
    assert _times.to_time_ns(text, NOW) == NOW + delta


def test_now_is_now():
    import time
    assert abs(_times.to_time_ns("now") - time.time_ns()) < 5 * 10**9


@pytest.mark.parametrize("value", ["1795428000", "-5", "yesterday", "2026-13-45", "-1x", ""])
def test_bad_time_strings(value):
    with pytest.raises(ValueError):
        _times.to_time_ns(value, NOW)


@pytest.mark.parametrize("value", [1795428000, 1.5, True, None, object()])
def test_bad_time_types(value):
    with pytest.raises(TypeError):
        _times.to_time_ns(value, NOW)


def test_range_shares_now():
    a, b = _times.time_range("-1h", "now")
    assert b - a == 3600 * 10**9


@pytest.mark.parametrize("value,ns", [
    ("1m", 60 * 10**9), ("1h30m", 5400 * 10**9), ("1.5h", 5400 * 10**9), ("500ms", 5 * 10**8),
    ("1d", 86400 * 10**9), ("1ns", 1), (dt.timedelta(minutes=1), 60 * 10**9),
    (pd.Timedelta("1h"), 3600 * 10**9), (np.timedelta64(2, "s"), 2 * 10**9),
])
def test_durations(value, ns):
    assert _times.to_duration_ns(value) == ns


@pytest.mark.parametrize("value", ["", "1", "1.5ns", "0s", "-1m", "1x", "h"])
def test_bad_durations(value):
    with pytest.raises(ValueError):
        _times.to_duration_ns(value)


def test_negative_timedelta():
    with pytest.raises(ValueError):
        _times.to_duration_ns(pd.Timedelta("-1s"))
    with pytest.raises(TypeError):
        _times.to_duration_ns(60)
