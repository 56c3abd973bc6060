# syntax=docker/dockerfile:1
# ldncds service image: a build stage compiles durable_rules' C core and installs the package into
# a virtual environment; the runtime stage copies only that environment and the rules, has no
# compiler, and runs as an unprivileged user with a health check on /readyz.
#
#   docker build -t ldncds:0.1.0 .
#   docker run --rm -p 8000:8000 -e LDNCDS_TRUSTED_ISSUERS='[...]' ldncds:0.1.0
#
# The base image is pinned by tag; pin it by digest (python:3.11-slim-bookworm@sha256:...) at release.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
# durable_rules 2.0.28 ships no wheels: its C core is compiled here, never in the runtime image.
# Not version-pinned (DL3008): the compiler never reaches the runtime image, and pinned Debian
# versions disappear from the mirrors and break the build; the base image tag fixes the release.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/ldncds
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY src ./src
# The postgres extra: the compose set-up keeps the decision log in PostgreSQL. No test tools.
RUN /opt/ldncds/bin/pip install ".[postgres]" \
    && /opt/ldncds/bin/ldncds --help >/dev/null

FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="ldncds" \
      org.opencontainers.image.description="Decision support for low-dose naltrexone in refractory chronic pain (CDS Hooks, FHIR R4)" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 ldncds \
    && useradd --system --uid 10001 --gid ldncds --home-dir /var/lib/ldncds --shell /usr/sbin/nologin ldncds \
    && install -d -o ldncds -g ldncds -m 0750 /var/lib/ldncds
COPY --from=build /opt/ldncds /opt/ldncds
COPY rules /app/rules
ENV PATH=/opt/ldncds/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    LDNCDS_RULES_DIR=/app/rules \
    LDNCDS_DATA_DIR=/var/lib/ldncds \
    LDNCDS_HOST=0.0.0.0 \
    LDNCDS_PORT=8000
WORKDIR /var/lib/ldncds
USER 10001:10001
VOLUME ["/var/lib/ldncds"]
EXPOSE 8000
# /readyz: rules loaded, engine workers up, the decision log writable. No curl in a slim image.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:%s/readyz' % os.environ.get('LDNCDS_PORT', '8000'), timeout=4).status == 200 else 1)"]
ENTRYPOINT ["ldncds"]
CMD ["serve"]
