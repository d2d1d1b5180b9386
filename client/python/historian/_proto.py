"""The generated gRPC modules (built from api/historian/v1/*.proto at build or
install time; never committed)."""

try:
    from historian.v1 import catalog_pb2, catalog_pb2_grpc  # noqa: F401
    from historian.v1 import common_pb2  # noqa: F401
    from historian.v1 import ingest_pb2, ingest_pb2_grpc  # noqa: F401
    from historian.v1 import query_pb2, query_pb2_grpc  # noqa: F401
except ImportError as e:  # pragma: no cover - a packaging error
    raise ImportError(
        "historian: the generated gRPC modules (historian.v1.*_pb2) are missing: "
        "install the package (pip install ./client/python) or build the "
        "`historian_python` CMake target and put build/client/python on "
        f"PYTHONPATH ({e})") from e
