#!/bin/sh
# Creates or upgrades Temporal's schema in Postgres. Runs in the
# temporalio/admin-tools image (same version as temporalio/server) before the
# server starts; safe to re-run: setup-schema only adds the version tables if
# missing and update-schema applies only the versions not yet applied.
#
# The databases and the role are created by deploy/postgres/init.sql. The
# versioned schema comes from the copy embedded in temporal-sql-tool
# (--schema-name), so it always matches the tool's, i.e. the server's, version.
set -eu

: "${SQL_PLUGIN:=postgres12}"
: "${SQL_HOST:=postgres}"
: "${SQL_PORT:=5432}"
: "${SQL_USER:=temporal}"
: "${SQL_PASSWORD:?SQL_PASSWORD is required}"
: "${TEMPORAL_DB:=temporal}"
: "${TEMPORAL_VISIBILITY_DB:=temporal_visibility}"
export SQL_PLUGIN SQL_HOST SQL_PORT SQL_USER SQL_PASSWORD

tries=0
until nc -z "$SQL_HOST" "$SQL_PORT"; do
	tries=$((tries + 1))
	if [ "$tries" -ge 60 ]; then
		echo "postgres at $SQL_HOST:$SQL_PORT is unreachable" >&2
		exit 1
	fi
	sleep 1
done

echo "temporal schema: $TEMPORAL_DB"
temporal-sql-tool --db "$TEMPORAL_DB" setup-schema -v 0.0
temporal-sql-tool --db "$TEMPORAL_DB" update-schema --schema-name postgresql/v12/temporal

echo "temporal schema: $TEMPORAL_VISIBILITY_DB"
temporal-sql-tool --db "$TEMPORAL_VISIBILITY_DB" setup-schema -v 0.0
temporal-sql-tool --db "$TEMPORAL_VISIBILITY_DB" update-schema --schema-name postgresql/v12/visibility

echo "temporal schema: up to date"
