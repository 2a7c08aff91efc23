#!/usr/bin/env bash
# Install what this project needs on a fresh Debian/Ubuntu machine:
# Fashion-MNIST from Debian's package (where apt is available), a virtual
# environment in .venv, and the pinned Python packages of requirements.txt.
# REQUIREMENTS=requirements-gpu.txt installs the NVIDIA GPU build of TensorFlow.
set -euo pipefail
cd "$(dirname "$0")"
python=${PYTHON:-python3}
requirements=${REQUIREMENTS:-requirements.txt}

if command -v apt-get >/dev/null && [ ! -d /usr/share/datasets/fashion-mnist ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist
fi

if ! "$python" -c 'import sys; sys.exit(sys.version_info[:2] < (3, 10))'; then
  echo "install.sh: $python is $("$python" --version 2>&1); Python 3.10 or newer is needed (set PYTHON=...)" >&2
  exit 1
fi
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -r "$requirements"
echo "install.sh: ready; activate with: source .venv/bin/activate"
