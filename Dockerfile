# syntax=docker/dockerfile:1
# authsvc container image.
#
#   docker build -t authsvc .
#   docker run --rm -p 4180:4180 -e AUTHSVC_CLIENT_ID=... authsvc
#
# Stage 1 builds the authsvc wheel and the wheels of its dependencies; stage 2 installs them
# from a bind mount (nothing of the builder stays in the image) and runs as a numeric non-root
# user. The image writes nothing outside /tmp, so it runs with readOnlyRootFilesystem.
# It listens on 0.0.0.0:4180 unless the configuration says otherwise: AUTHSVC_DEFAULT_* is weaker
# than every source (a file's or oauth2-proxy's http_address included), AUTHSVC_* would not be.

ARG PYTHON_VERSION=3.11

# ---- builder --------------------------------------------------------------------------------
FROM python:${PYTHON_VERSION}-slim AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY authsvc ./authsvc
# every wheel the runtime needs, so the final stage installs offline (--no-index)
RUN python -m pip wheel --wheel-dir /wheels .

# ---- runtime --------------------------------------------------------------------------------
FROM python:${PYTHON_VERSION}-slim AS runtime
ARG AUTHSVC_UID=65532
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    HOME=/tmp \
    AUTHSVC_DEFAULT_HTTP_ADDRESS=0.0.0.0:4180

# pip compiles the .pyc files at install time, so nothing is written at run time. The wheel
# file (not the name "authsvc") pins exactly the version built above (hadolint DL3013).
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    python -m pip install --no-index --find-links=/wheels /wheels/authsvc-*.whl \
    && groupadd --system --gid "${AUTHSVC_UID}" authsvc \
    && useradd --system --uid "${AUTHSVC_UID}" --gid "${AUTHSVC_UID}" \
       --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin authsvc

USER 65532:65532
WORKDIR /tmp
EXPOSE 4180

# no curl in slim images: probe /ping with the standard library
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; port = (os.environ.get('AUTHSVC_HTTP_ADDRESS') or os.environ.get('AUTHSVC_DEFAULT_HTTP_ADDRESS', '0.0.0.0:4180')).rpartition(':')[2]; sys.exit(0 if urllib.request.urlopen(f'http://127.0.0.1:{port}/ping', timeout=4).status == 200 else 1)"]

ENTRYPOINT ["authsvc"]
CMD ["serve"]
