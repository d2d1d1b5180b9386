#!/usr/bin/env bash
# Installs every build and test dependency from Debian bookworm packages.
# Idempotent: when everything is present it only checks and returns.
set -euo pipefail
PKGS=(
  cmake ninja-build ccache g++ pkg-config git
  librocksdb-dev libsnappy-dev liblz4-dev libbz2-dev zlib1g-dev libgflags-dev liburing-dev libzstd-dev
  libgrpc++-dev protobuf-compiler-grpc protobuf-compiler libprotobuf-dev
  libabsl-dev libgtest-dev libgmock-dev libbenchmark-dev libcpp-httplib-dev
  nlohmann-json3-dev libjs-dygraphs chromium chromium-driver python3-selenium python3-pil
  clang libclang-rt-14-dev lld
  openssl libssl-dev procps curl jq
  mosquitto mosquitto-clients libpaho-mqtt-dev libpaho-mqttpp-dev
  etcd-server etcd-client
  tzdata
  python3-grpcio python3-protobuf python3-numpy python3-pandas python3-pytest
  python3-setuptools python3-pip
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PKGS[@]} packages present"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
