"""Helpers of the trend page's browser test and benchmark: a real historiand
with --http_listen, data written through `historian import-csv`, and headless
Chromium driven by chromedriver (Debian's chromium, chromium-driver and
python3-selenium; run with /usr/bin/python3)."""
import json
import os
import signal
import subprocess
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service


class Node:
    """historiand on 127.0.0.1 with ports the kernel picks."""

    def __init__(self, bin_dir, work, flags=()):
        self.bin_dir = bin_dir
        self.work = work
        os.makedirs(work, exist_ok=True)
        port_file = os.path.join(work, "port")
        http_file = os.path.join(work, "http.port")
        for f in (port_file, http_file):
            if os.path.exists(f):
                os.remove(f)
        self.log = open(os.path.join(work, "node.log"), "w")
        self.proc = subprocess.Popen(
            [os.path.join(bin_dir, "server", "historiand"), "--data_dir=" + os.path.join(work, "data"),
             "--listen=127.0.0.1:0", "--port_file=" + port_file, "--http_listen=127.0.0.1:0",
             "--http_port_file=" + http_file, "--metrics_listen=", "--sync_writes=false", *flags],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while not (os.path.exists(port_file) and os.path.exists(http_file)):
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("historiand did not start; see " + self.log.name)
            time.sleep(0.05)
        self.grpc = "127.0.0.1:" + open(port_file).read().strip()
        self.http_port = int(open(http_file).read().strip())
        self.url = "http://127.0.0.1:%d/" % self.http_port

    def cli(self, args, token=None):
        """Runs `historian ARGS` against this node; raises if it fails."""
        cmd = [os.path.join(self.bin_dir, "client", "historian"), "--server", self.grpc]
        if token:
            cmd += ["--token", token]
        subprocess.run(cmd + list(args), check=True, stdout=subprocess.DEVNULL)

    def import_csv(self, path, token=None):
        self.cli(["import-csv", path], token)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()


def write_csv(path, series):
    """series: {tag: [(time_ns, value, quality), ...]} -> the import format."""
    with open(path, "w") as f:
        f.write("tag,time,value,quality\n")
        for tag, samples in series.items():
            f.writelines("%s,%d,%r,%d\n" % (tag, t, v, q) for t, v, q in samples)


def chrome(width=1400, height=900):
    """Headless Chromium with the performance (network) log on."""
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--window-size=%d,%d" % (width, height), "--hide-scrollbars",
              "--force-device-scale-factor=1"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)


def wait_for(driver, script, timeout=30, what=None):
    """Polls a JS expression until it is truthy; returns its value."""
    deadline = time.time() + timeout
    while True:
        v = driver.execute_script("return " + script)
        if v:
            return v
        if time.time() > deadline:
            state = driver.execute_script("return JSON.stringify(window.trend)")
            raise AssertionError("timed out waiting for %s; window.trend=%s" % (what or script, state))
        time.sleep(0.05)


def network_requests(driver):
    """URLs of every request in the browser's performance log since the last call."""
    urls = []
    for entry in driver.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg.get("method") == "Network.requestWillBeSent":
            urls.append(msg["params"]["request"]["url"])
    return urls
