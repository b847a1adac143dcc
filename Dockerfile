# The clv-stream worker. Built by docker-compose.yml (service `worker`).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Only what the package build needs, so the layer is cached until the code changes.
COPY pyproject.toml README.md ./
COPY clv_stream ./clv_stream
RUN pip install . \
    && useradd --create-home --uid 10001 clv

USER clv

# Faust web server: metrics and the HTTP API (CLV_WEB_HOST must be 0.0.0.0 in a container).
EXPOSE 6066

CMD ["clv-stream", "worker"]
