# Conversation Coach: slim image, non-root user, `coach` as the entry point.
#   docker build -t conversation-coach .
#   docker run -it -v coach-data:/data conversation-coach chat
# The first stage builds the wheel; the image installs only that wheel, so it runs exactly what
# `pip install conversation-coach` gives anyone: the flows come with it as package data.
FROM python:3.12-slim AS wheel

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY bot ./bot
COPY adapters ./adapters
COPY flows ./flows
RUN pip wheel --no-deps --wheel-dir /wheels .

FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    COACH_STORE=/data/coach.db

COPY --from=wheel /wheels /tmp/wheels
RUN pip install /tmp/wheels/*.whl \
    && rm -rf /tmp/wheels \
    && useradd --create-home --uid 10001 coach \
    && mkdir -p /data \
    && chown coach:coach /data
# Refuse to build an image whose flows are broken (the installed ones: there is no source here).
RUN coach flows check

USER coach
WORKDIR /home/coach
VOLUME ["/data"]
ENTRYPOINT ["coach"]
CMD ["chat"]
