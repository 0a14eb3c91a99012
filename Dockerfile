# The gateway's container image: `gateway serve` by default; `gateway relay` and `gateway migrate` with another
# command (compose.yaml runs all three). docs/deploy.md, "Containers", says how to build and run it.
#
# Nothing secret is baked in: GATEWAY_SECRET_KEY, GATEWAY_SIGNING_KEY_PATH's key and the database password arrive at
# run time (an env file and secrets mounted under /run/secrets). The process runs as the unprivileged user
# `gateway` (uid 10001). tests/e2e/test_deploy_files.py runs these same steps — the install, `gateway migrate`, the
# entrypoint and the health check — in a fresh venv, since no container engine is reachable where CI runs.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/gateway/venv/bin:$PATH

RUN groupadd --system --gid 10001 gateway \
 && useradd --system --uid 10001 --gid gateway --home-dir /var/lib/gateway --create-home \
            --shell /usr/sbin/nologin gateway

WORKDIR /opt/gateway/src
COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY adapters ./adapters
COPY mocks ./mocks
COPY schemas ./schemas
RUN python -m venv /opt/gateway/venv \
 && /opt/gateway/venv/bin/pip install ".[postgres]"
COPY deploy/healthcheck.py /opt/gateway/healthcheck.py

USER gateway
WORKDIR /var/lib/gateway
# Listen on every interface of the container (the proxy reaches it over the compose network); the rest comes from
# the environment at run time. No secret here. `serve` and `relay` run in production unless told otherwise.
ENV GATEWAY_HOST=0.0.0.0 \
    GATEWAY_PORT=8080
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "/opt/gateway/healthcheck.py"]
ENTRYPOINT ["gateway"]
CMD ["serve"]
