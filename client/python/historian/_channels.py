"""Channels to one or more nodes, with failover as the C++ client does it
(client/historian_client.h): calls go to the endpoint that last answered and
move on to the next one when an endpoint is UNAVAILABLE."""

import threading
from dataclasses import dataclass
from typing import Optional

import grpc

from historian import _proto as pb
from historian.errors import HistorianError, from_rpc_error

DEFAULT_PORT = 7400
# The node's --max_message_bytes defaults to 64 MiB; answers may be that big.
_CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", -1),
    ("grpc.max_send_message_length", 64 << 20),
]


@dataclass
class TLS:
    """TLS to the nodes, as client/tls_options.h.

    ca_file: PEM CA that signed the node's certificate (None: system roots).
    cert_file, key_file: client certificate and key, for a node started with
      --tls_ca (mutual TLS); both or neither.
    server_name: the name expected in the node's certificate when it differs
      from the endpoint's host (e.g. connecting by IP).
    """

    ca_file: Optional[str] = None
    cert_file: Optional[str] = None
    key_file: Optional[str] = None
    server_name: Optional[str] = None

    def credentials(self):
        if bool(self.cert_file) != bool(self.key_file):
            raise ValueError("tls: cert_file and key_file go together")

        def read(path):
            with open(path, "rb") as f:
                return f.read()

        return grpc.ssl_channel_credentials(
            root_certificates=read(self.ca_file) if self.ca_file else None,
            private_key=read(self.key_file) if self.key_file else None,
            certificate_chain=read(self.cert_file) if self.cert_file else None,
        )


def parse_tls(tls):
    """None/False: plaintext; True: TLS with the system roots; a str: the CA
    file; a dict: TLS(**dict); a TLS."""
    if tls is None or tls is False:
        return None
    if tls is True:
        return TLS()
    if isinstance(tls, str):
        return TLS(ca_file=tls)
    if isinstance(tls, dict):
        return TLS(**tls)
    if isinstance(tls, TLS):
        return tls
    raise TypeError(f"tls: want None, True, a CA file path, a dict or historian.TLS, got {tls!r}")


def parse_endpoints(endpoints):
    """"a:7400,b:7400" or a list; an address without a port gets 7400."""
    if isinstance(endpoints, str):
        endpoints = endpoints.split(",")
    out = []
    for e in endpoints:
        e = e.strip()
        if not e:
            raise ValueError("empty endpoint")
        if e.startswith("["):
            has_port = "]:" in e
        else:
            has_port = ":" in e
        out.append(e if has_port else f"{e}:{DEFAULT_PORT}")
    if not out:
        raise ValueError("no endpoint given")
    return out


class _Endpoint:
    def __init__(self, address, tls):
        self.address = address
        options = list(_CHANNEL_OPTIONS)
        if tls is not None:
            if tls.server_name:
                options.append(("grpc.ssl_target_name_override", tls.server_name))
            self.channel = grpc.secure_channel(address, tls.credentials(), options=options)
        else:
            self.channel = grpc.insecure_channel(address, options=options)
        self.query = pb.query_pb2_grpc.QueryStub(self.channel)
        self.catalog = pb.catalog_pb2_grpc.CatalogStub(self.channel)
        self.ingest = pb.ingest_pb2_grpc.IngestStub(self.channel)


class Channels:
    """Thread-safe: the preferred index is the only shared state (a lock)."""

    def __init__(self, endpoints, token=None, tls=None, timeout=30.0):
        if timeout is not None and timeout <= 0:
            raise ValueError("timeout must be positive")
        self.timeout = timeout
        tls = parse_tls(tls)
        self.endpoints = [_Endpoint(a, tls) for a in parse_endpoints(endpoints)]
        self.metadata = (("authorization", f"Bearer {token}"),) if token else None
        self._lock = threading.Lock()
        self._preferred = 0

    @property
    def preferred_endpoint(self):
        return self.endpoints[self._preferred].address

    def _order(self):
        with self._lock:
            first = self._preferred
        n = len(self.endpoints)
        return [(first + i) % n for i in range(n)]

    def _answered(self, index):
        with self._lock:
            self._preferred = index

    def _all_unavailable(self, failures):
        return HistorianError(
            grpc.StatusCode.UNAVAILABLE,
            "every endpoint is unavailable: " +
            "; ".join(f"{a}: {d}" for a, d in failures))

    def unary(self, service, method, request, timeout=None):
        """One unary call with failover on UNAVAILABLE."""
        failures = []
        order = self._order()
        for index in order:
            ep = self.endpoints[index]
            try:
                response = getattr(getattr(ep, service), method)(
                    request, timeout=timeout or self.timeout, metadata=self.metadata)
            except grpc.RpcError as e:
                if e.code() == grpc.StatusCode.UNAVAILABLE and len(order) > 1:
                    failures.append((ep.address, e.details()))
                    continue
                raise from_rpc_error(e, ep.address) from None
            self._answered(index)
            return response
        raise self._all_unavailable(failures)

    def read_stream(self, request, timeout=None):
        """One Query.Read stream: yields its messages. Fails over to the next
        endpoint only before the first message has arrived."""
        failures = []
        order = self._order()
        for index in order:
            ep = self.endpoints[index]
            call = ep.query.Read(request, timeout=timeout or self.timeout, metadata=self.metadata)
            got = False
            try:
                for message in call:
                    got = True
                    yield message
            except grpc.RpcError as e:
                if not got and e.code() == grpc.StatusCode.UNAVAILABLE and len(order) > 1:
                    failures.append((ep.address, e.details()))
                    continue
                raise from_rpc_error(e, ep.address) from None
            finally:
                call.cancel()  # a no-op once the stream ended; frees it when the caller stops early
            self._answered(index)
            return
        raise self._all_unavailable(failures)

    def close(self):
        for ep in self.endpoints:
            ep.channel.close()
