"""Exceptions of the historian client.

Every error a node returns is raised as :class:`HistorianError` carrying the
gRPC status code (``err.code``, a ``grpc.StatusCode``; ``err.code_name``, e.g.
``"INVALID_ARGUMENT"``) and the node's message (``err.message``) unchanged.
Arguments the client can check itself (a bad time, an unknown function) raise
``ValueError`` / ``TypeError`` before anything is sent.
"""

import grpc


class HistorianError(Exception):
    """A call failed: the gRPC code and the node's message."""

    def __init__(self, code, message, endpoint=None):
        self.code = code
        self.code_name = code.name if isinstance(code, grpc.StatusCode) else str(code)
        self.message = message
        self.endpoint = endpoint
        super().__init__(f"{self.code_name}: {message}")


class WriteRejected(HistorianError):
    """Some samples of a write were rejected by the node (the others were
    stored). ``err.result`` is the :class:`WriteResult`; its ``rejected``
    DataFrame names each sample and the reason."""

    def __init__(self, result):
        self.result = result
        first = result.rejected.iloc[0]
        super().__init__(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"{len(result.rejected)} samples rejected (first: tag {first['tag']} "
            f"at {first['time']}: {first['reason']}); {result.accepted} accepted",
        )


def from_rpc_error(err, endpoint=None):
    """Turns a grpc.RpcError into a HistorianError."""
    code = err.code() if hasattr(err, "code") else grpc.StatusCode.UNKNOWN
    details = err.details() if hasattr(err, "details") else str(err)
    return HistorianError(code, details or "", endpoint)
