#!/bin/sh
# Creates Temporal's two databases and brings their schemas up to date; safe on every start
# (compose runs it before the server). Runs in the temporalio/admin-tools image.
set -eu
tool() { temporal-sql-tool --plugin postgres12 --ep postgres -p 5432 -u "$POSTGRES_USER" --pw "$POSTGRES_PASSWORD" "$@"; }
until nc -z postgres 5432; do sleep 1; done
for db in temporal temporal_visibility; do
  tool --db "$db" create 2>/dev/null || echo "database $db exists"
done
# setup-schema only the first time (it refuses a schema already there); update-schema every time.
tool --db temporal setup-schema -v 0.0 2>/dev/null || echo "temporal schema exists"
tool --db temporal update-schema -d /etc/temporal/schema/postgresql/v12/temporal/versioned
tool --db temporal_visibility setup-schema -v 0.0 2>/dev/null || echo "visibility schema exists"
tool --db temporal_visibility update-schema -d /etc/temporal/schema/postgresql/v12/visibility/versioned
echo "Temporal schemas are up to date"
