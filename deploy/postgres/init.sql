-- Runs once, when the postgres container initialises an empty data volume
-- (docker-entrypoint-initdb.d). It creates one role per consumer so the
-- connector never runs as a superuser:
--   connector -> database "connector" (the app; tables come from `connector migrate`)
--   temporal  -> databases "temporal" and "temporal_visibility" (schema comes
--                from temporal-sql-tool in deploy/temporal/setup-schema.sh)
-- The passwords must match DATABASE_URL and the temporal services in
-- docker-compose.yml. Postgres is not published on the host.

CREATE ROLE connector LOGIN PASSWORD 'connector';
CREATE DATABASE connector OWNER connector;

CREATE ROLE temporal LOGIN PASSWORD 'temporal';
CREATE DATABASE temporal OWNER temporal;
CREATE DATABASE temporal_visibility OWNER temporal;

-- The visibility schema needs btree_gin. It is a trusted extension, but
-- creating it here as the superuser avoids depending on that.
\connect temporal_visibility
CREATE EXTENSION IF NOT EXISTS btree_gin;
