"""Benchmark of the trend page and the HTTP API (bench/README.md, "Trend
page"): a real historiand holding 4 tags x 7 days at 1 Hz (2.42 M samples,
written with `historian import-csv`), then
  - the page's first chart of the 4 pens over the 7 days, in headless
    Chromium: navigation start to the chart's draw callback with all 4 pens
    (window.trend.firstDrawMs), over RUNS fresh page loads;
  - each API call the page makes, N times: p50 of the node's own time
    (the Server-Timing header) and of the wall time seen by the client.

Usage: /usr/bin/python3 bench/trend_page_bench.py BUILD_DIR [RUNS] [N]"""
import os
import shutil
import statistics
import sys
import tempfile
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "http"))
import trend_browser  # noqa: E402

SECOND = 10**9
TAGS = ["bench.line1.temp", "bench.line1.press", "bench.line2.temp", "bench.line2.flow"]
DAYS = 7


def api_timings(urls, n):
    """p50 of the node's time and of the wall time, calling `urls` in turn n times."""
    node, wall = [], []
    for i in range(n):
        t0 = time.perf_counter()
        with urllib.request.urlopen(urls[i % len(urls)]) as r:
            r.read()
            timing = r.headers["Server-Timing"]
        wall.append((time.perf_counter() - t0) * 1000)
        node.append(float(timing.split("dur=")[1]))
    return statistics.median(node), statistics.median(wall)


def main():
    build = os.path.abspath(sys.argv[1])
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 20
    work = tempfile.mkdtemp(prefix="trend-bench-")
    node = driver = None
    try:
        node = trend_browser.Node(build, os.path.join(work, "node"))
        now = time.time_ns() // SECOND * SECOND
        start = now - DAYS * 86400 * SECOND
        csv = os.path.join(work, "data.csv")
        t0 = time.time()
        with open(csv, "w") as f:
            f.write("tag,time,value,quality\n")
            for k, tag in enumerate(TAGS):
                f.writelines("%s,%d,%d,0\n" % (tag, start + i * SECOND, (i * (k + 1)) % 1000)
                             for i in range(DAYS * 86400))
        t1 = time.time()
        node.import_csv(csv)
        t2 = time.time()
        print("data: %d tags x %d days at 1 Hz = %d samples (csv %.1f s, import %.1f s)"
              % (len(TAGS), DAYS, len(TAGS) * DAYS * 86400, t1 - t0, t2 - t1))

        # The node seals and compacts what it was sent: wait until a plot of
        # the 7 days costs the same twice in a row (a node that has had its data
        # for a while).
        warm = node.url + "api/v1/plot?buckets=1100&start=-7d&tags=" + ",".join(TAGS)
        prev = None
        for _ in range(60):
            cur, _ = api_timings([warm], 1)
            if prev is not None and abs(cur - prev) < 0.2 * prev:
                break
            prev = cur
            time.sleep(1)
        print("settled: plot at the node %.0f ms" % cur)
        driver = trend_browser.chrome(1400, 900)
        page = node.url + "?range=7d&tags=" + ",".join(TAGS)
        first, full, in_page = [], [], {}
        for _ in range(runs):
            driver.get("about:blank")
            driver.get(page)
            trend_browser.wait_for(driver, "window.trend.drawnTags.length == 4", what="4 pens")
            first.append(driver.execute_script("return window.trend.firstDrawMs"))
            full.append(trend_browser.wait_for(driver, "window.trend.fullDrawMs", what="full draw"))
            # The node's time of each plot call as the page made it, from
            # the Server-Timing header.
            for b, dur in driver.execute_script(
                    "return performance.getEntriesByType('resource')"
                    ".filter(e => e.name.includes('/api/v1/plot'))"
                    ".map(e => [new URL(e.name).searchParams.get('buckets'),"
                    " e.serverTiming.length ? e.serverTiming[0].duration : null])"):
                in_page.setdefault(int(b), []).append(dur)
            print("  load: first draw %.0f ms, full resolution %.0f ms; last plot request: %s" % (
                first[-1], full[-1], {k: round(v) for k, v in
                                      driver.execute_script("return window.trend.marks").items()}))
            assert driver.execute_script("return window.trend.plotRequests") >= 1
        print("first chart, 4 pens x 7 days, navigation start -> draw callback (ms): "
              "median %.0f, max %.0f, runs %s" % (statistics.median(first), max(first),
                                                   [round(x) for x in first]))
        print("same, full resolution (one bucket per pixel): median %.0f, max %.0f"
              % (statistics.median(full), max(full)))
        for b, durs in sorted(in_page.items()):
            print("plot calls as the page makes them (4 pens, %d buckets): node p50 %.2f ms,"
                  " max %.2f ms, %d calls" % (b, statistics.median(durs), max(durs), len(durs)))
        # The page's plot calls of the last load (all pens in one): first 2 h
        # buckets (rollups), then one bucket per pixel.
        plots = {}
        for u in trend_browser.network_requests(driver):
            if "/api/v1/plot" in u:
                buckets = urllib.parse.parse_qs(urllib.parse.urlparse(u).query)["buckets"][0]
                plots.setdefault(int(buckets), []).append(u)
        coarse, fine = sorted(plots)[:2]
        calls = {
            "node": [node.url + "api/v1/node"],
            "tags (glob=*)": [node.url + "api/v1/tags?page_size=500&glob=*"],
            "plot, 4 pens x 7 d, %d buckets (2 h)" % coarse: plots[coarse][-1:],
            "plot, 4 pens x 7 d, %d buckets" % fine: plots[fine][-1:],
            "plot, 1 pen x 7 d, %d buckets" % fine:
                [plots[fine][-1].split("&tags=")[0] + "&tags=" + t for t in TAGS],
            "latest (4 tags)": [node.url + "api/v1/latest?time_format=epoch_ms&tags=" + ",".join(TAGS)],
            "aggregate (4 tags, 7 d, 1 h avg)": [node.url + "api/v1/aggregate?start=-7d&step=1h&tags="
                                                 + ",".join(TAGS)],
            "read (1 tag, 1 h raw)": [node.url + "api/v1/read?start=-1h&tags=" + TAGS[0]],
        }
        print("API call p50 over %d calls: node (Server-Timing) / client wall, ms" % n)
        for name, urls in calls.items():
            p50_node, p50_wall = api_timings(urls, n)
            print("  %-40s %7.2f / %7.2f" % (name, p50_node, p50_wall))
    finally:
        if driver is not None:
            driver.quit()
        if node is not None:
            node.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
