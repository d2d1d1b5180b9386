"""Fixtures of the Python client's tests: real historiand processes on
127.0.0.1 (a free port each, from --port_file), the CLI, and clients.

grpc, pandas and the built package are imported at the top on purpose: when
one is missing, collection fails and so does ctest (no silent skip)."""

import os
import shutil
import subprocess
import tempfile
import time

import grpc  # noqa: F401  (must be installed: python3-grpcio)
import pandas  # noqa: F401  (python3-pandas)
import pytest

import historian

BIN_DIR = os.environ.get("HISTORIAN_BIN_DIR") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build")


def binary(name):
    for sub in ("server", "client", "."):
        p = os.path.join(BIN_DIR, sub, name)
        if os.access(p, os.X_OK):
            return p
    raise FileNotFoundError(f"{name} not built under {BIN_DIR} (set HISTORIAN_BIN_DIR)")


class Node:
    """One historiand on 127.0.0.1:<free port>, data in a temp dir."""

    def __init__(self, root, name, flags=()):
        self.dir = os.path.join(root, name)
        os.makedirs(self.dir)
        self.flags = list(flags)
        self.proc = None
        self.port = None

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def start(self):
        port_file = os.path.join(self.dir, "port")
        log = open(os.path.join(self.dir, "log"), "wb")
        self.proc = subprocess.Popen(
            [binary("historiand"), f"--data_dir={self.dir}/data", "--listen=127.0.0.1:0",
             f"--port_file={port_file}", "--metrics_listen=", "--sync_writes=false",
             "--anti_entropy_interval=0s"] + self.flags,
            stdout=log, stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("historiand exited: " + open(log.name).read())
            if os.path.exists(port_file) and open(port_file).read().strip():
                self.port = int(open(port_file).read())
                channel = grpc.insecure_channel(self.address)
                grpc.channel_ready_future(channel).result(timeout=30)
                channel.close()
                return self
            time.sleep(0.02)
        raise RuntimeError("historiand did not start: " + open(log.name).read())

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="session")
def tmp_root():
    d = tempfile.mkdtemp(prefix="historian-py-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def node(tmp_root):
    # A small read limit so that reads page through continuation tokens.
    n = Node(tmp_root, "main", ["--max_read_samples=5000"]).start()
    yield n
    n.stop()


@pytest.fixture(scope="session")
def h(node):
    with historian.connect(node.address) as client:
        yield client


def cli(node, *args, stdin=None, token=None):
    """Runs the `historian` CLI against `node`; returns stdout, fails on exit != 0."""
    cmd = [binary("historian"), "--server", node.address] + list(args)
    if token:
        cmd += ["--token", token]
    r = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, f"{cmd}: {r.stderr}"
    return r.stdout


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
