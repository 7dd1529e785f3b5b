# syntax=docker/dockerfile:1
# One image for every role; the command picks it (ENTRYPOINT runs `amss`):
#   docker run IMAGE server | worker | migrate | seed | audit verify | keys --out DIR
#
# Base: python:3.11-slim-bookworm (Python 3.11.16), pinned by the digest of its multi-arch
# index so that a rebuild gets the same operating system and interpreter. Refresh it on
# purpose, never by accident:
#   docker buildx imagetools inspect python:3.11-slim-bookworm
ARG PYTHON_IMAGE=python:3.11-slim-bookworm@sha256:a36c24f9cbdf4fd0f52d67f0823eeac19c2028c637cecc392d97f980d4fec56b

# Build stage: the package and its pinned dependencies into a virtual environment. Every
# dependency ships a manylinux wheel, so no compiler is needed here either.
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/amss
COPY pyproject.toml constraints.txt README.md ./
COPY src ./src
# constraints.txt pins every dependency to the versions the tests ran with.
RUN /opt/amss/bin/pip install --no-cache-dir -c constraints.txt . \
    && /opt/amss/bin/python -m compileall -q /opt/amss/lib

# Runtime stage: the environment and a small entry point, nothing else from the build.
FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="AMSS" \
      org.opencontainers.image.description="Aircraft Maintenance Scheduling System" \
      org.opencontainers.image.licenses="Apache-2.0"
# Bytecode was compiled at build time: the root filesystem may be read-only.
ENV PATH=/opt/amss/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    APP_ENV=production \
    HTTP_ADDR=:8080 \
    GRPC_ADDR=:9090 \
    WORKER_HTTP_ADDR=:9091 \
    AMSS_DATA_DIR=/var/lib/amss
RUN groupadd --system --gid 10001 amss \
    && useradd --system --uid 10001 --gid amss --home-dir /var/lib/amss --no-create-home \
       --shell /usr/sbin/nologin amss \
    && mkdir -p /var/lib/amss \
    && chown amss:amss /var/lib/amss
COPY --from=build /opt/amss /opt/amss
COPY --chmod=0755 deploy/docker/entrypoint.sh /usr/local/bin/amss-entrypoint
# A numeric user, so that Kubernetes can check runAsNonRoot without reading /etc/passwd.
USER 10001:10001
WORKDIR /var/lib/amss
EXPOSE 8080 9090 9091
ENTRYPOINT ["amss-entrypoint"]
CMD ["server"]
