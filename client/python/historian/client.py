"""historian.Client: the node's Query, Catalog and Ingest services as pandas
DataFrames. See docs/python.md."""

import itertools
import os
import socket
import threading
import time as _time

import grpc
import numpy as np
import pandas as pd

from historian import _proto as pb
from historian import _times, _write
from historian._channels import Channels
from historian._frames import Samples, utc_times, value_of
from historian._frames import wide as to_wide
from historian.errors import HistorianError, WriteRejected

_Q = pb.query_pb2
_C = pb.catalog_pb2

MAX_TAGS_PER_REQUEST = 1000  # the node's --max_tags_per_query default

_FUNCTIONS = {
    "count": _Q.COUNT, "sum": _Q.SUM, "min": _Q.MIN, "max": _Q.MAX, "avg": _Q.AVG,
    "mean": _Q.AVG, "first": _Q.FIRST, "last": _Q.LAST, "stddev": _Q.STDDEV,
    "std": _Q.STDDEV, "twa": _Q.TIME_WEIGHTED_AVG, "time_weighted_avg": _Q.TIME_WEIGHTED_AVG,
    "delta": _Q.DELTA, "rate": _Q.RATE,
}
_METHODS = {"linear": _Q.LINEAR, "previous": _Q.PREVIOUS, "prev": _Q.PREVIOUS}
_TYPES = {"double": 1, "int64": 2, "bool": 3, "string": 4}
_TYPE_NAMES = {v: k for k, v in _TYPES.items()}


def _is_glob(name):
    return "*" in name or "?" in name


def _chunked(seq, n):
    for i in range(0, len(seq), n):
        yield seq[i:i + n]


