"""Aggregate (START and CALENDAR windows, several functions, wide),
interpolate, plot, latest and tags with metadata, checked against pandas
computations of the same data."""

import numpy as np
import pandas as pd
import pytest
from conftest import cli

T0 = pd.Timestamp("2026-11-23T00:00:00Z")
TAGS = [f"q.line{i}.temp" for i in range(3)]


@pytest.fixture(scope="module")
def data(h):
    idx = pd.date_range(T0, periods=3 * 3600, freq="1s")
    rng = np.random.default_rng(7)
    frame = pd.DataFrame({t: rng.normal(20 + i, 1.0, len(idx)) for i, t in enumerate(TAGS)},
                         index=idx)
    h.write(frame)
    return frame


def test_aggregate_matches_pandas(h, data):
    agg = h.aggregate(TAGS, T0, T0 + pd.Timedelta(hours=1), step="1m",
                      functions=["avg", "max", "min", "twa"])
    assert list(agg.columns) == ["tag", "time", "count", "avg", "max", "min", "twa"]
    assert str(agg["time"].dtype) == "datetime64[ns, UTC]"
    assert isinstance(agg["tag"].dtype, pd.CategoricalDtype)
    assert len(agg) == 3 * 60
    for t in TAGS:
        mine = agg[agg["tag"] == t].set_index("time")
        ref = data[t][T0:T0 + pd.Timedelta(minutes=59, seconds=59)].resample("1min")
        np.testing.assert_allclose(mine["avg"].to_numpy(), ref.mean().to_numpy(), rtol=1e-12)
        np.testing.assert_array_equal(mine["max"].to_numpy(), ref.max().to_numpy())
        np.testing.assert_array_equal(mine["min"].to_numpy(), ref.min().to_numpy())
        assert (mine["count"] == 60).all()
        assert mine["count"].dtype == np.int64


def test_aggregate_calendar_and_start_alignment(h, data):
    start = T0 + pd.Timedelta(minutes=30)
    cal = h.aggregate(TAGS[0], start, T0 + pd.Timedelta(hours=3), step="1h", functions="count")
    assert cal["time"].tolist() == [start, T0 + pd.Timedelta(hours=1), T0 + pd.Timedelta(hours=2)]
    assert cal["count"].tolist() == [1800, 3600, 3600]
    assert list(cal.columns) == ["tag", "time", "count"]
    st = h.aggregate(TAGS[0], start, T0 + pd.Timedelta(hours=3), step="1h", functions=["count"],
                     align="start")
    assert st["time"].tolist() == [start + pd.Timedelta(hours=k) for k in range(3)]
    assert st["count"].tolist() == [3600, 3600, 1800]


def test_aggregate_calendar_days_in_a_zone(h, data):
    agg = h.aggregate(TAGS[0], "2026-11-22T00:00:00-06:00", "2026-11-24T00:00:00-06:00",
                      step="1d", functions=["count"], tz="America/Chicago")
    assert agg["time"].tolist() == [pd.Timestamp("2026-11-22T06:00Z"),
                                    pd.Timestamp("2026-11-23T06:00Z")]
    # Chicago's 2026-11-22 runs 06:00Z..06:00Z and holds all three hours.
    assert agg["count"].tolist() == [3 * 3600, 0]


def test_aggregate_weeks_and_months(h, data):
    w = h.aggregate(TAGS[0], "2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z", step="1w",
                    functions=["count"])
    assert w["time"].iloc[1] == pd.Timestamp("2026-11-02T00:00Z")  # ISO weeks start Monday
    assert w["count"].sum() == 3 * 3600
    m = h.aggregate(TAGS[0], "2026-10-01T00:00:00Z", "2027-01-01T00:00:00Z", step="1mo",
                    functions=["avg"])
    assert m["time"].dt.month.tolist() == [10, 11, 12]
    assert m["count"].tolist() == [0, 3 * 3600, 0]
    assert np.isnan(m["avg"].iloc[0])


