# fapiaohub: the API server (default command) or, with `fapiaohub worker`, a collection worker.
# Build: docker build -t fapiaohub . (not built by the test suite: the development machine has no Docker
# engine; tests/test_deploy.py checks that the commands and settings named here exist).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
# every dependency ships manylinux wheels (lxml, zxing-cpp, pypdfium2, argon2-cffi): no compiler needed
RUN pip install . \
    && useradd --system --create-home --home-dir /var/lib/fapiaohub fapiaohub \
    && mkdir -p /data \
    && chown fapiaohub /data \
    && rm -rf /src

USER fapiaohub
WORKDIR /var/lib/fapiaohub
# uploads wait here for their task; mount shared storage when workers run in other containers
ENV FAPIAOHUB_DATA_DIR=/data \
    FAPIAOHUB_LOG_FORMAT=json
VOLUME ["/data"]
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]

CMD ["fapiaohub", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2", "--no-worker"]
