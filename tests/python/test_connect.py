"""Connections: failover over an endpoint list, bearer tokens and roles,
TLS, and errors carrying the gRPC code and the node's message."""

import os
import subprocess

import grpc
import numpy as np
import pandas as pd
import pytest
from conftest import Node, free_port

import historian

T0 = pd.Timestamp("2026-11-25T00:00:00Z")
END = T0 + pd.Timedelta(hours=1)


def series(name, n=10):
    return pd.Series(np.arange(float(n)), index=pd.date_range(T0, periods=n, freq="1s"), name=name)


def test_failover_to_the_next_endpoint(node):
    dead = f"127.0.0.1:{free_port()}"
    h = historian.connect([dead, node.address], timeout=10)
    assert h.write(series("c.failover")).accepted == 10  # write fails over
    assert h.preferred_endpoint == node.address          # and later calls start there
    assert len(h.read("c.failover", T0, END)) == 10
    h2 = historian.connect(f"{dead},{node.address}")
    assert len(h2.read("c.failover", T0, END)) == 10     # a read stream fails over too
    assert len(h2.aggregate("c.failover", T0, END, step="1m")) == 60
    assert h2.preferred_endpoint == node.address


def test_every_endpoint_down(node):
    a, b = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    h = historian.connect([a, b], timeout=5)
    with pytest.raises(historian.HistorianError) as e:
        h.read("c.x", T0, END)
    assert e.value.code == grpc.StatusCode.UNAVAILABLE
    assert a in str(e.value) and b in str(e.value)
    with pytest.raises(historian.HistorianError) as e:
        historian.connect(a, timeout=5).latest(["c.x"])
    assert e.value.code_name == "UNAVAILABLE"


def test_endpoint_forms():
    h = historian.connect("us-node,mx-node:7500,[::1]")
    assert h.endpoints == ["us-node:7400", "mx-node:7500", "[::1]:7400"]
    with pytest.raises(ValueError):
        historian.connect("a,,b")
    with pytest.raises(ValueError):
        historian.connect("a", timeout=0)


def test_errors_carry_code_and_message(h):
    with pytest.raises(historian.HistorianError) as e:
        h.read("c.any", END, T0)  # start after end
    assert e.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert e.value.code_name == "INVALID_ARGUMENT" and e.value.message
    assert str(e.value).startswith("INVALID_ARGUMENT: ")
    with pytest.raises(historian.HistorianError) as e:
        h.aggregate("c.no.such.tag", T0, END, step="1m")
    assert e.value.code == grpc.StatusCode.NOT_FOUND and "c.no.such.tag" in e.value.message
    h.write(series("c.err"))
    with pytest.raises(historian.HistorianError) as e:
        h.aggregate("c.err", T0, END, step="1d", tz="Mars/Olympus")
    assert e.value.code == grpc.StatusCode.INVALID_ARGUMENT and "time_zone" in e.value.message
    with pytest.raises(historian.HistorianError) as e:
        h.get_tag("c.no.such.tag")
    assert e.value.code == grpc.StatusCode.NOT_FOUND
    with pytest.raises(historian.HistorianError) as e:
        h.delete_tag("c.no.such.tag")
    assert e.value.code == grpc.StatusCode.NOT_FOUND
    with pytest.raises(historian.HistorianError) as e:
        h.create_tag("c bad name")
    assert e.value.code == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(historian.HistorianError) as e:
        h.plot("c.err", T0, END, buckets=10**6)
    assert e.value.code == grpc.StatusCode.INVALID_ARGUMENT


WRITER, READER, ADMIN = "writer-token-0123456789", "reader-token-0123456789", "admin-token-0123456789"


@pytest.fixture(scope="module")
def auth_node(tmp_root):
    path = os.path.join(tmp_root, "tokens")
    with open(path, "w") as f:
        f.write(f"# test tokens\n{WRITER} writer\n{READER} reader\n{ADMIN} admin,reader\n")
    n = Node(tmp_root, "auth", [f"--token_file={path}"]).start()
    yield n
    n.stop()


