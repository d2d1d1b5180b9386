"""Writes: Series, long and wide DataFrames, types, NaN, qualities,
batching, idempotent retries by (client_id, batch_sequence), rejections."""

import numpy as np
import pandas as pd
import pytest
from conftest import cli

import historian

T0 = pd.Timestamp("2026-11-24T00:00:00Z")
END = T0 + pd.Timedelta(days=1)


def idx(n, freq="1s"):
    return pd.date_range(T0, periods=n, freq=freq)


def test_series(h):
    r = h.write(pd.Series(np.arange(100.0), index=idx(100), name="w.series"))
    assert (r.accepted, r.batches, r.duplicates, len(r.rejected)) == (100, 1, 0, 0)
    df = h.read("w.series", T0, END)
    assert df["value"].tolist() == list(np.arange(100.0))


def test_series_naive_index_is_utc_and_tag_argument(h):
    s = pd.Series([1.0, 2.0], index=pd.DatetimeIndex(["2026-11-24 00:00:00", "2026-11-24 00:00:01"]))
    h.write(s, tag="w.naive")
    assert h.read("w.naive", T0, END)["time"].tolist() == list(idx(2))
    with pytest.raises(ValueError):
        h.write(pd.Series([1.0], index=idx(1)))  # no name, no tag=


def test_long_frame_with_quality_and_time_column(h):
    df = pd.DataFrame({
        "tag": ["w.long.a", "w.long.b", "w.long.a", "w.long.b"],
        "time": ["2026-11-24T00:00:00Z", "2026-11-24T00:00:00Z", "2026-11-24T00:00:01Z",
                 "2026-11-24T00:00:01Z"],
        "value": [1.5, 2.5, 3.5, 4.5],
        "quality": [0, 0x80000000, 0x40000000, 0],
    })
    assert h.write(df).accepted == 4
    back = h.read(["w.long.a", "w.long.b"], T0, END)
    assert back["value"].tolist() == [1.5, 3.5, 2.5, 4.5]
    assert back["quality"].tolist() == [0, 0x40000000, 0x80000000, 0]


def test_wide_frame_drops_nan(h):
    df = pd.DataFrame({"w.wide.a": [1.0, np.nan, 3.0], "w.wide.b": [np.nan, 5.0, 6.0]}, index=idx(3))
    assert h.write(df).accepted == 4
    back = h.read(["w.wide.a", "w.wide.b"], T0, END, wide=True)
    pd.testing.assert_frame_equal(back, df.rename_axis("time").rename_axis("tag", axis=1),
                                  check_freq=False)


def test_dropna_false_stores_nan(h):
    h.write(pd.Series([1.0, np.nan, 3.0], index=idx(3), name="w.nan"), dropna=False)
    back = h.read("w.nan", T0, END)
    assert len(back) == 3 and np.isnan(back["value"].iloc[1])


def test_types(h, node):
    h.write(pd.Series([True, False], index=idx(2), name="w.type.bool"))
    h.write(pd.Series(["run", "stop"], index=idx(2), name="w.type.str"))
    h.write(pd.Series([1, 2], index=idx(2), name="w.type.int_to_new"))  # a new tag: double
    h.create_tag("w.type.int64", "int64")
    big = 2**53 + 1
    h.write(pd.Series([big, 7], index=idx(2), name="w.type.int64"))
    h.write(pd.Series([8.0], index=idx(1) + pd.Timedelta(seconds=5), name="w.type.int64"))
    types = h.tags("w.type.*")["type"].to_dict()
    assert types == {"w.type.bool": "bool", "w.type.int64": "int64",
                     "w.type.int_to_new": "double", "w.type.str": "string"}
    # The CLI prints the int64 exactly (a DataFrame value is float64).
    out = cli(node, "query", "w.type.int64", "--from", "2026-11-24T00:00:00Z",
              "--to", "2026-11-25T00:00:00Z", "--time_format", "ns")
    assert str(big) in out and ",8," in out
    assert h.read("w.type.bool", T0, END)["value"].tolist() == [True, False]
    assert h.read("w.type.str", T0, END)["value"].tolist() == ["run", "stop"]
    with pytest.raises(TypeError):
        h.write(pd.Series(["a", 1.0], index=idx(2), name="w.type.mixed"))


