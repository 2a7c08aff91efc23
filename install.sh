#!/usr/bin/env bash
# Install what this project needs on a Debian/Ubuntu machine (or any Linux with Python):
# Fashion-MNIST from Debian's package where apt can be used (best effort), a virtual
# environment in .venv, and the pinned Python packages of requirements.txt.
# Safe to run again: it keeps a working .venv and only installs what is missing.
#   PYTHON=python3.12 bash install.sh                  # choose the interpreter
#   REQUIREMENTS=requirements-gpu.txt bash install.sh  # TensorFlow's NVIDIA GPU build
set -euo pipefail
cd "$(dirname "$0")"
requirements=${REQUIREMENTS:-requirements.txt}
# The pinned packages support these: numpy 2.4, pandas 3.1 and keras 3.15 need 3.11 or newer,
# tensorflow 2.21 has no wheels after 3.13. Tested with 3.11.
supported="3.11, 3.12 or 3.13"
supports='import sys; sys.exit(not (3, 11) <= sys.version_info[:2] <= (3, 13))'

say() { echo "install.sh: $*" >&2; }

# 1. Fashion-MNIST from Debian (and the venv module Debian splits off), as root or with password-less sudo.
packages=()
[ -d /usr/share/datasets/fashion-mnist ] || packages+=(dataset-fashion-mnist)
python3 -c 'import ensurepip, venv' 2>/dev/null || packages+=(python3-venv)
if [ ${#packages[@]} -gt 0 ] && command -v apt-get >/dev/null; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo="sudo -n"; else sudo="none"; fi
  fi
  if [ "$sudo" = none ] || ! { $sudo apt-get update -qq && \
      $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}"; } >/dev/null; then
    say "could not apt-get install ${packages[*]} (needs root or password-less sudo); carrying on."
    say "  Fashion-MNIST then comes from \$FASHION_MNIST_DIR (a folder with its four IDX files) or is"
    say "  downloaded by the fetch stage; or run: sudo apt-get install ${packages[*]}"
  fi
fi

# 2. An interpreter the pinned packages support.
if [ -n "${PYTHON:-}" ]; then
  candidates=("$PYTHON")
else
  candidates=(python3 python3.13 python3.12 python3.11)
fi
python=""
for candidate in "${candidates[@]}"; do
  if command -v "$candidate" >/dev/null && "$candidate" -c "$supports" 2>/dev/null; then
    python=$candidate
    break
  fi
done
if [ -z "$python" ]; then
  found=$("${candidates[0]}" --version 2>&1 || echo "not found")
  say "${candidates[0]} is ${found}; the pinned packages need Python ${supported} (set PYTHON=...)"
  exit 1
fi

# 3. The virtual environment: kept if it works and its Python is supported, made anew otherwise.
if [ -e .venv ] && ! .venv/bin/python -c "$supports" 2>/dev/null; then
  say ".venv does not run a supported Python (${supported}); making it anew"
  rm -rf .venv
fi
if [ ! -e .venv ]; then
  if ! "$python" -m venv .venv; then
    rm -rf .venv
    say "$python -m venv failed; on Debian/Ubuntu: sudo apt-get install python3-venv"
    exit 1
  fi
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -r "$requirements"
# The project itself, editable (pyproject.toml): `pipeline`, `stages` and `benchmarks` import from this checkout
# wherever Python starts; --no-deps: the pins above are the dependencies.
.venv/bin/python -m pip install -q --no-deps -e .
say "ready ($(.venv/bin/python --version)); run the pipeline with .venv/bin/dvc repro, or activate: source .venv/bin/activate"
