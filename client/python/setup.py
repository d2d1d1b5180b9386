"""Builds the `historian` package; its gRPC stubs are generated here, from
../../api/historian/v1/*.proto, into the build directory (nothing generated
is committed). Offline, with Debian's packages (docs/python.md):

    /usr/bin/python3 -m pip install --no-build-isolation --no-index ./client/python

HISTORIAN_API_DIR overrides where the .proto files are read from.
"""

import glob
import os
import shutil
import subprocess

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
API_DIR = os.environ.get("HISTORIAN_API_DIR", os.path.join(HERE, "..", "..", "api"))


def generate(api_dir, out_dir):
    """protoc --python_out/--grpc_python_out for historian/v1/*.proto into
    out_dir/historian/v1/, with Debian's protoc (protobuf-compiler) and
    grpc_python_plugin (protobuf-compiler-grpc). Not grpc_tools: Debian's
    python3-grpc-tools bundles protoc 3.5, which cannot read `optional`."""
    protos = sorted(glob.glob(os.path.join(api_dir, "historian", "v1", "*.proto")))
    if not protos:
        raise SystemExit(f"historian: no .proto files under {api_dir}/historian/v1 "
                         "(set HISTORIAN_API_DIR)")
    target = os.path.join(out_dir, "historian", "v1")
    os.makedirs(target, exist_ok=True)
    protoc = os.environ.get("PROTOC") or shutil.which("protoc")
    plugin = os.environ.get("GRPC_PYTHON_PLUGIN") or shutil.which("grpc_python_plugin")
    if not protoc or not plugin:
        raise SystemExit("historian: need protoc (protobuf-compiler) and grpc_python_plugin "
                         "(protobuf-compiler-grpc) to generate the gRPC stubs")
    cmd = [protoc, f"--plugin=protoc-gen-grpc_python={plugin}", f"-I{api_dir}",
           f"--python_out={out_dir}", f"--grpc_python_out={out_dir}"] + protos
    subprocess.check_call(cmd)
    with open(os.path.join(target, "__init__.py"), "w") as f:
        f.write('"""Generated from api/historian/v1 at build time."""\n')


class BuildWithStubs(build_py):
    def run(self):
        super().run()
        generate(os.path.abspath(API_DIR), os.path.abspath(self.build_lib))


setup(
    name="historian",
    version="0.1.0",
    description="pandas client for the historian time-series node (historiand)",
    packages=["historian"],
    python_requires=">=3.9",
    install_requires=["grpcio", "protobuf", "pandas", "numpy"],
    cmdclass={"build_py": BuildWithStubs},
)