def test_int64_values_stay_exact_in_every_form(h, node):
    # A nullable Int64 column (an object array to numpy, with a missing
    # value), Python ints in a long frame whose other tag holds strings, and
    # uint64: never through float64, which rounds past 2**53.
    h.create_tag("w.exact.nullable", "int64")
    h.create_tag("w.exact.long", "int64")
    h.create_tag("w.exact.u", "int64")
    big = 2**53 + 1
    h.write(pd.Series([big, None, -big], index=idx(3), name="w.exact.nullable", dtype="Int64"))
    h.write(pd.DataFrame({"tag": ["w.exact.long", "w.exact.long.label"],
                          "time": idx(2), "value": [big + 2, "label"]}))
    h.write(pd.Series(np.array([big + 4], dtype=np.uint64), index=idx(1), name="w.exact.u"))
    for tag, want in [("w.exact.nullable", [str(big), str(-big)]),
                      ("w.exact.long", [str(big + 2)]), ("w.exact.u", [str(big + 4)])]:
        out = cli(node, "query", tag, "--from", "2026-11-24T00:00:00Z",
                  "--to", "2026-11-25T00:00:00Z", "--time_format", "ns")
        values = [line.split(",")[2] for line in out.splitlines()[1:] if line]
        assert values == want, (tag, out)
    with pytest.raises(ValueError, match="int64"):
        h.write(pd.Series(np.array([2**63], dtype=np.uint64), index=idx(1), name="w.exact.u"))


def test_written_by_client_read_by_cli(h, node):
    h.write(pd.Series([21.5, 22.25], index=idx(2), name="w.cli"))
    out = cli(node, "export-csv", "w.cli", "--from", "2026-11-24T00:00:00Z",
              "--to", "2026-11-25T00:00:00Z", "--time_format", "ns")
    assert out.splitlines()[1:] == [f"w.cli,{T0.value},21.5,0", f"w.cli,{T0.value + 10**9},22.25,0"]


def test_batches(h):
    r = h.write(pd.Series(np.arange(5000.0), index=idx(5000), name="w.batched"), batch_size=1000)
    assert (r.accepted, r.batches) == (5000, 5)
    wide = pd.DataFrame({f"w.batched.{i}": np.arange(700.0) for i in range(3)}, index=idx(700))
    r = h.write(wide, batch_size=1000)  # tags split across batches
    assert (r.accepted, r.batches) == (2100, 3)
    assert len(h.read("w.batched.*", T0, END)) == 2100


def test_idempotent_by_client_id_and_sequence(node):
    # A retry is the same (client_id, batch_sequence): the node stores it
    # once and acknowledges it as a duplicate.
    first = historian.connect(node.address, client_id="py-test-dedup")
    r1 = first.write(pd.Series(np.arange(10.0), index=idx(10), name="w.dedup"), batch_size=5)
    assert (r1.accepted, r1.batches, r1.duplicates) == (10, 2, 0)
    retry = historian.connect(node.address, client_id="py-test-dedup", first_sequence=1)
    r2 = retry.write(pd.Series(np.arange(10.0) + 100, index=idx(10), name="w.dedup"), batch_size=5)
    # accepted_count of a duplicate is that of its first delivery.
    assert (r2.accepted, r2.batches, r2.duplicates) == (10, 2, 2)
    assert first.read("w.dedup", T0, END)["value"].tolist() == list(np.arange(10.0))
    # Distinct clients get distinct ids, so their data is never taken for a retry.
    a, b = historian.connect(node.address), historian.connect(node.address)
    assert a.client_id != b.client_id


def test_rejected_samples(h):
    h.write(pd.Series([1.0], index=idx(1), name="w.rej"))
    bad = pd.Series(["text", "more"], index=idx(2), name="w.rej")
    with pytest.raises(historian.WriteRejected) as e:
        h.write(bad)
    err = e.value
    assert err.code_name == "INVALID_ARGUMENT"
    assert len(err.result.rejected) == 2
    assert err.result.rejected["tag"].tolist() == ["w.rej", "w.rej"]
    assert err.result.rejected["time"].tolist() == list(idx(2))
    assert "string" in err.result.rejected["reason"].iloc[0]
    r = h.write(bad, errors="ignore")
    assert len(r.rejected) == 2 and r.accepted == 0


def test_bad_input(h):
    with pytest.raises(TypeError):
        h.write([1, 2, 3])
    with pytest.raises(ValueError):
        h.write(pd.Series([1.0], index=pd.DatetimeIndex([pd.NaT]), name="w.nat"))
