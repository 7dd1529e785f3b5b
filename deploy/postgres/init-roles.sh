#!/bin/sh
# The two database roles of SPEC §10, for one AMSS database:
#   owner (AMSS_OWNER_ROLE): owns the database and every table; `amss migrate` connects
#       as it (DB_MIGRATE_URL).
#   app (AMSS_APP_ROLE): what `amss server` and `amss worker` connect as (DB_URL). It may
#       read and write rows, and nothing else: it owns no table, so it can neither drop
#       one nor disable the audit triggers.
# Default privileges make every table, sequence and function the owner creates later
# (each migration) usable by the app role without a grant per migration. The audit trail
# is the exception: the app role may only read and append audit rows and only read the
# chain heads (migration 0009; a re-run of this script keeps it so).
#
# Run by the postgres image on first start (docker-compose.yml mounts it into
# /docker-entrypoint-initdb.d), or by hand with a superuser's PG* variables:
#   AMSS_DATABASE=amss AMSS_OWNER_PASSWORD=... AMSS_APP_PASSWORD=... sh init-roles.sh
# Idempotent: run again, it only resets the passwords.
set -eu

owner=${AMSS_OWNER_ROLE:-amss_owner}
app=${AMSS_APP_ROLE:-amss_app}
database=${AMSS_DATABASE:-${POSTGRES_DB:-amss}}
: "${AMSS_OWNER_PASSWORD:?set AMSS_OWNER_PASSWORD}"
: "${AMSS_APP_PASSWORD:?set AMSS_APP_PASSWORD}"

run_sql() {  # run_sql DATABASE: the SQL on standard input, as the superuser
    psql -v ON_ERROR_STOP=1 -X -q --username "${POSTGRES_USER:-${PGUSER:-postgres}}" \
        --dbname "$1" -v owner="$owner" -v app="$app" -v database="$database" \
        -v owner_password="$AMSS_OWNER_PASSWORD" -v app_password="$AMSS_APP_PASSWORD"
}

run_sql postgres <<'SQL'
SELECT format('CREATE ROLE %I LOGIN', :'owner')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'owner') \gexec
SELECT format('CREATE ROLE %I LOGIN', :'app')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'app') \gexec
ALTER ROLE :"owner" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'owner_password';
ALTER ROLE :"app" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'app_password';
SELECT format('CREATE DATABASE %I OWNER %I', :'database', :'owner')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'database') \gexec
ALTER DATABASE :"database" OWNER TO :"owner";
SQL

run_sql "$database" <<'SQL'
ALTER SCHEMA public OWNER TO :"owner";
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO :"app";
GRANT CONNECT, TEMPORARY ON DATABASE :"database" TO :"app";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO :"app";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public
    GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO :"app";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public
    GRANT EXECUTE ON FUNCTIONS TO :"app";
-- Anything the owner created before this script ran (a re-run after migrations).
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO :"app";
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO :"app";
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO :"app";
-- The audit trail stays append-only for the app role: migration 0009's function takes back
-- what the blanket grants above gave on audit_logs, audit_chain_heads and alembic_version.
-- Before the first migration there is nothing to take back (0009 does it when it runs).
DO $$ BEGIN
    IF to_regprocedure('amss_protect_audit_trail()') IS NOT NULL THEN
        PERFORM amss_protect_audit_trail();
    END IF;
END $$;
SQL
