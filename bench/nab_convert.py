#!/usr/bin/python3
"""nab_convert.py: the NAB real-data set in the three systems' load formats.

   bench/nab_convert.py --nab_dir /work/shared/real_data/nab --out DIR

Reads every *.csv under --nab_dir in place (never copies it anywhere but the
scratch DIR bench/compare.sh gives) and writes, for the same samples:

  DIR/nab.csv         `historian import-csv`: tag,time,value (time: integer ns)
  DIR/vm.NNNNNN       VictoriaMetrics /api/v1/import JSON lines, metric `nab`,
                      label tag=<name>, timestamps in ms
  DIR/lp.NNNNNN       InfluxDB line protocol, precision ms:
                      `nab,tag=<name> value=<v> <ms>`
  DIR/spec.json       tags, samples, and the benchmark queries' tag and ranges

Each file is one tag, `us.nab.<file stem>`, with its own timestamps
("YYYY-MM-DD HH:MM:SS", read as UTC). Rows are put in time order and a
repeated timestamp keeps its last row (what the historian's last-writer-wins
does with them, and what bench/entropy_floor counts), so all three systems
load exactly the same samples: 152,918 of the 152,965 rows; the 47 others
repeat an hour at a daylight-saving change. Values are written as
repr(float(text)), the shortest text of the same double: full precision, bit
for bit the value the file's text parses to.
"""
import argparse
import calendar
import json
import os
import sys
import time


def read_file(path):
    rows = []
    with open(path, newline="") as f:
        header = f.readline()
        if not header.startswith("timestamp"):
            sys.exit(f"nab_convert: {path}: no 'timestamp,value' header")
        for n, line in enumerate(f, start=2):
            line = line.strip()
            if not line:
                continue
            ts, _, value = line.partition(",")
            try:
                secs = calendar.timegm(time.strptime(ts, "%Y-%m-%d %H:%M:%S"))
                v = float(value)
            except ValueError:
                sys.exit(f"nab_convert: {path}:{n}: bad row {line!r}")
            rows.append((secs, v))
    rows.sort(key=lambda r: r[0])  # stable: equal timestamps keep file order
    out = []
    for i, r in enumerate(rows):
        if i + 1 < len(rows) and rows[i + 1][0] == r[0]:
            continue  # the later row of this timestamp wins
        out.append(r)
    return out, len(rows) - len(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nab_dir", default="/work/shared/real_data/nab")
    ap.add_argument("--out", required=True)
    ap.add_argument("--piece_samples", type=int, default=10000,
                    help="samples per vm./lp. piece file (whole tags split at this size)")
    args = ap.parse_args()

    files = []
    for root, _, names in os.walk(args.nab_dir):
        files += [os.path.join(root, n) for n in names if n.endswith(".csv")]
    files.sort()
    if not files:
        sys.exit(f"nab_convert: no *.csv under {args.nab_dir}")

    os.makedirs(args.out, exist_ok=True)
    series = []
    replaced = 0
    for path in files:
        tag = "us.nab." + os.path.splitext(os.path.basename(path))[0]
        rows, r = read_file(path)
        replaced += r
        if any(t == tag for t, _ in series):
            sys.exit(f"nab_convert: two files named {tag}")
        series.append((tag, rows))

    with open(os.path.join(args.out, "nab.csv"), "w") as f:
        f.write("tag,time,value\n")
        for tag, rows in series:
            for secs, v in rows:
                f.write(f"{tag},{secs * 1_000_000_000},{v!r}\n")

    # Pieces of about piece_samples samples: whole JSON lines (one per tag or
    # part of a tag) and whole line-protocol lines.
    vm_piece = lp_piece = 0
    vm_f = lp_f = None
    vm_n = lp_n = 0

    def next_file(prefix, k):
        return open(os.path.join(args.out, f"{prefix}.{k:06d}"), "w")

    for tag, rows in series:
        for lo in range(0, len(rows), args.piece_samples):
            part = rows[lo:lo + args.piece_samples]
            if vm_f is None or vm_n + len(part) > args.piece_samples:
                if vm_f:
                    vm_f.close()
                vm_f, vm_n = next_file("vm", vm_piece), 0
                vm_piece += 1
            vm_f.write('{"metric":{"__name__":"nab","tag":%s},"values":[%s],"timestamps":[%s]}\n' % (
                json.dumps(tag), ",".join(repr(v) for _, v in part),
                ",".join(str(s * 1000) for s, _ in part)))
            vm_n += len(part)
        for secs, v in rows:
            if lp_f is None or lp_n >= args.piece_samples:
                if lp_f:
                    lp_f.close()
                lp_f, lp_n = next_file("lp", lp_piece), 0
                lp_piece += 1
            lp_f.write(f"nab,tag={tag} value={v!r} {secs * 1000}\n")
            lp_n += 1
    vm_f.close()
    lp_f.close()

    # Queries: the longest series (raw over its whole range; 1 h averages over
    # its first 30 days) and the newest sample of every tag.
    one_tag, one_rows = max(series, key=lambda s: len(s[1]))
    start_ms = one_rows[0][0] * 1000
    end_ms = one_rows[-1][0] * 1000 + 1  # one past its last sample
    agg_start_ms = start_ms - start_ms % 3_600_000  # on the hour
    spec = {
        "tags": len(series),
        "samples": sum(len(r) for _, r in series),
        "rows_replaced": replaced,
        "one_tag": one_tag,
        "one_tag_samples": len(one_rows),
        "start_ms": start_ms,
        "end_ms": end_ms,
        "agg_start_ms": agg_start_ms,
        "agg_end_ms": agg_start_ms + 30 * 86_400_000,
        "min_ms": min(r[0][0] for _, r in series) * 1000,
        "latest_ms": max(r[-1][0] for _, r in series) * 1000,
    }
    with open(os.path.join(args.out, "spec.json"), "w") as f:
        json.dump(spec, f)
        f.write("\n")
    print(json.dumps(spec))


if __name__ == "__main__":
    main()
