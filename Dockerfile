# Concerto: a Matrix bot for participatory processes.
# Build: docker build -t concerto .  (--build-arg BASE_IMAGE=… VERSION=… SOURCE=…)
# The base image is pinned to one Python release; the same Python 3.11 as requirements.lock.
ARG BASE_IMAGE=docker.io/library/python:3.11.11-slim-bookworm

FROM ${BASE_IMAGE} AS build
WORKDIR /src
# Dependencies first, from the project's list at the versions of requirements.lock: this layer
# is rebuilt only when pyproject.toml or the lock changes, not on every source change.
COPY pyproject.toml requirements.lock ./
RUN python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
print('\n'.join(p['dependencies'] + p['optional-dependencies']['postgres']))" > dependencies.txt \
 && pip install --no-cache-dir --prefix=/install -c requirements.lock -r dependencies.txt
# Then Concerto itself, without touching the dependencies installed above.
COPY README.md ./
COPY bot ./bot
COPY handlers ./handlers
COPY storage ./storage
RUN pip install --no-cache-dir --prefix=/install --no-deps .

FROM ${BASE_IMAGE}
ARG VERSION=0.1.0
ARG SOURCE=""
LABEL org.opencontainers.image.title="Concerto" \
      org.opencontainers.image.description="A Matrix bot that keeps a participatory process moving" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="AGPL-3.0-or-later"
COPY --from=build /install /usr/local
RUN useradd --create-home --uid 1000 concerto && mkdir /data && chown concerto /data
USER concerto
# The data dir, and where config.toml is looked for when there is one (no CONCERTO_CONFIG: the
# environment alone may configure the bot, see the deployment guide).
WORKDIR /data
VOLUME /data
ENV CONCERTO_STORAGE_DATA_DIR=/data \
    PYTHONUNBUFFERED=1
# Unhealthy when the sync loop has not touched /data/heartbeat for 2 minutes; with the web
# service on (CONCERTO_WEB_LISTEN), when its /healthz says so (sync, database, outbox).
HEALTHCHECK --interval=30s --timeout=15s --start-period=2m --retries=3 \
    CMD ["concerto", "health", "--max-age", "120"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["concerto"]
CMD ["run"]
