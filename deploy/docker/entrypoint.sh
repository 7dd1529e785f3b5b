#!/bin/sh
# The image's entry point: `amss "$@"`, after two conveniences that need no change to AMSS.
#
# 1. Secrets from files. For each variable below, NAME_FILE names a file whose content
#    becomes NAME (Docker and Compose secrets, Kubernetes secret volumes, the `keys`
#    volume of docker-compose.yml), so PEM keys need not travel through the environment
#    of the orchestrator.
# 2. `migrate` connects as the owner role: with DB_MIGRATE_URL set, it becomes DB_URL for
#    that command only, while `server` and `worker` keep the restricted DB_URL (SPEC §10,
#    docs/operations.md "Two database roles").
set -eu

for name in DB_URL DB_MIGRATE_URL REDIS_URL JWT_PRIVATE_KEY_PEM JWT_PUBLIC_KEY_PEM SECRETS_KEY; do
    eval "file=\${${name}_FILE:-}"
    [ -n "$file" ] || continue
    eval "already=\${${name}:-}"
    if [ -n "$already" ]; then
        echo "amss-entrypoint: both $name and ${name}_FILE are set; set one" >&2
        exit 2
    fi
    if [ ! -r "$file" ]; then
        echo "amss-entrypoint: ${name}_FILE: cannot read $file" >&2
        exit 2
    fi
    value=$(cat "$file")
    export "$name=$value"
    unset "${name}_FILE"
done

if [ "${1:-}" = "migrate" ] && [ -n "${DB_MIGRATE_URL:-}" ]; then
    DB_URL=$DB_MIGRATE_URL
    export DB_URL
fi

exec amss "$@"
