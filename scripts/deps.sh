#!/usr/bin/env bash
# Installs the Debian packages cnnc needs (only what is missing), then checks
# that every tool those packages stand for really works: a package name in the
# list is not proof (clang without libclang-rt-14-dev links no sanitizer).
#
#   deps.sh build          compiler, cmake, flex, bison, Check, protobuf-c, ONNX proto
#   deps.sh test           build + the oracles (PyTorch, onnx, numpy; node and npm
#                          for ONNX Runtime), clang's runtimes, QEMU and the Arm
#                          toolchain: what the tests use
#   deps.sh --check SET    install nothing; exit 1 naming each missing package
set -euo pipefail

build_pkgs=(build-essential cmake flex bison check pkg-config
            libprotobuf-c-dev protobuf-c-compiler libonnx-dev)
test_pkgs=(clang libclang-rt-14-dev
           python3-numpy python3-torch python3-torchvision python3-onnx python3-sklearn
           gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm
           nodejs npm)

check_only=0
if [ "${1:-}" = --check ]; then check_only=1; shift; fi
set_name=${1:-test}
case "$set_name" in
  build) pkgs=("${build_pkgs[@]}") ;;
  test) pkgs=("${build_pkgs[@]}" "${test_pkgs[@]}") ;;
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
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
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
  probe build-essential cc "$tmp/t.c" -o "$tmp/t"
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
  probe nodejs node --version
  probe npm npm --version
}

[ $check_only -eq 1 ] || install_missing
check_build
[ "$set_name" = test ] && check_test
if [ ${#failed[@]} -gt 0 ]; then
  # The same package can fail more than one probe: name it once.
  names=$(printf '%s\n' "${failed[@]}" | sort -u | tr '\n' ' ')
  echo "deps.sh: error: missing or broken after install: ${names% } (apt-get install ${names% })" >&2
  exit 1
fi
echo "deps.sh: every package of the '$set_name' set works"
