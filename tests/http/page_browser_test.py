"""The trend page in headless Chromium against a real historiand with data:
the page asks for a token (the node has --token_file) and keeps it in
sessionStorage, the test finds tags by glob (with their metadata), selects
two, zooms by dragging, saves a screenshot under build/, counts each pen
colour's pixels and the Bad-quality band in it, and checks the page's
/api/v1/plot requests in the browser's performance log; then the twin
overlay, the range buttons, panning and live mode (a sample written while
the page polls /api/v1/latest appears on the chart, also one of a pen whose
newest sample is older than another pen's). A page that draws
nothing, or draws without asking the node, fails.

Usage: /usr/bin/python3 page_browser_test.py BUILD_DIR"""
import os
import shutil
import sys
import tempfile
import time
import urllib.parse

from PIL import Image
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import trend_browser  # noqa: E402

READER = "reader-token-0123456789"
WRITER = "writer-token-0123456789"
COLORS = {"plant.temp": (0x1f, 0x77, 0xb4), "plant.flow": (0xd6, 0x27, 0x28)}
SECOND = 10**9


def count_colour(img, rgb, tol=0):
    n = 0
    for p in img.getdata():
        if abs(p[0] - rgb[0]) <= tol and abs(p[1] - rgb[1]) <= tol and abs(p[2] - rgb[2]) <= tol:
            n += 1
    return n


def plot_params(url):
    q = urllib.parse.parse_qs(urllib.parse.urlparse(url).query)
    return q["tags"][0].split(","), int(q["start"][0][:-2]), int(q["end"][0][:-2])


