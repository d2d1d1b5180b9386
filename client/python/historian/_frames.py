"""Answers of the node -> pandas DataFrames.

Long form: `tag` (categorical, categories in request order), `time`
(datetime64[ns, UTC]), `value`, `quality` (uint32, OPC UA StatusCode; 0 =
Good). `value` is float64 (int64 tags included) unless a string or bool tag
is in the result: then bool when every value is a bool, else object.
"""

import numpy as np
import pandas as pd


def utc_times(ns):
    """int64 ns since the epoch -> a tz-aware datetime64[ns, UTC] array."""
    return pd.DatetimeIndex(np.asarray(ns, dtype=np.int64).view("datetime64[ns]")).tz_localize("UTC")


def empty_long(categories, value_dtype=np.float64):
    return pd.DataFrame({
        "tag": pd.Categorical.from_codes(np.zeros(0, np.int32), categories=categories),
        "time": utc_times(np.zeros(0, np.int64)),
        "value": np.zeros(0, value_dtype),
        "quality": np.zeros(0, np.uint32),
    })


class Samples:
    """Collects decoded pieces of a long-form answer: per piece a tag index,
    int64 times, a value array of one kind and qualities."""

    def __init__(self, categories):
        self.categories = list(categories)
        self.index = {t: i for i, t in enumerate(self.categories)}
        self.pieces = []
        self.rows = 0

    def add(self, tag, times, values, kind, qualities):
        if len(times) == 0:
            return
        self.pieces.append((self.index[tag], times, values, kind, qualities))
        self.rows += len(times)

    def add_columns(self, tag, cols):
        """A ReadResponse.columns (SampleColumns)."""
        n = len(cols.timestamp_deltas_ns)
        if n == 0:
            return
        times = np.cumsum(np.array(cols.timestamp_deltas_ns, dtype=np.int64))
        if len(cols.double_values):
            values, kind = np.array(cols.double_values, dtype=np.float64), "f"
        elif len(cols.int64_values):
            values, kind = np.array(cols.int64_values, dtype=np.int64), "i"
        elif len(cols.bool_values):
            values, kind = np.array(cols.bool_values, dtype=bool), "b"
        else:
            values, kind = np.array(list(cols.string_values), dtype=object), "s"
        q = cols.qualities
        if len(q) == 0:
            qualities = np.zeros(n, np.uint32)
        elif len(q) == 1:
            qualities = np.full(n, q[0], np.uint32)
        else:
            qualities = np.array(q, dtype=np.uint32)
        self.add(tag, times, values, kind, qualities)

    def add_samples(self, tag, samples):
        """repeated Sample (Interpolate, Plot): an unset value is NaN/None."""
        n = len(samples)
        if n == 0:
            return
        times = np.fromiter((s.timestamp_ns for s in samples), np.int64, n)
        qualities = np.fromiter((s.quality for s in samples), np.uint32, n)
        raw = [value_of(s.value) if s.HasField("value") else None for s in samples]
        kinds = {type(v) for v in raw if v is not None}
        if kinds <= {float, int}:
            values = np.array([np.nan if v is None else v for v in raw], dtype=np.float64)
            kind = "f"
        elif kinds == {bool} and None not in raw:
            values, kind = np.array(raw, dtype=bool), "b"
        else:
            values, kind = np.array(raw, dtype=object), "s"
        self.add(tag, times, values, kind, qualities)

    def frame(self):
        if not self.pieces:
            return empty_long(self.categories)
        codes = np.concatenate([np.full(len(p[1]), p[0], np.int32) for p in self.pieces])
        times = np.concatenate([p[1] for p in self.pieces])
        kinds = {p[3] for p in self.pieces}
        if kinds <= {"f", "i"}:
            values = np.concatenate([p[2].astype(np.float64, copy=False) for p in self.pieces])
        elif kinds == {"b"}:
            values = np.concatenate([p[2] for p in self.pieces])
        else:
            values = np.concatenate([p[2].astype(object) for p in self.pieces])
        qualities = np.concatenate([p[4] for p in self.pieces])
        return pd.DataFrame({
            "tag": pd.Categorical.from_codes(codes, categories=self.categories),
            "time": utc_times(times),
            "value": values,
            "quality": qualities,
        })


def value_of(v):
    kind = v.WhichOneof("kind")
    if kind is None:
        return None
    return getattr(v, kind)


def _spread(values, codes_sorted_rows, bounds, pos, n_times, tags):
    """One value column -> one array per tag over the union of times."""
    out = {}
    for i, tag in enumerate(tags):
        rows = codes_sorted_rows[bounds[i]:bounds[i + 1]]
        full = len(rows) == n_times
        if values.dtype == np.float64:
            arr = np.full(n_times, np.nan)
        elif full:
            arr = np.empty(n_times, values.dtype)
        else:
            arr = np.full(n_times, np.nan, dtype=object)
        arr[pos[rows]] = values[rows]
        out[tag] = arr
    return out


def wide(frame, values="value"):
    """Long form -> one column per tag (in request order, every requested tag
    present), indexed by time; a time missing for a tag is NaN. With a list
    of `values`, the columns are (value name, tag). (numpy, not
    DataFrame.pivot: several times faster.)"""
    tags = [str(t) for t in frame["tag"].cat.categories]
    codes = frame["tag"].cat.codes.to_numpy()
    times = pd.DatetimeIndex(frame["time"]).asi8
    union = np.unique(times)
    pos = np.searchsorted(union, times)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(tags) + 1))
    index = pd.Index(utc_times(union), name="time")
    if isinstance(values, str):
        cols = _spread(frame[values].to_numpy(), order, bounds, pos, len(union), tags)
        out = pd.DataFrame(cols, index=index, columns=tags)
        out.columns.name = "tag"
        return out
    cols = {}
    for v in values:
        for tag, arr in _spread(frame[v].to_numpy(), order, bounds, pos, len(union), tags).items():
            cols[(v, tag)] = arr
    out = pd.DataFrame(cols, index=index)
    out.columns = pd.MultiIndex.from_tuples(list(cols), names=[None, "tag"])
    return out
