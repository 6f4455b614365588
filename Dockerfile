# Concerto: a Matrix bot for participatory processes.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md requirements.lock ./
COPY bot ./bot
COPY handlers ./handlers
COPY storage ./storage
# The same pinned versions as CI and `make install` (requirements.lock, made with Python 3.11).
RUN pip install --no-cache-dir --prefix=/install -c requirements.lock ".[postgres]"

FROM python:3.11-slim
COPY --from=build /install /usr/local
RUN useradd --create-home --uid 1000 concerto && mkdir /data && chown concerto /data
USER concerto
WORKDIR /data
VOLUME /data
ENV CONCERTO_CONFIG=/data/config.toml \
    CONCERTO_STORAGE_DATA_DIR=/data \
    PYTHONUNBUFFERED=1
STOPSIGNAL SIGTERM
ENTRYPOINT ["concerto"]
CMD ["run"]