class Client:
    """A connection to one or more historian nodes (see connect()).

    Thread-safe: calls may run concurrently from several threads; each uses
    its own gRPC call over shared channels. Write batch sequences come from
    one counter under a lock.
    """

    def __init__(self, endpoints="127.0.0.1:7400", token=None, tls=None, timeout=30.0,
                 client_id=None, first_sequence=1, batch_size=10_000):
        self._channels = Channels(endpoints, token=token, tls=tls, timeout=timeout)
        # A node remembers (client_id, batch_sequence) durably: a fresh id per
        # Client unless the caller owns the numbering (see client/writer.h).
        self.client_id = client_id or \
            f"python-{socket.gethostname()}-{os.getpid()}-{_time.time_ns()}"
        if first_sequence < 1:
            raise ValueError("first_sequence must be >= 1")
        self._sequence = itertools.count(first_sequence)
        self._sequence_lock = threading.Lock()
        self.batch_size = batch_size
        self._types = {}  # tag -> type name, for writes
        self._types_lock = threading.Lock()

    # -- plumbing ---------------------------------------------------------

    @property
    def endpoints(self):
        return [e.address for e in self._channels.endpoints]

    @property
    def preferred_endpoint(self):
        """The endpoint calls currently go to first."""
        return self._channels.preferred_endpoint

    def close(self):
        self._channels.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _unary(self, service, method, request):
        return self._channels.unary(service, method, request)

    def _expand(self, tags):
        """Tag names and globs -> names (globs through the catalog, in its
        order), each once, in the order given."""
        if isinstance(tags, str):
            tags = [tags]
        out, seen = [], set()
        for t in tags:
            names = [tag.name for tag in self._list_tags(t)] if _is_glob(t) else [t]
            for n in names:
                if n not in seen:
                    seen.add(n)
                    out.append(n)
        return out

    def _list_tags(self, glob="", attributes=None):
        request = _C.ListTagsRequest(glob=glob, page_size=10_000)
        for k, v in (attributes or {}).items():
            request.attributes[k] = v
        while True:
            response = self._unary("catalog", "ListTags", request)
            yield from response.tags
            if not response.next_page_token:
                return
            request.page_token = response.next_page_token

    # -- raw reads --------------------------------------------------------

    def _read_messages(self, names, start_ns, end_ns, bounds, limit_per_stream=0):
        """Yields ReadResponse messages, following continuation tokens;
        with limit_per_stream, yields None after each stream."""
        for group in _chunked(names, MAX_TAGS_PER_REQUEST):
            request = _Q.ReadRequest(tags=group, start_ns=start_ns, end_ns=end_ns,
                                     include_bounds=bounds, columns=True,
                                     limit=limit_per_stream)
            while True:
                token = b""
                for message in self._channels.read_stream(request):
                    if message.continuation_token:
                        token = message.continuation_token
                    yield message
                if limit_per_stream:
                    yield None
                if not token:
                    break
                request.continuation_token = token

    def read(self, tags, start="-1h", end="now", *, wide=False, chunks=False,
             chunk_size=1_000_000, bounds=False):
        """Raw samples of `tags` (names and/or globs) in [start, end).

        Returns a long DataFrame: tag (categorical), time
        (datetime64[ns, UTC]), value, quality; or with wide=True one column
        per tag indexed by time. The node's continuation tokens are followed
        to the end.

        chunks=True returns an iterator of DataFrames of at most `chunk_size`
        rows each (one Read stream each, so nothing is held open between
        chunks): memory stays bounded whatever the range.
        bounds=True adds each tag's last sample before start and first at or
        after end.
        """
        names = self._expand(tags)
        start_ns, end_ns = _times.time_range(start, end)
        if chunks:
            if chunk_size <= 0:
                raise ValueError("chunk_size must be positive")
            return self._read_chunks(names, start_ns, end_ns, bounds, chunk_size, wide)
        samples = Samples(names)
        for message in self._read_messages(names, start_ns, end_ns, bounds):
            samples.add_columns(message.tag, message.columns)
        frame = samples.frame()
        return to_wide(frame) if wide else frame

    def _read_chunks(self, names, start_ns, end_ns, bounds, chunk_size, as_wide):
        samples = Samples(names)
        for message in self._read_messages(names, start_ns, end_ns, bounds, chunk_size):
            if message is not None:
                samples.add_columns(message.tag, message.columns)
                continue
            if samples.rows:
                frame = samples.frame()
                samples = Samples(names)
                yield to_wide(frame) if as_wide else frame

    # -- aggregates, interpolation, plot, latest --------------------------

    def aggregate(self, tags, start="-1h", end="now", step="1h", functions=("avg",), *,
                  align="calendar", tz=None, good_only=False, max_gap=None, wide=False):
        """Aggregates per window (docs/query.md).

        step: a duration ("1m", "1h", "1d", a timedelta) or, with calendar
        alignment, "1w" (ISO weeks from Monday) or "3mo" (months).
        functions: count sum min max avg first last stddev twa delta rate.
        align: "calendar" (default: windows on the hour, local midnights of
        `tz` for day steps) or "start" (windows at start + k * step).
        Returns tag, time (window start), count, then one column per function
        (NaN where a window has no data); wide=True pivots to one column per
        tag (per (function, tag) with several functions).
        """
        names = self._expand(tags)
        start_ns, end_ns = _times.time_range(start, end)
        if isinstance(functions, str):
            functions = [f for f in functions.split(",") if f.strip()]
        fnames = [f.strip().lower() for f in functions]
        if not fnames:
            raise ValueError("aggregate: no function given")
        for f in fnames:
            if f not in _FUNCTIONS:
                raise ValueError(f"aggregate: unknown function {f!r}; want one of "
                                 f"{', '.join(sorted(_FUNCTIONS))}")
        align = align.lower()
        if align not in ("calendar", "start"):
            raise ValueError(f"aggregate: align must be 'calendar' or 'start', got {align!r}")
        base = _Q.AggregateRequest(start_ns=start_ns, end_ns=end_ns, good_only=good_only,
                                   columns=True, functions=[_FUNCTIONS[f] for f in fnames])
        base.align = _Q.CALENDAR if align == "calendar" else _Q.START
        if align == "calendar" and tz:
            base.time_zone = tz
        elif tz:
            raise ValueError("aggregate: tz needs align='calendar'")
        self._set_step(base, step, align == "calendar")
        if max_gap is not None:
            base.max_gap_ns = _times.to_duration_ns(max_gap, "max_gap")
        value_names = [f for f in dict.fromkeys(fnames) if f != "count"]
        columns = {"count": []}
        columns.update({f: [] for f in value_names})
        codes, starts = [], []
        index = {t: i for i, t in enumerate(names)}
        nf = len(fnames)
        for group in _chunked(names, MAX_TAGS_PER_REQUEST):
            request = _Q.AggregateRequest()
            request.CopyFrom(base)
            request.tags.extend(group)
            response = self._unary("query", "Aggregate", request)
            for series in response.series:
                n = len(series.counts)
                if n == 0:
                    continue
                if len(series.window_starts):
                    ws = np.array(series.window_starts, dtype=np.int64)
                else:
                    ws = start_ns + np.arange(n, dtype=np.int64) * request.step_ns
                values = np.array(series.values, dtype=np.float64).reshape(n, nf)
                codes.append(np.full(n, index[series.tag], np.int32))
                starts.append(ws)
                columns["count"].append(np.array(series.counts, dtype=np.int64))
                for f in value_names:
                    columns[f].append(values[:, fnames.index(f)])
        cat = lambda c: pd.Categorical.from_codes(c, categories=names)  # noqa: E731
        if codes:
            frame = pd.DataFrame({"tag": cat(np.concatenate(codes)),
                                  "time": utc_times(np.concatenate(starts)),
                                  **{k: np.concatenate(v) for k, v in columns.items()}})
        else:
            frame = pd.DataFrame({"tag": cat(np.zeros(0, np.int32)),
                                  "time": utc_times(np.zeros(0, np.int64)),
                                  "count": np.zeros(0, np.int64),
                                  **{f: np.zeros(0) for f in value_names}})
        if not wide:
            return frame
        if len(value_names) <= 1:
            return to_wide(frame, value_names[0] if value_names else "count")
        return to_wide(frame, value_names)

    @staticmethod
    def _set_step(request, step, calendar):
        if isinstance(step, str):
            s = step.strip().lower()
            for suffix, unit in (("mo", _Q.MONTH), ("w", _Q.WEEK)):
                count = s[:-len(suffix)]
                if s.endswith(suffix) and count.isdigit():
                    if int(count) <= 0:
                        raise ValueError("step: want a positive count")
                    if calendar:
                        request.step_unit = unit
                        request.step_count = int(count)
                        return
                    if unit == _Q.MONTH:
                        raise ValueError("step: months need align='calendar'")
                    request.step_ns = int(count) * 7 * 86_400 * 10**9
                    return
        request.step_ns = _times.to_duration_ns(step, "step")

    def interpolate(self, tags, start="-1h", end="now", step="1m", *, method="linear",
                    max_gap=None, wide=False):
        """One point per step at start + k * step (docs/query.md,
        Interpolate): method "linear" or "previous". A point with no value
        (before the first sample, over a gap) is NaN with quality Bad
        (0x80000000)."""
        names = self._expand(tags)
        start_ns, end_ns = _times.time_range(start, end)
        if method.lower() not in _METHODS:
            raise ValueError(f"interpolate: method must be linear or previous, got {method!r}")
        samples = Samples(names)
        for group in _chunked(names, MAX_TAGS_PER_REQUEST):
            request = _Q.InterpolateRequest(tags=group, start_ns=start_ns, end_ns=end_ns,
                                            step_ns=_times.to_duration_ns(step, "step"),
                                            method=_METHODS[method.lower()])
            if max_gap is not None:
                request.max_gap_ns = _times.to_duration_ns(max_gap, "max_gap")
            for series in self._unary("query", "Interpolate", request).series:
                samples.add_samples(series.tag, series.samples)
        frame = samples.frame()
        return to_wide(frame) if wide else frame

    def plot(self, tags, start="-1h", end="now", buckets=1000, *, wide=False):
        """Samples to draw a trend (Query.Plot): per bucket the first, last,
        min and max samples, so every spike survives; at most 4 * buckets
        samples per tag whatever the range. `h.plot(..., wide=True).plot()`
        draws it with matplotlib."""
        names = self._expand(tags)
        start_ns, end_ns = _times.time_range(start, end)
        samples = Samples(names)
        for group in _chunked(names, MAX_TAGS_PER_REQUEST):
            request = _Q.PlotRequest(tags=group, start_ns=start_ns, end_ns=end_ns,
                                     buckets=int(buckets))
            for series in self._unary("query", "Plot", request).series:
                samples.add_samples(series.tag, series.samples)
        frame = samples.frame()
        return to_wide(frame) if wide else frame

    def latest(self, tags="*"):
        """The newest sample of each tag (names, or a glob): tag, time,
        value, quality; NaT/NaN where a tag has no sample."""
        if isinstance(tags, str) and _is_glob(tags):
            requests = [_Q.LatestRequest(glob=tags)]
        else:
            names = [tags] if isinstance(tags, str) else list(tags)
            if any(_is_glob(t) for t in names):
                names = self._expand(names)
            requests = [_Q.LatestRequest(tags=g) for g in _chunked(names, 10_000)]
        rows = []
        for request in requests:
            for v in self._unary("query", "Latest", request).values:
                if v.HasField("sample"):
                    rows.append((v.tag, v.sample.timestamp_ns, value_of(v.sample.value),
                                 v.sample.quality))
                else:
                    rows.append((v.tag, None, None, None))
        names = list(dict.fromkeys(r[0] for r in rows))
        vals = [r[2] for r in rows]
        kinds = {type(x) for x in vals if x is not None}
        if kinds <= {int, float}:
            values = np.array([np.nan if x is None else x for x in vals], dtype=np.float64)
        else:
            values = np.array(vals, dtype=object)
        nat = np.iinfo(np.int64).min
        times = np.array([nat if r[1] is None else r[1] for r in rows], dtype=np.int64)
        return pd.DataFrame({
            "tag": pd.Categorical([r[0] for r in rows], categories=names),
            "time": utc_times(times),
            "value": values,
            "quality": pd.array([r[3] for r in rows], dtype="UInt32"),
        })

    # -- catalog ----------------------------------------------------------

    def tags(self, glob="*", attributes=None):
        """Tags matching `glob` (and every given attribute) with their
        metadata: name, type, unit, description, eng_low, eng_high (NaN when
        unset), stale_after (NaT: never), retention (NaT: forever), deadband,
        origin_site, attributes (dict), created, id. Indexed by name."""
        rows = [_tag_row(t) for t in self._list_tags(glob, attributes)]
        frame = pd.DataFrame(rows, columns=_TAG_COLUMNS)
        frame["created"] = pd.to_datetime(frame["created"].astype("int64"), unit="ns", utc=True)
        for c in ("stale_after", "retention"):
            i = _TAG_COLUMNS.index(c)
            frame[c] = pd.TimedeltaIndex([r[i] for r in rows]).to_numpy()
        return frame.set_index("name", drop=False).rename_axis(None)

    def get_tag(self, name):
        """One tag's metadata as a Series (NOT_FOUND raises)."""
        row = _tag_row(self._unary("catalog", "GetTag", _C.GetTagRequest(name=name)))
        return pd.Series(dict(zip(_TAG_COLUMNS, row)), name=name)

    def create_tag(self, name, type="double", *, unit="", description="", attributes=None,
                   eng_low=None, eng_high=None, stale_after=None, retention=None, deadband=0.0):
        """Creates a tag (role writer or admin). type: double, int64, bool
        or string. Returns its metadata as get_tag does."""
        if type not in _TYPES:
            raise ValueError(f"create_tag: type must be one of {', '.join(_TYPES)}, got {type!r}")
        tag = _C.Tag(name=name, value_type=_TYPES[type], unit=unit, description=description,
                     deadband=deadband)
        for k, v in (attributes or {}).items():
            tag.attributes[k] = v
        if eng_low is not None:
            tag.eng_low = eng_low
        if eng_high is not None:
            tag.eng_high = eng_high
        if stale_after is not None:
            tag.stale_after_ns = _times.to_duration_ns(stale_after, "stale_after")
        if retention is not None:
            tag.retention_ns = _times.to_duration_ns(retention, "retention")
        created = self._unary("catalog", "CreateTag", _C.CreateTagRequest(tag=tag))
        with self._types_lock:
            self._types[name] = _TYPE_NAMES.get(created.value_type)
        return pd.Series(dict(zip(_TAG_COLUMNS, _tag_row(created))), name=name)

    def delete_tag(self, name):
        """Deletes a tag and its data (role admin)."""
        self._unary("catalog", "DeleteTag", _C.DeleteTagRequest(name=name))
        with self._types_lock:
            self._types.pop(name, None)

    # -- writes -----------------------------------------------------------

    def _tag_type(self, name):
        with self._types_lock:
            if name in self._types:
                return self._types[name]
        try:
            tag = self._unary("catalog", "GetTag", _C.GetTagRequest(name=name))
            kind = _TYPE_NAMES.get(tag.value_type)
        except HistorianError as e:
            if e.code != grpc.StatusCode.NOT_FOUND:
                raise
            kind = None  # created by the write, typed by its values
        with self._types_lock:
            self._types[name] = kind
        return kind

    def next_sequence(self):
        with self._sequence_lock:
            return next(self._sequence)

    def write(self, data, tag=None, *, quality=None, dropna=True, batch_size=None,
              retries=3, errors="raise"):
        """Writes a Series, a long DataFrame (tag, time, value[, quality]) or
        a wide DataFrame (DatetimeIndex, one column per tag).

        Sent in batches of `batch_size` samples (Ingest.WriteBatch, columns
        form), each with this client's client_id and the next batch_sequence,
        so a retry (after UNAVAILABLE, on this node or the next endpoint) is
        stored once: the node acknowledges a batch it already has as a
        duplicate. Numbers go to double tags; to an int64 tag (created with
        create_tag(type="int64")) when the tag is one. NaN/None are missing
        data unless dropna=False.

        Returns a WriteResult. Samples the node rejects raise WriteRejected
        (carrying the result; the other samples are stored) unless
        errors="ignore".
        """
        batch_size = batch_size or self.batch_size
        result = _write.WriteResult()
        rejected = []
        parts = _write.prepared(data, tag, quality, dropna, self._tag_type)
        for request, index in _write.batches(parts, batch_size):
            request.client_id = self.client_id
            request.batch_sequence = self.next_sequence()
            ack = self._write_with_retries(request, retries)
            result.batches += 1
            result.accepted += ack.accepted_count
            result.duplicates += int(ack.duplicate)
            for r in ack.rejected:
                name, times = index[r.series_index]
                t = times[r.sample_index] if r.sample_index < len(times) else 0
                rejected.append((name, t, _code_name(r.code), r.reason))
        if rejected:
            result.rejected = pd.DataFrame({
                "tag": [r[0] for r in rejected],
                "time": utc_times(np.array([r[1] for r in rejected], np.int64)),
                "code": [r[2] for r in rejected],
                "reason": [r[3] for r in rejected]})
            if errors == "raise":
                raise WriteRejected(result)
        return result

    def _write_with_retries(self, request, retries):
        delay = 0.2
        for attempt in range(retries + 1):
            try:
                return self._unary("ingest", "WriteBatch", request)
            except HistorianError as e:
                if e.code != grpc.StatusCode.UNAVAILABLE or attempt == retries:
                    raise
                _time.sleep(delay)
                delay *= 2


