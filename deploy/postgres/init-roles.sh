#!/bin/sh
# PostgreSQL container's first start (compose.yaml mounts this in /docker-entrypoint-initdb.d/): the gateway's owner
# and app roles and schema, by deploy/postgres/roles.sql, with the passwords from the compose secrets.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
     -v owner=gateway_owner -v app=gateway_app \
     -v owner_password="$(cat /run/secrets/pg_owner_password)" \
     -v app_password="$(cat /run/secrets/pg_app_password)" \
     -f /opt/gateway/roles.sql
