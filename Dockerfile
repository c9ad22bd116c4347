# One image for every Clientele Python service; the command picks the service.
# Build: docker build -t clientele .    Run: see docker-compose.yml.
FROM python:3.11-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/venv
COPY requirements.txt /tmp/requirements.txt
RUN /opt/venv/bin/pip install -r /tmp/requirements.txt

FROM python:3.11-slim-bookworm
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PROMETHEUS_MULTIPROC_DIR=/tmp/metrics
RUN useradd --create-home --uid 10001 clientele
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY shared/ shared/
COPY gateway/ gateway/
COPY customer_service/ customer_service/
USER 10001
EXPOSE 8000
ENTRYPOINT ["gunicorn", "-c", "shared/gunicorn_conf.py", "--bind", "0.0.0.0:8000"]
CMD ["gateway.app:create_app()"]
