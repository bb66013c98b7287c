# The stream_app worker image: the package and its console scripts on python:3.11-slim, run unprivileged.
# It installs the base package only (what a worker needs): no embedded broker (`dev-stack` extra), no embedded
# ClickHouse (`chdb` extra; the Aspects sink reaches a ClickHouse server over HTTP), no s3fs (`s3` extra).
# Build context: the repository root (.dockerignore keeps only what the package needs).
FROM python:3.11-slim

# topics.yaml lives at the repository root, outside the package: the app reads the copy made below.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    STREAM_APP_TOPICS_FILE=/app/topics.yaml \
    STREAM_APP_DATA_DIR=/data

WORKDIR /app
COPY pyproject.toml README.md topics.yaml ./
COPY stream_app ./stream_app
# /data must exist and belong to the worker's user before a named volume is mounted on it:
# Docker copies the image directory's ownership into a new volume.
RUN pip install . \
    && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin stream \
    && mkdir -p /data /config \
    && chown stream /data

USER stream
# Faust's web server (tables, routers, health, metrics), listening on all interfaces; set STREAM_APP_WEB_HOST to
# the name other workers reach this container by (table lookups are forwarded to the worker owning the key).
EXPOSE 6066
# The README's command; `faust -A stream_app worker -l info` runs the same worker.
CMD ["python", "-m", "stream_app", "worker", "-l", "info"]