def test_aggregate_wide(h, data):
    one = h.aggregate(TAGS, T0, T0 + pd.Timedelta(hours=1), step="10m", functions=["avg"],
                      wide=True)
    assert list(one.columns) == TAGS and len(one) == 6
    two = h.aggregate(TAGS, T0, T0 + pd.Timedelta(hours=1), step="10m",
                      functions=["avg", "max"], wide=True)
    assert two["max"][TAGS[1]].iloc[0] == data[TAGS[1]][:T0 + pd.Timedelta(seconds=599)].max()
    assert set(two.columns.get_level_values(0)) == {"avg", "max"}
    counts = h.aggregate(TAGS, T0, T0 + pd.Timedelta(hours=1), step="10m", functions="count",
                         wide=True)
    assert list(counts.columns) == TAGS and (counts == 600).all().all()


def test_aggregate_rejects_bad_arguments(h, data):
    with pytest.raises(ValueError):
        h.aggregate(TAGS[0], T0, T0 + pd.Timedelta(hours=1), step="1m", functions=["median"])
    with pytest.raises(ValueError):
        h.aggregate(TAGS[0], T0, T0 + pd.Timedelta(hours=1), step="1mo", align="start")


def test_interpolate(h, data):
    start = T0 - pd.Timedelta(seconds=1)
    df = h.interpolate(TAGS[0], start, start + pd.Timedelta(seconds=4), step="500ms")
    assert len(df) == 8
    assert np.isnan(df["value"].iloc[0]) and df["quality"].iloc[0] == 0x80000000
    v = data[TAGS[0]]
    assert df["value"].iloc[2] == v.iloc[0]
    assert df["value"].iloc[3] == pytest.approx((v.iloc[0] + v.iloc[1]) / 2)
    prev = h.interpolate(TAGS[0], start, start + pd.Timedelta(seconds=4), step="500ms",
                         method="previous")
    assert prev["value"].iloc[3] == v.iloc[0]
    w = h.interpolate(TAGS, T0, T0 + pd.Timedelta(minutes=1), step="10s", wide=True)
    assert list(w.columns) == TAGS and len(w) == 6


def test_plot(h, data):
    df = h.plot(TAGS[0], T0, T0 + pd.Timedelta(hours=3), buckets=10)
    assert len(df) <= 40
    v = data[TAGS[0]]
    assert df["value"].max() == v.max() and df["value"].min() == v.min()
    w = h.plot(TAGS, T0, T0 + pd.Timedelta(hours=3), buckets=10, wide=True)
    assert list(w.columns) == TAGS


def test_latest(h, data, node):
    lat = h.latest(TAGS)
    assert lat["tag"].tolist() == TAGS
    assert (lat["time"] == T0 + pd.Timedelta(seconds=3 * 3600 - 1)).all()
    assert lat["value"].tolist() == [data[t].iloc[-1] for t in TAGS]
    g = h.latest("q.line*.temp")
    assert sorted(g["tag"]) == TAGS
    cli(node, "create-tag", "q.empty", "--type", "double")
    e = h.latest(["q.empty", TAGS[0]])
    assert pd.isna(e["time"].iloc[0]) and np.isnan(e["value"].iloc[0])
    assert e["value"].iloc[1] == data[TAGS[0]].iloc[-1]


def test_tags_with_metadata(h, node):
    h.create_tag("q.meta.pressure", "double", unit="bar", description="oil pressure",
                 eng_low=0.0, eng_high=250.0, stale_after="5m", attributes={"asset": "press2"})
    cli(node, "create-tag", "q.meta.count", "--type", "int64", "--unit", "pcs",
        "--description", "parts made", "--attr", "asset=press2")
    t = h.tags("q.meta.*")
    assert list(t.index) == ["q.meta.count", "q.meta.pressure"]
    p = t.loc["q.meta.pressure"]
    assert p["type"] == "double" and p["unit"] == "bar" and p["description"] == "oil pressure"
    assert p["eng_low"] == 0.0 and p["eng_high"] == 250.0
    assert p["stale_after"] == pd.Timedelta("5m")
    assert p["attributes"] == {"asset": "press2"}
    c = t.loc["q.meta.count"]
    assert c["type"] == "int64" and c["unit"] == "pcs" and np.isnan(c["eng_low"])
    assert pd.isna(c["stale_after"]) and pd.isna(c["retention"])
    assert str(t["created"].dtype) == "datetime64[ns, UTC]"
    assert list(h.tags("q.meta.*", attributes={"asset": "press2"}).index) == list(t.index)
    assert len(h.tags("q.nothing.*")) == 0
    assert h.get_tag("q.meta.pressure")["unit"] == "bar"
