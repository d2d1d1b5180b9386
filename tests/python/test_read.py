"""Raw reads: long form and its dtypes, wide pivot, globs, time forms,
continuation tokens (the node runs with --max_read_samples=5000), chunks,
bounds; data written through the client and through the CLI."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from conftest import cli

T0 = pd.Timestamp("2026-11-23T00:00:00Z")
N = 7200  # two hours at 1 Hz


@pytest.fixture(scope="module")
def data(h, node):
    idx = pd.date_range(T0, periods=N, freq="1s")
    h.write(pd.DataFrame({"rd.a": np.arange(N, dtype=float),
                          "rd.b": np.sin(np.arange(N) / 100.0)}, index=idx))
    # Through the CLI: an int64 tag, a string tag, a bool tag and a quality.
    cli(node, "create-tag", "rd.count", "--type", "int64")
    rows = ["tag,time,value,quality"]
    for i in range(10):
        t = (T0 + pd.Timedelta(seconds=i)).value
        rows.append(f"rd.count,{t},{i * 1000},0")
        rows.append(f'rd.state,{t},"{"running" if i % 2 else "idle"}",0')
        rows.append(f"rd.flag,{t},{'true' if i % 3 else 'false'},{0x80000000 if i == 5 else 0}")
    cli(node, "import-csv", "-", stdin="\n".join(rows) + "\n")
    return idx


def test_long_form_dtypes(h, data):
    df = h.read("rd.a", T0, T0 + pd.Timedelta(hours=2))
    assert list(df.columns) == ["tag", "time", "value", "quality"]
    assert isinstance(df["tag"].dtype, pd.CategoricalDtype)
    assert str(df["time"].dtype) == "datetime64[ns, UTC]"
    assert df["value"].dtype == np.float64
    assert df["quality"].dtype == np.uint32
    assert len(df) == N  # more than --max_read_samples: paged by token
    assert (df["time"].to_numpy() == data.to_numpy()).all()
    assert (df["value"].to_numpy() == np.arange(N)).all()
    assert (df["quality"] == 0).all()


def test_many_tags_keep_request_order_and_categories(h, data):
    df = h.read(["rd.b", "rd.a"], T0, T0 + pd.Timedelta(minutes=10))
    assert list(df["tag"].cat.categories) == ["rd.b", "rd.a"]
    assert list(df["tag"].unique()) == ["rd.b", "rd.a"]
    assert len(df) == 1200


def test_int64_tag_is_float64(h, data):
    df = h.read("rd.count", T0, T0 + pd.Timedelta(minutes=1))
    assert df["value"].dtype == np.float64
    assert df["value"].tolist() == [i * 1000.0 for i in range(10)]


def test_string_tag_makes_object(h, data):
    df = h.read(["rd.count", "rd.state"], T0, T0 + pd.Timedelta(minutes=1))
    assert df["value"].dtype == object
    states = df[df["tag"] == "rd.state"]["value"].tolist()
    assert states[:2] == ["idle", "running"]
    counts = df[df["tag"] == "rd.count"]["value"].tolist()
    assert counts[1] == 1000


def test_bool_tag_is_bool_and_quality_comes_back(h, data):
    df = h.read("rd.flag", T0, T0 + pd.Timedelta(minutes=1))
    assert df["value"].dtype == bool
    assert df["value"].tolist() == [i % 3 != 0 for i in range(10)]
    assert df["quality"].tolist() == [0x80000000 if i == 5 else 0 for i in range(10)]


def test_glob(h, data):
    df = h.read("rd.*", T0, T0 + pd.Timedelta(seconds=10))
    assert sorted(df["tag"].cat.categories) == \
        ["rd.a", "rd.b", "rd.count", "rd.flag", "rd.state"]
    assert len(df) == 50


def test_unknown_glob_is_empty(h, data):
    df = h.read("nothing.here.*", T0, T0 + pd.Timedelta(seconds=10))
    assert len(df) == 0
    assert list(df.columns) == ["tag", "time", "value", "quality"]
    assert str(df["time"].dtype) == "datetime64[ns, UTC]"


@pytest.mark.parametrize("start,end", [
    ("2026-11-23T00:00:00Z", "2026-11-23T00:01:00Z"),
    ("2026-11-23T01:00:00+01:00", "2026-11-23T01:01:00+01:00"),
    (dt.datetime(2026, 11, 23), dt.datetime(2026, 11, 23, 0, 1)),
    (pd.Timestamp("2026-11-22T18:00:00", tz="America/Chicago"),
     pd.Timestamp("2026-11-22T18:01:00", tz="America/Chicago")),
    (np.datetime64("2026-11-23T00:00:00"), np.datetime64("2026-11-23T00:01:00")),
    ("1795392000s", "1795392060000ms"),
])
def test_time_forms(h, data, start, end):
    df = h.read("rd.a", start, end)
    assert len(df) == 60
    assert df["time"].iloc[0] == T0


def test_relative_times_reach_recent_data(h):
    now = pd.Timestamp.now(tz="UTC").floor("s")
    h.write(pd.Series([1.0, 2.0], index=[now - pd.Timedelta(minutes=30), now],
                      name="rd.recent"))
    assert len(h.read("rd.recent", "-1h", "now+1s")) == 2
    assert len(h.read("rd.recent", "-1h", "-10m")) == 1
    assert len(h.read("rd.recent")) >= 1  # default: the last hour up to now


def test_wide(h, data):
    w = h.read(["rd.a", "rd.b", "rd.state"], T0, T0 + pd.Timedelta(seconds=20), wide=True)
    assert list(w.columns) == ["rd.a", "rd.b", "rd.state"]
    assert str(w.index.dtype) == "datetime64[ns, UTC]"
    assert len(w) == 20
    assert w["rd.a"].iloc[3] == 3.0
    assert w["rd.state"].iloc[10:].isna().all()  # the string tag has 10 samples
    assert w["rd.state"].iloc[0] == "idle"


def test_wide_numeric_only_is_float(h, data):
    w = h.read(["rd.a", "rd.count"], T0, T0 + pd.Timedelta(seconds=20), wide=True)
    assert (w.dtypes == np.float64).all()


def test_chunks(h, data):
    chunks = list(h.read(["rd.a", "rd.b"], T0, T0 + pd.Timedelta(hours=2), chunks=True,
                         chunk_size=3000))
    assert all(isinstance(c, pd.DataFrame) for c in chunks)
    assert max(len(c) for c in chunks) <= 3000
    whole = pd.concat(chunks, ignore_index=True)
    assert len(whole) == 2 * N
    assert list(whole["tag"].cat.categories) == ["rd.a", "rd.b"]
    ref = h.read(["rd.a", "rd.b"], T0, T0 + pd.Timedelta(hours=2))
    pd.testing.assert_frame_equal(whole, ref)


def test_chunks_capped_by_node_limit(h, data):
    # The node's --max_read_samples (5000) caps a stream below chunk_size.
    sizes = [len(c) for c in h.read("rd.a", T0, T0 + pd.Timedelta(hours=2), chunks=True)]
    assert sizes == [5000, 2200]


def test_chunks_wide(h, data):
    chunks = list(h.read(["rd.a", "rd.b"], T0, T0 + pd.Timedelta(minutes=10), chunks=True,
                         chunk_size=500, wide=True))
    assert sum(len(c) for c in chunks) >= 600
    assert all(list(c.columns) == ["rd.a", "rd.b"] for c in chunks)


def test_early_stop_of_chunks(h, data):
    it = h.read("rd.a", T0, T0 + pd.Timedelta(hours=2), chunks=True, chunk_size=100)
    first = next(it)
    it.close()
    assert len(first) == 100


def test_bounds(h, data):
    df = h.read("rd.a", T0 + pd.Timedelta(seconds=10), T0 + pd.Timedelta(seconds=20), bounds=True)
    assert df["value"].tolist() == [9.0] + [float(i) for i in range(10, 20)] + [20.0]


def test_empty_range(h, data):
    assert len(h.read("rd.a", T0, T0)) == 0


def test_one_client_from_many_threads(h, data):
    from concurrent.futures import ThreadPoolExecutor
    ref = h.read(["rd.a", "rd.b"], T0, T0 + pd.Timedelta(hours=2))
    with ThreadPoolExecutor(4) as pool:
        frames = list(pool.map(lambda _: h.read(["rd.a", "rd.b"], T0, T0 + pd.Timedelta(hours=2)),
                               range(8)))
    for f in frames:
        pd.testing.assert_frame_equal(f, ref)
