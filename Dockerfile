# One image for every role: web (Daphne), worker and beat (Celery), and the one-off migrate.
# docker-compose.yml shows how they fit together.

# -- the canvas, built by Vite into static/app/ ----------------------------------------------------
FROM node:22-slim AS frontend
WORKDIR /src/frontend
COPY frontend/package.json frontend/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY frontend/ ./
RUN npm run build

# -- the app ---------------------------------------------------------------------------------------
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    VAR_DIR=/app/var
WORKDIR /app
RUN useradd --create-home --uid 1000 flow

COPY pyproject.toml README.md ./
COPY runtime runtime
COPY editor editor
COPY orchestrator orchestrator
# Editable, so the code runs from /app, where settings find templates/ and static/ beside it.
RUN pip install -e .

COPY manage.py Procfile ./
COPY templates templates
# The example flows the app lists at /api/examples/ (read from here at request time).
COPY examples examples
COPY static static
COPY --from=frontend /src/static/app static/app
RUN SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput -v0 \
    && mkdir -p var && chown -R flow var

USER flow
EXPOSE 8000
CMD ["daphne", "-b", "0.0.0.0", "-p", "8000", "orchestrator.asgi:application"]
