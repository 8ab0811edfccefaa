#!/bin/sh
# Applies the database migrations as the schema owner (docs/deploy.md, PostgreSQL roles).
# The application containers log in as POSTGRES_APP_USER, which owns nothing; only
# this one-off container gets the owner's credentials.
set -eu
cd "$(dirname "$0")/.."

# Reads one NAME=value line of .env (the file is not a shell script: no sourcing).
get() { sed -n "s/^$1=//p" .env | tail -n 1 | sed -e 's/^"\(.*\)"$/\1/' -e "s/^'\(.*\)'$/\1/"; }

owner=$(get POSTGRES_USER)
password=$(get POSTGRES_PASSWORD)
database=$(get POSTGRES_DB)
[ -n "$owner" ] && [ -n "$password" ] && [ -n "$database" ] \
    || { echo "POSTGRES_USER, POSTGRES_PASSWORD and POSTGRES_DB must be set in .env" >&2; exit 1; }

exec docker compose run --rm --no-deps \
    -e DATABASE_URL="postgres://${owner}:${password}@postgres:5432/${database}" \
    web python manage.py migrate --no-input
