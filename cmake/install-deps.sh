#!/usr/bin/env bash
# Installs every Debian 12 package that libila's build, tests, demo and benchmarks need.
# Idempotent: does nothing (not even apt-get update) when everything is already installed.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config git
  clang-16                        # BPF compiler (cmake/BpfObject.cmake says why this one)
  libbpf-dev libxdp-dev bpftool libelf-dev zlib1g-dev
  libmnl-dev                      # rtnetlink/genetlink framing (lib/kernel/)
  libabsl-dev catch2 libbenchmark-dev
  iproute2 iputils-ping ethtool tcpdump iperf3 procps
  nlohmann-json3-dev                # ila-agent's schema and local API; tests parse ilactl's -j output
  python3 python3-matplotlib        # bench/report.py and its plot
  clang-format                      # cmake/check-format.sh (CI checks the tree's formatting)
  clang-tidy                        # cmake/check-tidy.sh (CI runs it on the files a change touches)
  etcd-server etcd-client           # testbed/etcd_cluster.h: real etcd members and etcdctl
  openssl                           # testbed/etcd_cluster.h: the CA and certificates of TLS tests
  prometheus-cpp-dev                # ila-agent's /metrics (prometheus-cpp's pull exposer)
  libgrpc++-dev protobuf-compiler-grpc  # ila-agent's etcd client: gRPC and grpc_cpp_plugin
  libprotobuf-dev protobuf-compiler     # ila-agent's etcd client: protoc and libprotobuf
  golang-etcd-server-dev            # etcd's own .proto files (tools/ila-agent/etcd/CMakeLists.txt)
  containerd runc busybox-static    # testbed/containerd.h: a real runtime running ila-cni (e2e)
  containernetworking-plugins       # host-local, the IPAM plugin ila-cni delegates to in cni_test
)

if [ ! -r /etc/os-release ] || ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg-query >/dev/null 2>&1; then
  echo "install-deps: this script needs Debian 12 (bookworm) with apt-get and dpkg;" >&2
  echo "install-deps: on another system install the equivalents of: ${PACKAGES[*]}" >&2
  exit 1
fi
. /etc/os-release
if [ "${ID:-}" != debian ] && [[ " ${ID_LIKE:-} " != *" debian "* ]]; then
  echo "install-deps: $PRETTY_NAME is not Debian; libila is built and tested on Debian 12." >&2
  exit 1
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "install-deps: missing packages (${missing[*]}); run as root to install them." >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
