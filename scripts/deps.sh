#!/usr/bin/env bash
# Installs the Debian packages cnnc builds and tests with (only what is missing).
set -euo pipefail
pkgs=(build-essential clang cmake flex bison check pkg-config
      libprotobuf-c-dev protobuf-c-compiler libonnx-dev
      python3-numpy python3-torch python3-torchvision python3-onnx python3-sklearn
      gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
