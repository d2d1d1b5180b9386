#!/usr/bin/python3
"""Smoke test of bench/nab_convert.py and `bench/compare.sh --preset nab
--historian-only` on a tiny NAB-like directory made here (CI has no
/work/shared/real_data and no VictoriaMetrics or InfluxDB).

  compare_nab_smoke_test.py SOURCE_DIR BUILD_DIR

1. nab_convert.py: the historian CSV, the VictoriaMetrics JSON lines and the
   InfluxDB line protocol hold exactly the same samples, bit for bit; rows
   are put in time order, a repeated timestamp keeps its last row.
2. compare.sh --preset nab --historian-only: the node stores every sample
   and entropy_floor counted the same samples (its JSON summary).
"""
import json
import os
import struct
import subprocess
import sys
import tempfile

FILES = {
    # Out of order, a repeated timestamp (the later row wins), full-precision
    # values, no trailing newline.
    "realX/a_series.csv": "timestamp,value\n"
    "2014-01-01 00:05:00,74.93588199999998\n"
    "2014-01-01 00:00:00,1.5\n"
    "2014-01-01 00:10:00,0.1\n"
    "2014-01-01 00:10:00,0.30000000000000004\n"
    "2014-01-01 00:15:00,-2e-07",
    "realY/b_series.csv": "timestamp,value\n"
    "2013-12-31 23:00:00,20\n"
    "2014-01-01 01:00:00,20.25\n"
    "2014-01-01 02:00:00,0.0\n",
}
EXPECTED = {
    "us.nab.a_series": [
        (1388534400, 1.5), (1388534700, 74.93588199999998), (1388535000, 0.30000000000000004),
        (1388535300, -2e-07)],
    "us.nab.b_series": [(1388530800, 20.0), (1388538000, 20.25), (1388541600, 0.0)],
}


def bits(v):
    return struct.pack("<d", v)


def check(cond, what):
    if not cond:
        sys.exit(f"FAIL: {what}")


def as_bits(series):
    return {t: [(s, bits(v)) for s, v in rows] for t, rows in series.items()}


def main():
    src, build = sys.argv[1], sys.argv[2]
    with tempfile.TemporaryDirectory() as tmp:
        nab = os.path.join(tmp, "nab")
        for rel, text in FILES.items():
            os.makedirs(os.path.dirname(os.path.join(nab, rel)), exist_ok=True)
            with open(os.path.join(nab, rel), "w") as f:
                f.write(text)
        out = os.path.join(tmp, "out")
        spec = json.loads(subprocess.check_output(
            ["/usr/bin/python3", os.path.join(src, "bench/nab_convert.py"), "--nab_dir", nab,
             "--out", out, "--piece_samples", "3"]))
        want = as_bits(EXPECTED)
        check(spec["samples"] == 7 and spec["tags"] == 2 and spec["rows_replaced"] == 1,
              f"spec {spec}")
        check(spec["one_tag"] == "us.nab.a_series", f"one_tag {spec['one_tag']}")

        csv = {}
        with open(os.path.join(out, "nab.csv")) as f:
            check(f.readline() == "tag,time,value\n", "csv header")
            for line in f:
                tag, ns, v = line.rstrip("\n").split(",")
                check(int(ns) % 1_000_000_000 == 0, f"csv time {ns}")
                csv.setdefault(tag, []).append((int(ns) // 1_000_000_000, float(v)))
        check(as_bits(csv) == want, f"csv {csv}")

        vm, lp = {}, {}
        for name in sorted(os.listdir(out)):
            path = os.path.join(out, name)
            if name.startswith("vm."):
                for line in open(path):
                    j = json.loads(line)
                    check(j["metric"]["__name__"] == "nab", "vm metric")
                    check(len(j["values"]) <= 3, "vm piece size")
                    vm.setdefault(j["metric"]["tag"], []).extend(
                        (ms // 1000, float(v)) for ms, v in zip(j["timestamps"], j["values"]))
            elif name.startswith("lp."):
                for line in open(path):
                    key, field, ms = line.split()
                    check(key.startswith("nab,tag=") and field.startswith("value="), line)
                    check("i" not in field[6:], f"lp float field {field}")
                    lp.setdefault(key[8:], []).append((int(ms) // 1000, float(field[6:])))
        check(as_bits(vm) == want, f"vm {vm}")
        check(as_bits(lp) == want, f"lp {lp}")

        # The whole nab path of compare.sh, ours only.
        summary = os.path.join(tmp, "compare.json")
        r = subprocess.run(
            ["bash", os.path.join(src, "bench/compare.sh"), "--preset", "nab", "--historian-only",
             "--nab_dir", nab, "--build", build, "--out", summary],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        check(r.returncode == 0, f"compare.sh exited {r.returncode}:\n{r.stdout}")
        j = json.load(open(summary))
        check(j["samples"] == 7, f"summary samples {j['samples']}")
        check(j["historian"]["stored"] == 7 and j["historian"]["tags"] == 2
              and j["historian"]["file_bytes"] > 0,
              f"historian {j['historian']}")
        check(j["entropy_floor"]["samples"] == 7, f"entropy_floor {j['entropy_floor']}")
        check(j["victoriametrics"] is None and j["goal_bytes"]["vm_term"] is None, "historian-only")
        check("| bytes/sample, files (quiet; the goal's)" in r.stdout and "goal (issue 16" in r.stdout,
              "table")
    print("ok")


if __name__ == "__main__":
    main()
