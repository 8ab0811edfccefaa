# MyNetSpace production image: one image for web (gunicorn), worker and beat (celery).
# Built and run by docker-compose.yml; see docs/deploy.md.

FROM python:3.11-slim AS build

ENV PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# gettext compiles the translation catalogues; it is not needed at run time.
RUN apt-get update \
    && apt-get install -y --no-install-recommends gettext \
    && rm -rf /var/lib/apt/lists/*

# The virtualenv holds exactly the versions of requirements.lock (runtime
# dependencies only: the development tools of the lock are left out).
RUN python -m venv /opt/venv && /opt/venv/bin/pip install uv
WORKDIR /app
COPY pyproject.toml requirements.lock ./
RUN /opt/venv/bin/uv pip install --python /opt/venv/bin/python \
        -r pyproject.toml -c requirements.lock

COPY . .

# Build-time values only: these steps read settings but never use the keys, and
# nothing from them is kept in the image.
RUN set -eu; \
    export DEBUG=false ENV_FILE= VAR_DIR=/tmp/build-var STATIC_ROOT=/app/staticfiles \
           SECRET_KEY=build-only-not-a-secret \
           AUDIT_SIGNING_KEY=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=; \
    if find locale -name '*.po' | grep -q .; then \
        /opt/venv/bin/python manage.py compilemessages --ignore=.venv; \
    fi; \
    /opt/venv/bin/python manage.py collectstatic --no-input; \
    rm -rf /tmp/build-var


FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    DJANGO_SETTINGS_MODULE=mynetspace.settings \
    STATIC_ROOT=/app/staticfiles \
    VAR_DIR=/var/lib/mynetspace \
    ENV_FILE=

# WeasyPrint renders invoices with Pango; DejaVu is the font their stylesheet names.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*

# The vault's classification reads scanned documents with tesseract (French data),
# run as a program on standard input (vault/extraction.py).
RUN apt-get update \
    && apt-get install -y --no-install-recommends tesseract-ocr tesseract-ocr-fra \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 mynetspace \
    && useradd --system --uid 10001 --gid mynetspace --home-dir /app --shell /usr/sbin/nologin mynetspace \
    && install -d -o mynetspace -g mynetspace -m 0700 /var/lib/mynetspace

COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app
WORKDIR /app

USER mynetspace
EXPOSE 8000

# The web command; docker-compose.yml overrides it for the worker and beat.
CMD ["gunicorn", "mynetspace.wsgi:application", \
     "--bind", "0.0.0.0:8000", "--timeout", "60", "--graceful-timeout", "30", \
     "--access-logfile", "-", "--max-requests", "2000", "--max-requests-jitter", "200"]
