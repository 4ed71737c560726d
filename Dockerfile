# One image for every role: web (Daphne), worker and beat (Celery), and the one-off migrate, all
# through the package's own command (`flowbuilder web|worker|beat|migrate`, orchestrator/cli.py).
# Builds from a fresh clone: the canvas is built here, in a Node stage, never taken from static/.
# docker-compose.yml shows how the roles fit together.

# -- the canvas, built by Vite into /src/static/app (frontend/vite.config.ts: outDir) ------------
FROM node:22-slim AS frontend
WORKDIR /src/frontend
COPY frontend/package.json frontend/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY frontend/ ./
RUN npm run build

# -- the wheel: the Python packages with the templates, the canvas and the examples ---------------
FROM python:3.11-slim AS wheel
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml setup.py MANIFEST.in README.md Procfile ./
COPY runtime runtime
COPY editor editor
COPY knowledge knowledge
COPY orchestrator orchestrator
COPY templates templates
COPY examples examples
COPY --from=frontend /src/static/app static/app
RUN pip wheel --no-deps -w /dist .

# -- the app: the wheel installed, as pip install users get it ------------------------------------
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    VAR_DIR=/app/var
WORKDIR /app
RUN useradd --create-home --uid 1000 flow
COPY --from=wheel /dist /dist
RUN pip install /dist/*.whl && rm -rf /dist
RUN SECRET_KEY=collectstatic-only flowbuilder manage collectstatic --noinput -v0 \
    && chown -R flow /app/var

USER flow
EXPOSE 8000
CMD ["flowbuilder", "web", "--host", "0.0.0.0", "--port", "8000"]