def _code_name(code):
    for c in grpc.StatusCode:
        if c.value[0] == code:
            return c.name
    return str(code)


_TAG_COLUMNS = ["name", "type", "unit", "description", "eng_low", "eng_high", "stale_after",
                "retention", "deadband", "origin_site", "attributes", "created", "id"]


def _tag_row(t):
    return [
        t.name, _TYPE_NAMES.get(t.value_type, "unspecified"), t.unit, t.description,
        t.eng_low if t.HasField("eng_low") else np.nan,
        t.eng_high if t.HasField("eng_high") else np.nan,
        pd.Timedelta(t.stale_after_ns, "ns") if t.stale_after_ns else pd.NaT,
        pd.Timedelta(t.retention_ns, "ns") if t.retention_ns else pd.NaT,
        t.deadband, t.origin_site, dict(t.attributes), t.created_ns, t.id,
    ]


def connect(endpoints="127.0.0.1:7400", token=None, tls=None, timeout=30.0, **kwargs):
    """Connects to one or more nodes ("us-host:7400" or "us:7400,mx:7400" or
    a list, in order of preference; a call moves on to the next node when one
    is UNAVAILABLE). token: sent as `authorization: Bearer <token>`. tls:
    None (plaintext), True (system roots), a CA file path, a dict or
    historian.TLS(ca_file, cert_file, key_file, server_name). timeout: seconds
    per call (per stream for reads). Does not wait for a connection: an
    unreachable node shows up as UNAVAILABLE on the first call."""
    return Client(endpoints, token=token, tls=tls, timeout=timeout, **kwargs)