def test_token_roles(auth_node):
    with pytest.raises(historian.HistorianError) as e:
        historian.connect(auth_node.address).read("c.auth", T0, END)
    assert e.value.code == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(historian.HistorianError) as e:
        historian.connect(auth_node.address, token="unknown-token-0123456789").latest(["c.auth"])
    assert e.value.code == grpc.StatusCode.UNAUTHENTICATED
    assert historian.connect(auth_node.address, token=WRITER).write(series("c.auth")).accepted == 10
    reader = historian.connect(auth_node.address, token=READER)
    assert len(reader.read("c.auth", T0, END)) == 10
    assert len(reader.tags("c.*")) == 1
    with pytest.raises(historian.HistorianError) as e:
        reader.write(series("c.auth"))
    assert e.value.code == grpc.StatusCode.PERMISSION_DENIED and "writer" in e.value.message
    with pytest.raises(historian.HistorianError) as e:
        historian.connect(auth_node.address, token=WRITER).read("c.auth", T0, END)
    assert e.value.code == grpc.StatusCode.PERMISSION_DENIED
    historian.connect(auth_node.address, token=ADMIN).delete_tag("c.auth")


def _pki(d):
    def run(*args):
        subprocess.run(["openssl"] + list(args), cwd=d, check=True, capture_output=True)
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test-ca",
        "-keyout", "ca.key", "-out", "ca.pem")
    with open(os.path.join(d, "node.ext"), "w") as f:
        f.write("subjectAltName=DNS:us-historian\nextendedKeyUsage=serverAuth,clientAuth\n")
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=us-historian",
        "-keyout", "node.key", "-out", "node.csr")
    run("x509", "-req", "-in", "node.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "2", "-extfile", "node.ext", "-out", "node.pem")
    return {k: os.path.join(d, k) for k in ("ca.pem", "node.pem", "node.key")}


@pytest.fixture(scope="module")
def tls_node(tmp_root):
    d = os.path.join(tmp_root, "pki")
    os.makedirs(d)
    pki = _pki(d)
    n = Node(tmp_root, "tls", [f"--tls_cert={pki['node.pem']}", f"--tls_key={pki['node.key']}"])
    # Node.start() probes with a plaintext channel; a TLS node needs a TLS probe.
    import conftest
    real = conftest.grpc.insecure_channel
    creds = grpc.ssl_channel_credentials(open(pki["ca.pem"], "rb").read())
    conftest.grpc.insecure_channel = lambda addr: grpc.secure_channel(
        addr, creds, options=[("grpc.ssl_target_name_override", "us-historian")])
    try:
        n.start()
    finally:
        conftest.grpc.insecure_channel = real
    yield n, pki
    n.stop()


def test_tls(tls_node):
    n, pki = tls_node
    h = historian.connect(n.address, tls=historian.TLS(ca_file=pki["ca.pem"],
                                                       server_name="us-historian"))
    assert h.write(series("c.tls")).accepted == 10
    assert len(h.read("c.tls", T0, END)) == 10
    h2 = historian.connect(n.address, tls={"ca_file": pki["ca.pem"], "server_name": "us-historian"})
    assert len(h2.latest(["c.tls"])) == 1
    with pytest.raises(historian.HistorianError) as e:
        historian.connect(n.address, timeout=5).latest(["c.tls"])  # plaintext to a TLS node
    assert e.value.code == grpc.StatusCode.UNAVAILABLE
    with pytest.raises(ValueError):
        historian.connect(n.address, tls=historian.TLS(cert_file=pki["node.pem"]))


def test_write_retries_then_reports_unavailable():
    h = historian.connect(f"127.0.0.1:{free_port()}", timeout=2)
    with pytest.raises(historian.HistorianError) as e:
        h.write(series("c.retry"), retries=1)
    assert e.value.code == grpc.StatusCode.UNAVAILABLE


def test_failover_when_the_preferred_node_stops(tmp_root, node):
    historian.connect(node.address).write(series("c.second"))
    first = Node(tmp_root, "first", []).start()
    try:
        h = historian.connect([first.address, node.address], timeout=10)
        h.write(series("c.moving"))
        assert h.preferred_endpoint == first.address
    finally:
        first.stop()
    assert len(h.latest(["c.second"])) == 1  # the second node answers
    assert h.preferred_endpoint == node.address
