# optisim: the simulator, the reference client and the locust load scenarios in one image.
# docker-compose.yml runs it four ways (simulator, reference client, locust master and
# workers); alone: `docker build -t optisim . && docker run -p 8900:8900 optisim`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY simulator ./simulator
COPY reference_client ./reference_client
COPY loadtests ./loadtests
# The `load` extra brings locust; every wheel it needs is prebuilt for 3.11 (no compiler).
RUN pip install ".[load]" \
    && useradd --create-home --uid 10001 optisim \
    && mkdir -p /data \
    && chown optisim /data

# Not root: the processes only need /data (SQLite files) and their ports.
USER optisim
VOLUME ["/data"]
# simulator, reference client listener, locust web UI, locust master <-> workers
EXPOSE 8900 8901 8089 5557

CMD ["optisim", "serve", "--host", "0.0.0.0"]
