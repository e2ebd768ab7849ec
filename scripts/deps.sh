#!/usr/bin/env bash
# Installs the Debian packages cnnc needs (only what is missing), then checks
# that every tool those packages stand for really works: a package name in the
# list is not proof (clang without libclang-rt-14-dev links no sanitizer).
#
#   deps.sh build          a C compiler and make, cmake, flex, bison, Check, protobuf-c,
#                          ONNX proto: what building cnnc and compiling its output need
#   deps.sh test           build + the oracles (PyTorch, onnx, numpy, and ONNX
#                          Runtime: npm's onnxruntime-node into build/ort, with
#                          Debian's nodejs and npm where no npm is installed),
#                          clang's runtimes, QEMU and the Arm toolchain, man and
#                          Graphviz: what the tests use
#   deps.sh --check SET    install nothing; exit 1 naming each missing package
set -euo pipefail

build_pkgs=(gcc make libc6-dev cmake flex bison check pkg-config
            libprotobuf-c-dev protobuf-c-compiler libonnx-dev)
test_pkgs=(build-essential clang libclang-rt-14-dev
           python3-numpy python3-torch python3-torchvision python3-onnx python3-sklearn
           gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm
           man-db graphviz)

ORT_VERSION=1.30.0
root=$(cd "$(dirname "$0")/.." && pwd)
ort_dir=$root/build/ort

check_only=0
if [ "${1:-}" = --check ]; then check_only=1; shift; fi
set_name=${1:-test}
case "$set_name" in
  build) pkgs=("${build_pkgs[@]}") ;;
  test) pkgs=("${build_pkgs[@]}" "${test_pkgs[@]}")
        # A node.js that came with its own npm (NodeSource) needs neither package.
        command -v npm >/dev/null || pkgs+=(nodejs npm) ;;
  *) echo "deps.sh: error: unknown set '$set_name' (build or test)" >&2; exit 2 ;;
esac

install_missing() {
  local missing=() p
  for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return
  echo "installing: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo=sudo
  $sudo apt-get update -q -o Acquire::Languages=none
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# onnxruntime-node, for the tests that check exported and quantized models
# against ONNX Runtime (npm's registry; its binaries ship inside the package).
install_ort() {
  [ -d "$ort_dir/node_modules/onnxruntime-node" ] && return
  mkdir -p "$ort_dir"
  # On failure the probe below names the package; say what usually causes it.
  npm install --prefix "$ort_dir" --no-audit --no-fund --ignore-scripts \
    "onnxruntime-node@$ORT_VERSION" >/dev/null ||
    echo "deps.sh: npm could not install onnxruntime-node from its registry (behind a" \
         "proxy that re-signs TLS, point NODE_EXTRA_CA_CERTS at the proxy's CA" \
         "certificate and run deps.sh again)" >&2
}

# Each probe: PACKAGE and a command that succeeds only when what it provides works.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo 'int main(void) { return 0; }' >"$tmp/t.c"
echo 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { (void)d; (void)n; return 0; }' >"$tmp/f.c"

failed=()
probe() {
  local pkg=$1; shift
  if ! "$@" >/dev/null 2>&1; then failed+=("$pkg"); fi
}

check_build() {
  probe gcc cc "$tmp/t.c" -o "$tmp/t"
  probe make make --version
  probe cmake cmake --version
  probe flex flex --version
  probe bison bison --version
  probe check pkg-config --exists check
  probe libprotobuf-c-dev pkg-config --exists libprotobuf-c
  probe protobuf-c-compiler protoc-c --version
  probe libonnx-dev test -f /usr/include/onnx/onnx.proto
}

check_test() {
  probe clang clang "$tmp/t.c" -o "$tmp/t"
  probe libclang-rt-14-dev clang -fsanitize=address,undefined "$tmp/t.c" -o "$tmp/t"
  probe libclang-rt-14-dev clang -fsanitize=fuzzer,address "$tmp/f.c" -o "$tmp/f"
  probe build-essential gcc -fsanitize=address,undefined "$tmp/t.c" -o "$tmp/t"
  probe python3-numpy /usr/bin/python3 -c 'import numpy'
  probe python3-torch /usr/bin/python3 -c 'import torch'
  probe python3-torchvision /usr/bin/python3 -c 'import torchvision'
  probe python3-onnx /usr/bin/python3 -c 'import onnx'
  probe python3-sklearn /usr/bin/python3 -c 'import sklearn'
  probe gcc-arm-none-eabi arm-none-eabi-gcc --version
  probe libnewlib-arm-none-eabi arm-none-eabi-gcc -mcpu=cortex-m4 --specs=nosys.specs "$tmp/t.c" -o "$tmp/t.elf"
  probe qemu-system-arm qemu-system-arm -machine help
  probe man-db man --version
  probe graphviz dot -V
  probe nodejs node --version
  probe onnxruntime-node env NODE_PATH="$ort_dir/node_modules" node -e 'require("onnxruntime-node")'
}

if [ $check_only -eq 0 ]; then
  install_missing
  if [ "$set_name" = test ] && command -v npm >/dev/null; then install_ort; fi
fi
check_build
[ "$set_name" = test ] && check_test
if [ ${#failed[@]} -gt 0 ]; then
  # The same package can fail more than one probe: name it once.
  names=$(printf '%s\n' "${failed[@]}" | sort -u | tr '\n' ' ')
  echo "deps.sh: error: missing or broken after install: ${names% } (apt-get install the" \
       "Debian packages; npm install --prefix build/ort onnxruntime-node@$ORT_VERSION)" >&2
  exit 1
fi
echo "deps.sh: every package of the '$set_name' set works"