def main():
    build = os.path.abspath(sys.argv[1])
    work = tempfile.mkdtemp(prefix="http-browser-")
    node = None
    driver = None
    try:
        with open(os.path.join(work, "tokens"), "w") as f:
            f.write("%s reader\n%s writer\n" % (READER, WRITER))
        node = trend_browser.Node(build, os.path.join(work, "node"),
                                  ["--token_file=" + os.path.join(work, "tokens"),
                                   "--twin_map=plant.=twin."])
        # Two hours at 1 Hz ending now: temp a slow sine-like saw, flow a
        # square wave with a Bad-quality stretch in the middle.
        now = time.time_ns() // SECOND * SECOND
        start = now - 7200 * SECOND
        data = {
            "plant.temp": [(start + i * SECOND, 50 + (i % 600) / 20, 0) for i in range(7200)],
            "plant.flow": [(start + i * SECOND, 10 + 20 * ((i // 300) % 2),
                            0x80000000 if 3000 <= i < 3600 else 0) for i in range(7200)],
            "twin.temp": [(start + i * SECOND, 40 + (i % 900) / 30, 0) for i in range(7200)],
            "plant.other": [(start + i * 60 * SECOND, 1.0, 0) for i in range(120)],
        }
        node.cli(["create-tag", "plant.temp", "--type", "double", "--unit", "degC",
                  "--description", "Reactor temperature", "--eng_low", "0", "--eng_high", "150"],
                 token=WRITER)
        csv = os.path.join(work, "data.csv")
        trend_browser.write_csv(csv, data)
        node.import_csv(csv, token=WRITER)

        driver = trend_browser.chrome()
        driver.get(node.url + "?range=8h")
        # The node needs a token: the page asks, and keeps it for the session.
        trend_browser.wait_for(driver, "!document.getElementById('login').hidden", what="token prompt")
        driver.find_element(By.ID, "token").send_keys(READER)
        driver.find_element(By.CSS_SELECTOR, "#loginForm button").click()
        assert driver.execute_script("return sessionStorage.getItem('historian.token')") == READER
        trend_browser.wait_for(driver, "document.querySelectorAll('.tag').length >= 4", what="tag list")

        # Tag browser: glob search, metadata shown, pick two tags.
        glob = driver.find_element(By.ID, "glob")
        glob.clear()
        glob.send_keys("plant.*")
        trend_browser.wait_for(driver, "document.querySelectorAll('.tag').length == 3", what="glob search")
        meta = driver.find_element(By.CSS_SELECTOR, ".tag[data-tag='plant.temp']").text
        assert "degC" in meta and "Reactor temperature" in meta and "0..150" in meta, meta
        for tag in ("plant.temp", "plant.flow"):
            driver.find_element(By.CSS_SELECTOR, ".tag[data-tag='%s']" % tag).click()
        trend_browser.wait_for(driver, "window.trend.drawnTags.length == 2", what="two pens drawn")
        first = [u for u in trend_browser.network_requests(driver) if "/api/v1/plot" in u]
        assert first, "the page drew without asking /api/v1/plot"
        tags, s0, e0 = plot_params(first[-1])
        assert tags == ["plant.temp", "plant.flow"], tags

        # Zoom by dragging across the middle of the chart: a new, narrower plot request.
        before = driver.execute_script("return window.trend.plotRequests")
        # From 30 to 100 minutes into the data: the Bad stretch (50..60) in the middle.
        chart = driver.find_element(By.ID, "chart")
        x0, x1 = driver.execute_script(
            "return [state.graph.toDomXCoord(arguments[0]), state.graph.toDomXCoord(arguments[1])]",
            (start + 1800 * SECOND) // 10**6, (start + 6000 * SECOND) // 10**6)
        ActionChains(driver).move_to_element_with_offset(chart, int(x0) - chart.size["width"] // 2, 0) \
            .click_and_hold().move_by_offset(int(x1 - x0), 0).release().perform()
        trend_browser.wait_for(driver, "window.trend.plotRequests > %d" % before, what="zoom request")
        trend_browser.wait_for(driver, "window.trend.draws > 0 && window.trend.drawnTags.length == 2")
        time.sleep(0.5)  # let the zoomed answer draw
        zoomed = [u for u in trend_browser.network_requests(driver) if "/api/v1/plot" in u]
        assert zoomed, "zoom did not ask /api/v1/plot"
        tags, s1, e1 = plot_params(zoomed[-1])
        assert tags == ["plant.temp", "plant.flow"], tags
        assert s0 < s1 < e1 < e0 and (e1 - s1) < (e0 - s0) / 2, (s0, e0, s1, e1)

        shot = os.path.join(build, "http_browser_test.png")
        driver.save_screenshot(shot)
        img = Image.open(shot).convert("RGB")
        counts = {tag: count_colour(img, rgb) for tag, rgb in COLORS.items()}
        # The Bad-quality band: rgba(255, 0, 0, 0.15) over white.
        bad = count_colour(img, (255, 217, 217), tol=3)
        print("pen pixels:", counts, "bad band pixels:", bad, "screenshot:", shot)
        for tag, n in counts.items():
            assert n >= 300, "pen %s: only %d pixels of its colour" % (tag, n)
        assert bad >= 1000, "no Bad-quality band drawn (%d pixels)" % bad

        # Twin overlay: the same asset at the other site joins the plot request.
        driver.find_element(By.ID, "twin").click()
        trend_browser.wait_for(driver, "window.trend.drawnTags.length == 3", what="twin pen")
        twin = [u for u in trend_browser.network_requests(driver) if "/api/v1/plot" in u]
        assert twin and "twin.temp" in plot_params(twin[-1])[0], twin
        driver.save_screenshot(os.path.join(build, "http_browser_test_twin.png"))
        driver.find_element(By.ID, "twin").click()
        trend_browser.wait_for(driver, "window.trend.drawnTags.length == 2", what="twin off")

        def last_plot_range():
            plots = [u for u in trend_browser.network_requests(driver) if "/api/v1/plot" in u]
            assert plots, "no /api/v1/plot request"
            return plot_params(plots[-1])[1:]

        # Range buttons and panning ask the node for the new range.
        driver.find_element(By.CSS_SELECTOR, "[data-range='1h']").click()
        trend_browser.wait_for(driver, "window.trend.marks.drawn > window.trend.marks.start")
        time.sleep(0.3)
        s2, e2 = last_plot_range()
        assert abs((e2 - s2) - 3600 * 1000) < 1000 and abs(e2 - time.time() * 1000) < 60000, (s2, e2)
        n = driver.execute_script("return window.trend.plotRequests")
        driver.find_element(By.ID, "panLeft").click()
        trend_browser.wait_for(driver, "window.trend.plotRequests > %d" % n, what="pan")
        time.sleep(0.3)
        s3, e3 = last_plot_range()
        assert s3 == s2 - 1800 * 1000 and e3 == e2 - 1800 * 1000, (s2, e2, s3, e3)

        # Custom range: from/to (local time) and Apply.
        n = driver.execute_script("return window.trend.plotRequests")
        driver.execute_script(
            "document.getElementById('from').value = toLocalInput(arguments[0]);"
            "document.getElementById('to').value = toLocalInput(arguments[1]);",
            (start + 600 * SECOND) // 10**6, (start + 1200 * SECOND) // 10**6)
        driver.find_element(By.ID, "apply").click()
        trend_browser.wait_for(driver, "window.trend.plotRequests > %d" % n, what="custom range")
        time.sleep(0.3)
        s4, e4 = last_plot_range()
        assert (s4, e4) == ((start + 600 * SECOND) // 10**6, (start + 1200 * SECOND) // 10**6), (s4, e4)

        # Live mode: a sample written now shows up through /api/v1/latest.
        driver.find_element(By.CSS_SELECTOR, "[data-range='1h']").click()
        time.sleep(0.3)
        driver.find_element(By.ID, "live").click()
        node.cli(["write", "plant.temp", "123.5"], token=WRITER)
        trend_browser.wait_for(
            driver, "state.rows.length && state.rows[state.rows.length - 1][1] === 123.5",
            timeout=20, what="live sample")
        # A pen whose newest sample is older than another pen's newest (a
        # twin's arrives later, by replication) still gets it.
        temp_ms = driver.execute_script("return state.rows[state.rows.length - 1][0].getTime()")
        flow_s = temp_ms // 1000 - 1
        assert flow_s * SECOND > now, "the flow sample must be newer than its data"
        node.cli(["write", "plant.flow", "77.25", "--time", "%ds" % flow_s], token=WRITER)
        trend_browser.wait_for(
            driver, "state.rows.some((r) => r[1 + state.labels.findIndex("
                    "(s) => s.tag === 'plant.flow')] === 77.25)",
            timeout=20, what="live sample of a pen behind another")
        latest = [u for u in trend_browser.network_requests(driver) if "/api/v1/latest" in u]
        assert latest, "live mode did not poll /api/v1/latest"
        driver.save_screenshot(os.path.join(build, "http_browser_test_live.png"))
        errors = driver.execute_script("return window.trend.errors")
        assert not errors, errors
        print("OK: %d plot requests" % driver.execute_script("return window.trend.plotRequests"))
    finally:
        if driver is not None:
            driver.quit()
        if node is not None:
            node.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
