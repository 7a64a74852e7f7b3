FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
RUN useradd --create-home --uid 1000 bot

COPY pyproject.toml README.md ./
COPY bot ./bot
COPY core ./core
COPY handlers ./handlers
COPY db ./db
RUN pip install '.[redis]'
COPY content ./content

USER bot
ENV CONTENT_DIR=/app/content
# Migrations run on start; polling by default, `run --webhook` behind a reverse proxy.
ENTRYPOINT ["python", "-m", "bot"]
CMD ["run"]
