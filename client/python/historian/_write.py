"""DataFrames and Series -> batches of Ingest.WriteRequest (columns form).

Forms accepted by Client.write:
  - a Series: its name (or `tag=`) is the tag, its DatetimeIndex the times;
  - a long DataFrame with columns `tag`, `value` and `time` (or a
    DatetimeIndex), optionally `quality`;
  - a wide DataFrame: a DatetimeIndex and one column per tag.
Naive times are UTC. With dropna (the default) NaN/None values are missing
data and not written (pass dropna=False to store NaN samples).
"""

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from historian import _proto as pb
from historian._frames import utc_times


@dataclass
class WriteResult:
    """What a write did. accepted: samples the node acknowledged as stored
    (for a duplicate batch, by its first delivery); batches: batches
    acknowledged; duplicates: batches the node had already stored (a retry:
    nothing new stored); rejected: one row per rejected sample (tag, time,
    code, reason)."""

    accepted: int = 0
    batches: int = 0
    duplicates: int = 0
    rejected: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(
        {"tag": [], "time": utc_times(np.zeros(0, np.int64)), "code": [], "reason": []}))


def _times_ns(values):
    """Anything pandas reads as times -> int64 ns (naive = UTC)."""
    idx = pd.DatetimeIndex(pd.to_datetime(values, utc=True))
    if idx.hasnans:
        raise ValueError("write: a time is missing (NaT)")
    return idx.asi8


def _series_parts(data, tag, quality):
    name = tag if tag is not None else data.name
    if name is None:
        raise ValueError("write: a Series needs a name (the tag) or tag=")
    yield str(name), _times_ns(data.index), data.to_numpy(), quality


def split(data, tag=None, quality=None):
    """Yields (tag, times_ns, values, qualities-or-None) per tag."""
    if isinstance(data, pd.Series):
        yield from _series_parts(data, tag, quality)
        return
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"write: want a pandas DataFrame or Series, got {type(data).__name__}")
    if "tag" in data.columns and "value" in data.columns:
        times = data["time"] if "time" in data.columns else data.index
        times_ns = _times_ns(times)
        q_all = data["quality"].to_numpy() if "quality" in data.columns else None
        codes, names = pd.factorize(data["tag"], sort=False)
        if (codes < 0).any():
            raise ValueError("write: a tag is missing")
        order = np.argsort(codes, kind="stable")
        bounds = np.searchsorted(codes[order], np.arange(len(names) + 1))
        values = data["value"].to_numpy()
        for i, name in enumerate(names):
            rows = order[bounds[i]:bounds[i + 1]]
            q = q_all[rows] if q_all is not None else quality
            yield str(name), times_ns[rows], values[rows], q
        return
    if tag is not None:
        raise ValueError("write: tag= is for a Series")
    times_ns = _times_ns(data.index)
    for name in data.columns:
        yield str(name), times_ns, data[name].to_numpy(), quality


def _qualities(q, n):
    if q is None:
        return None
    if np.isscalar(q):
        return np.full(n, int(q), np.uint32)
    return np.asarray(q).astype(np.uint32)


def _kind(tag, values, tag_type):
    """(kind, values): 'd' double, 'i' int64, 'b' bool, 's' string."""
    dt = values.dtype
    if dt == bool:
        return "b", values
    if dt.kind in "iu":
        if tag_type(tag) != "int64":
            return "d", values.astype(np.float64)
        if dt.kind == "u" and len(values) and values.max() > np.uint64(np.iinfo(np.int64).max):
            raise ValueError(f"write: tag {tag}: value {values.max()} is over the int64 "
                             f"maximum {np.iinfo(np.int64).max}")
        return "i", values.astype(np.int64)
    if dt.kind == "f":
        if tag_type(tag) == "int64" and np.all(np.isfinite(values)) and \
                np.all(values == np.round(values)):
            return "i", values.astype(np.int64)
        return "d", values.astype(np.float64, copy=False)
    # object, string, categorical: look at the Python values.
    kinds = {type(v) for v in values}
    if kinds <= {str}:
        return "s", values
    if kinds <= {bool, np.bool_}:
        return "b", values.astype(bool)
    numbers = [v for v in values if not isinstance(v, (bool, np.bool_))]
    if len(numbers) == len(values) and all(isinstance(v, (int, np.integer)) for v in values):
        # Whole numbers (a nullable Int64 column, Python ints): exact, never
        # through float64 (which rounds past 2**53).
        if tag_type(tag) != "int64":
            return "d", np.array(values, dtype=np.float64)
        try:
            return "i", np.array([int(v) for v in values], dtype=np.int64)
        except OverflowError:
            raise ValueError(f"write: tag {tag}: a value is outside the int64 range") from None
    if len(numbers) == len(values) and \
            all(isinstance(v, (int, float, np.integer, np.floating)) for v in values):
        return _kind(tag, values.astype(np.float64), tag_type)
    raise TypeError(f"write: tag {tag}: values of mixed types {sorted(k.__name__ for k in kinds)}; "
                    "a tag has one type (double, int64, bool or string)")


def prepared(data, tag, quality, dropna, tag_type):
    """Yields (tag, times_ns, kind, values, qualities-or-None), NaN dropped."""
    for name, times, values, q in split(data, tag, quality):
        q = _qualities(q, len(times))
        if dropna:
            keep = ~pd.isna(values)
            if not keep.all():
                times, values = times[keep], values[keep]
                q = q[keep] if q is not None else None
        if len(times) == 0:
            continue
        kind, values = _kind(name, values, tag_type)
        yield name, times, kind, values, q


def batches(parts, batch_size):
    """Yields (WriteRequest without client_id/sequence, index) where index
    maps series i of the request to (tag, times slice) for rejections."""
    request = pb.ingest_pb2.WriteRequest()
    index = []
    size = 0
    for name, times, kind, values, q in parts:
        pos = 0
        while pos < len(times):
            take = min(batch_size - size, len(times) - pos)
            t = times[pos:pos + take]
            ts = request.series.add()
            ts.tag = name
            cols = ts.columns
            cols.timestamp_deltas_ns.extend(np.diff(t, prepend=np.int64(0)).tolist())
            v = values[pos:pos + take]
            if kind == "d":
                cols.double_values.extend(v.tolist())
            elif kind == "i":
                cols.int64_values.extend(v.tolist())
            elif kind == "b":
                cols.bool_values.extend(v.tolist())
            else:
                cols.string_values.extend(v.tolist())
            if q is not None:
                qs = q[pos:pos + take]
                if (qs == qs[0]).all():
                    if qs[0] != 0:
                        cols.qualities.append(int(qs[0]))
                else:
                    cols.qualities.extend(qs.tolist())
            index.append((name, t))
            pos += take
            size += take
            if size >= batch_size:
                yield request, index
                request = pb.ingest_pb2.WriteRequest()
                index = []
                size = 0
    if size:
        yield request, index
