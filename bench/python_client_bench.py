#!/usr/bin/python3
"""Benchmark of the Python client (issue 18, section 1), against a node it
starts itself on 127.0.0.1 (a free port, data in a temp dir):

  1. 1 tag x 1 day at 1 Hz (86,400 samples) into a DataFrame with h.read(),
     against `historian export-csv --time_format ns` of the same to
     /dev/null (the CLI's wall time, its process start included; the
     Python interpreter's start-up and imports are excluded);
  2. 100 tags x 1 h of 1-minute averages (h.aggregate, 6,000 windows);
  3. a year of one tag at 1 Hz (31.5M samples) read with chunks=True in a
     fresh process: peak RSS (VmHWM) and time.

Each figure is the best (and the median) of --runs runs: the machine is
shared, so the best run is the one least disturbed by others.

  PYTHONPATH=build/client/python /usr/bin/python3 bench/python_client_bench.py \
      --bin_dir build [--runs 5] [--year_samples 31536000]
"""

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import pandas as pd

import historian

T0 = pd.Timestamp("2026-01-01T00:00:00Z")


def start_node(bin_dir, data_dir):
    port_file = os.path.join(data_dir, "port")
    log = open(os.path.join(data_dir, "log"), "wb")
    proc = subprocess.Popen(
        [os.path.join(bin_dir, "server", "historiand"), f"--data_dir={data_dir}/data",
         "--listen=127.0.0.1:0", f"--port_file={port_file}", "--metrics_listen=",
         "--anti_entropy_interval=0s"], stdout=log, stderr=subprocess.STDOUT)
    for _ in range(3000):
        if os.path.exists(port_file) and open(port_file).read().strip():
            return proc, f"127.0.0.1:{int(open(port_file).read())}"
        if proc.poll() is not None:
            sys.exit("historiand exited: " + open(log.name).read())
        time.sleep(0.02)
    sys.exit("historiand did not start")


def signal(n, seed):
    """A plant-like signal: a random walk at 0.01 resolution."""
    rng = np.random.default_rng(seed)
    return np.round(50 + np.cumsum(rng.normal(0, 0.05, n)), 2)


def load(h, tag, start, n, batch=100_000):
    t = time.perf_counter()
    for i in range(0, n, 5_000_000):
        m = min(5_000_000, n - i)
        idx = pd.date_range(start + pd.Timedelta(seconds=i), periods=m, freq="1s")
        h.write(pd.Series(signal(m, i), index=idx, name=tag), batch_size=batch)
    return time.perf_counter() - t


def timed(fn, runs):
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), statistics.median(times), out


def vm_hwm_kb():
    """Peak RSS of this process image (VmHWM; unlike ru_maxrss it does not
    carry the parent's peak across fork + exec)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def year_child(address, tag, start, end):
    """Runs in a fresh process: only the chunked read counts in its RSS."""
    h = historian.connect(address, timeout=300)
    base = vm_hwm_kb()
    t = time.perf_counter()
    rows = chunks = 0
    biggest = 0
    total = 0.0
    for df in h.read(tag, start, end, chunks=True):
        rows += len(df)
        chunks += 1
        biggest = max(biggest, len(df))
        total += float(df["value"].sum())  # touch the data
    seconds = time.perf_counter() - t
    peak = vm_hwm_kb()
    print(f"{rows} {chunks} {biggest} {seconds:.3f} {base} {peak}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin_dir", default="build")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--year_samples", type=int, default=365 * 86400)
    ap.add_argument("--keep", action="store_true", help="keep the node's data dir")
    ap.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        year_child(*args.child)
        return

    data_dir = tempfile.mkdtemp(prefix="historian-pybench-")
    proc, address = start_node(args.bin_dir, data_dir)
    try:
        h = historian.connect(address, timeout=300)
        print(f"node {address}, data in {data_dir}")

        # 1. one tag, one day at 1 Hz.
        day_tag, day_start, day_end = "bench.day.temp", T0, T0 + pd.Timedelta(days=1)
        s = load(h, day_tag, day_start, 86400)
        print(f"load 86,400 samples: {s:.2f} s")
        best, med, df = timed(lambda: h.read(day_tag, day_start, day_end), args.runs)
        assert len(df) == 86400, len(df)
        cli = [os.path.join(args.bin_dir, "client", "historian"), "--server", address,
               "export-csv", day_tag, "--from", day_start.isoformat(), "--to",
               day_end.isoformat(), "--time_format", "ns", "/dev/null"]
        cli_best, cli_med, _ = timed(lambda: subprocess.run(cli, check=True), args.runs)
        print(f"1 tag x 1 day at 1 Hz: h.read best {best * 1e3:.1f} ms (median {med * 1e3:.1f}); "
              f"export-csv best {cli_best * 1e3:.1f} ms (median {cli_med * 1e3:.1f}); "
              f"ratio {best / cli_best:.2f} (target <= 2)")
        wide_best, _, _ = timed(lambda: h.read(day_tag, day_start, day_end, wide=True), args.runs)
        print(f"  same with wide=True: best {wide_best * 1e3:.1f} ms")

        # 2. 100 tags x 1 h of 1-minute averages.
        hour = pd.date_range(T0, periods=3600, freq="1s")
        tags = [f"bench.hundred.t{i:03d}" for i in range(100)]
        t = time.perf_counter()
        h.write(pd.DataFrame({tag: signal(3600, i) for i, tag in enumerate(tags)}, index=hour),
                batch_size=100_000)
        print(f"load 100 x 3,600 samples: {time.perf_counter() - t:.2f} s")
        best, med, agg = timed(lambda: h.aggregate(tags, T0, T0 + pd.Timedelta(hours=1),
                                                   step="1m", functions=["avg"]), args.runs * 4)
        assert len(agg) == 6000 and (agg["count"] == 60).all()
        print(f"100 tags x 1 h of 1-minute averages: best {best * 1e3:.1f} ms "
              f"(median {med * 1e3:.1f}) (target <= 50)")
        best_w, _, _ = timed(lambda: h.aggregate(tags, T0, T0 + pd.Timedelta(hours=1), step="1m",
                                                 functions=["avg"], wide=True), args.runs * 4)
        print(f"  same with wide=True: best {best_w * 1e3:.1f} ms")

        # 3. a year of one tag at 1 Hz, chunks=True, in a fresh process.
        n = args.year_samples
        year_tag, year_end = "bench.year.temp", T0 + pd.Timedelta(seconds=n)
        s = load(h, year_tag, T0, n)
        print(f"load {n:,} samples: {s:.1f} s ({n / s / 1e6:.2f} M samples/s)")
        results = []
        for _ in range(max(1, args.runs // 2)):
            out = subprocess.run(
                [sys.executable, __file__, "--child", address, year_tag, T0.isoformat(),
                 year_end.isoformat()], check=True, capture_output=True, text=True).stdout
            rows, chunks, biggest, seconds, base, peak = out.split()
            assert int(rows) == n, (rows, n)
            results.append((float(seconds), int(peak), int(base), int(chunks), int(biggest)))
        seconds = min(r[0] for r in results)
        peak = max(r[1] for r in results)
        base = results[0][2]
        print(f"{n:,} samples, chunks=True: {results[0][3]} chunks of <= {results[0][4]:,} rows, "
              f"best {seconds:.1f} s ({n / seconds / 1e6:.2f} M samples/s); peak RSS "
              f"{peak / 1024:.0f} MB (after imports, before the read: {base / 1024:.0f} MB) "
              f"(target < 300 MB)")
    finally:
        proc.terminate()
        proc.wait()
        if not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
