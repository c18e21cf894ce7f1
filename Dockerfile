# Conversation Coach: slim image, non-root user, `coach` as the entry point.
#   docker build -t conversation-coach .
#   docker run -it -v coach-data:/data conversation-coach chat
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    COACH_FLOWS_DIR=/app/flows \
    COACH_STORE=/data/coach.db

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY adapters ./adapters
RUN pip install . \
    && useradd --create-home --uid 10001 coach \
    && mkdir -p /data \
    && chown coach:coach /data
COPY flows ./flows
# Refuse to build an image whose flows are broken.
RUN coach flows check

USER coach
VOLUME ["/data"]
ENTRYPOINT ["coach"]
CMD ["chat"]
