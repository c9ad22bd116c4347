#!/usr/bin/env bash
# One PostgreSQL role and one database per service (services.toml: `database`), run once by
# the postgres image on an empty data volume (/docker-entrypoint-initdb.d). Each role owns its
# service's database and nothing else: a service connects with its own password, never the
# superuser's, and no other role may connect to its database. Owning the database lets its
# migrations create the trusted extensions they need (pg_trgm, unaccent, fuzzystrmatch).
# tests/deploy/test_compose.py holds the list below to services.toml and runs this script
# against a real PostgreSQL.
set -euo pipefail

service_database() { # role database password
  psql --no-psqlrc -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname postgres \
    --set role="$1" --set database="$2" --set password="$3" <<'SQL'
CREATE ROLE :"role" LOGIN PASSWORD :'password';
CREATE DATABASE :"database" OWNER :"role";
REVOKE ALL ON DATABASE :"database" FROM PUBLIC;
SQL
  echo "service database $2, owned by role $1"
}

service_database gateway clientele_gateway "${GATEWAY_DATABASE_PASSWORD:?}"
service_database customer clientele_customers "${CUSTOMER_DATABASE_PASSWORD:?}"
service_database search clientele_search "${SEARCH_DATABASE_PASSWORD:?}"
service_database analytics clientele_analytics "${ANALYTICS_DATABASE_PASSWORD:?}"
service_database nlp clientele_nlp "${NLP_DATABASE_PASSWORD:?}"
