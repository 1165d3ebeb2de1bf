#!/usr/bin/env bash
# Debian packages the build needs beyond a stock Python + g++ machine: GoogleTest for the C++
# suites, ccache so repeated builds on one machine are cheap, clang with its runtime for libFuzzer,
# muparser for the native formula benchmark's peer (kiln-formula-bench, specs/formula.md A.7 N1).
# Installs only what is missing.
set -euo pipefail
packages=(libgtest-dev ccache clang libclang-rt-14-dev libmuparser-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ! command -v g++ >/dev/null; then missing+=(g++); fi
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
echo "installing Debian packages: ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
