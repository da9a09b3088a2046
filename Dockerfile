# syntax=docker/dockerfile:1.7
# One image for every Sportsflow process; the command picks it:
#   connect | worker | broadcast | api | simulate   (ENTRYPOINT is the `sportsflow` CLI)
ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# Compilers only for dependencies without a wheel for this platform; they stay in this stage.
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY pyproject.toml ./
COPY pipeline ./pipeline
COPY connectors ./connectors
COPY agents ./agents
COPY sinks ./sinks
COPY runtime ./runtime
COPY schemas ./schemas
COPY scripts/native.py ./scripts/native.py
# pyproject names README.md as the long description; the image does not need its text.
RUN touch README.md && pip install .
# Stage 2's hot modules compiled by mypyc, as `make setup` does (agents/stages/__init__.py), with the mypy
# pyproject pins; the build goes beside the venv, mypy does not stay in it.
RUN pip install "$(grep -o 'mypy==[0-9.]*' pyproject.toml)" "setuptools>=68" \
    && python scripts/native.py --out /opt/venv/native \
    && pip uninstall -y mypy

FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    SPORTSFLOW_NATIVE_DIR=/opt/venv/native \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN groupadd --system --gid 10001 sportsflow \
    && useradd --system --uid 10001 --gid sportsflow --home-dir /var/lib/sportsflow \
       --shell /usr/sbin/nologin sportsflow \
    && install -d -o sportsflow -g sportsflow -m 0750 /var/lib/sportsflow
COPY --from=build /opt/venv /opt/venv

# Health of whichever subcommand runs in this container (PID 1, or the child of an init):
# HTTP /health for api and broadcast, a TCP connect to the Faust web port or the simulator,
# and "alive" for connect. Ports come from the same Settings the process uses.
COPY --chmod=0755 <<'PY' /usr/local/bin/sportsflow-healthcheck
#!/opt/venv/bin/python
import socket
import sys
import urllib.request
from pathlib import Path

from runtime.settings import Settings

argv = [a.decode() for a in Path("/proc/1/cmdline").read_bytes().split(b"\0") if a]
settings = Settings()
if "api" in argv:
    urllib.request.urlopen(f"http://127.0.0.1:{settings.api.port}/health", timeout=3).close()
elif "broadcast" in argv:
    urllib.request.urlopen(f"http://127.0.0.1:{settings.broadcaster.port}/health", timeout=3).close()
elif "worker" in argv:
    socket.create_connection(("127.0.0.1", settings.processing.web_port), timeout=3).close()
elif "simulate" in argv:
    socket.create_connection(("127.0.0.1", settings.simulator.port), timeout=3).close()
sys.exit(0)
PY

# Faust keeps its table data under the working directory; on ECS and in compose this
# directory is a volume and the root filesystem is read-only.
WORKDIR /var/lib/sportsflow
USER sportsflow:sportsflow
# 6066 Faust worker web, 8080 REST API, 8765 WebSocket feed (/ws), 8900 provider simulator.
EXPOSE 6066 8080 8765 8900
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 CMD ["sportsflow-healthcheck"]
ENTRYPOINT ["sportsflow"]
CMD ["worker"]
