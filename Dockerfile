# syntax=docker/dockerfile:1
# Multi-stage build: dependencies are resolved from uv.lock in the builder and
# only the resulting virtualenv (plus the source) is copied into the runtime.
ARG PYTHON_IMAGE=python:3.11-slim

# ---------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS builder

ARG UV_VERSION=0.13.9
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1 \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv

# uv from PyPI keeps the build on package registries only.
RUN pip install "uv==${UV_VERSION}"

WORKDIR /src

# Dependencies first, in their own layer: it is rebuilt only when the lock changes.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --locked --no-dev --no-install-project

# Then the project itself, installed as a regular (non-editable) package.
COPY domain/ ./domain/
COPY adapters/ ./adapters/
COPY entrypoints/ ./entrypoints/
COPY settings/ ./settings/
COPY container.py cli.py ./
RUN uv sync --locked --no-dev --no-editable

# ---------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

ENV PATH="/app/.venv/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin app

WORKDIR /app

# Owned by root and read-only for the app user: the service never writes here. The project is
# installed in the venv as a package, so the sources need no second copy.
COPY --from=builder /app/.venv /app/.venv
COPY sentry_ui_schema.json ./

USER 10001:10001

EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; r = urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4); sys.exit(0 if r.status == 200 else 1)"]

CMD ["sentry-notion", "serve", "--host", "0.0.0.0", "--port", "8000"]
