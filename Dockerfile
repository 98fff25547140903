# whoowns: the chat bot server (`whoowns serve`) for Slack and Microsoft Teams.
#
#   docker build -t whoowns .
#   docker run -p 3978:3978 -v whoowns-data:/data whoowns
#
# With no DATABASE_URL it keeps an SQLite database in the /data volume; set
# DATABASE_URL=postgresql://… to share one database between replicas (see docker-compose.yml).
FROM python:3.11-slim-bookworm

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The unprivileged user the server runs as, and its data directory (the only writable place).
RUN groupadd --system --gid 10001 whoowns \
    && useradd --system --uid 10001 --gid whoowns --home-dir /data --no-create-home \
       --shell /usr/sbin/nologin whoowns \
    && mkdir -p /data \
    && chown whoowns:whoowns /data

WORKDIR /app

# Dependencies in their own layer, rebuilt only when pyproject.toml changes: the list is read from
# [build-system].requires and [project].dependencies, so nothing is duplicated in a requirements file.
COPY pyproject.toml ./
RUN python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb')); print('\n'.join(p['build-system']['requires'] + p['project']['dependencies']))" > /tmp/requirements.txt \
    && pip install --no-cache-dir -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# The source: the packages of [tool.setuptools.packages.find] (with their package data: the seed
# catalogue and the Alembic migrations) and the Teams app template, which `whoowns teams-package`
# reads from the teams/ directory next to the packages. That is why the project is installed in
# editable mode: the code runs from /app, so /app/teams is found. The files stay owned by root.
COPY README.md ./
COPY bot ./bot
COPY handlers ./handlers
COPY store ./store
COPY seed ./seed
COPY teams ./teams
RUN pip install --no-cache-dir --no-deps --no-build-isolation --editable . \
    && python -m compileall -q bot handlers store seed

# The default database: an SQLite file in the volume. VOLUME comes after the chown above, so a new
# named volume starts out owned by whoowns.
ENV DATABASE_URL=sqlite+aiosqlite:////data/whoowns.db
VOLUME ["/data"]
# Relative paths (`whoowns export --out …`, `whoowns teams-package --out …`) land in the volume.
WORKDIR /data

USER 10001:10001

EXPOSE 3978

# 200 when the database answers, 503 (urlopen raises, exit 1) when it does not. No curl in slim.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-I", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:3978/healthz', timeout=4)"]

# Migrations: `whoowns serve` upgrades the schema itself on start (bot.app.open_core runs
# store.migrate.upgrade), so there is no separate entrypoint. `whoowns db upgrade` does the same
# on its own (docker-compose.yml runs it once before the replicas start).
# Exec form: whoowns is PID 1 and gets SIGTERM, and aiohttp drains requests before it exits.
CMD ["whoowns", "serve", "--host", "0.0.0.0", "--port", "3978"]
