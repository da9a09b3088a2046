#!/usr/bin/env bash
# Installs everything Sportsflow needs on a fresh machine; quick when nothing changed.
#   - Debian packages: Java 17 (Kafka broker), Maven (fetches the Kafka jars), kcat (an
#     independent Kafka client for tests), RabbitMQ (AMQP push feeds).
#   - A Python venv in .venv with the project and its dev tools.
#   - Stage 2's hot modules compiled by mypyc into build/native (scripts/native.py).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
need_apt=()
command -v java >/dev/null 2>&1 || need_apt+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || need_apt+=(maven)
command -v kcat >/dev/null 2>&1 || need_apt+=(kcat)
command -v rabbitmq-server >/dev/null 2>&1 || [ -x /usr/sbin/rabbitmq-server ] || need_apt+=(rabbitmq-server)
# Headless Chromium: the browser test of the WebSocket feed.
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
# A C compiler and Python's headers: mypyc compiles stage 2's hot modules (scripts/native.py).
command -v gcc >/dev/null 2>&1 || need_apt+=(gcc)
"$PYTHON" -c 'import os, sys, sysconfig; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
  || need_apt+=(python3-dev)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing ${need_apt[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
    # Debian starts RabbitMQ as a system service on install; the stack runs its own instance.
    if command -v service >/dev/null 2>&1; then service rabbitmq-server stop >/dev/null 2>&1 || true; fi
    pkill -u rabbitmq beam.smp 2>/dev/null || true
  else
    echo "setup: please install: ${need_apt[*]} (e.g. sudo apt-get install ${need_apt[*]})" >&2
    exit 1
  fi
fi

"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is required")'
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
stamp=.venv/.sportsflow-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e ".[dev]"
  echo "$want" > "$stamp"
fi
# The compiled stages (agents/stages/__init__.py): rebuilt only when their sources or the Python changed.
.venv/bin/python scripts/native.py
echo "setup: ready (.venv, compiled stages, java, mvn, kcat, rabbitmq, chromium)"
