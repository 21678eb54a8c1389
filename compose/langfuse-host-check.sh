#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
#
# One-shot check of the `langfuse` profile of docker-compose.yml. The profile starts a local Langfuse, but only
# LANGFUSE_HOST makes the collector send traces to it: with LANGFUSE_HOST empty every span is dropped without a
# sign. This exits 1 then, so `docker compose --profile langfuse up` prints
#   WARN optional dependency "langfuse-host-check" didn't complete successfully: exit 1
# and Langfuse starts anyway (langfuse-web depends on this check with `required: false`); the log below says the fix.
#
# Env: LANGFUSE_HOST.
set -eu

host="${LANGFUSE_HOST:-}"
if [ -z "$host" ]; then
    echo "langfuse-host-check: LANGFUSE_HOST is empty, so no trace reaches this Langfuse (the collector drops them)." >&2
    echo "langfuse-host-check: Fix: set LANGFUSE_HOST=http://langfuse-web:3000 in .env, then docker compose up -d" >&2
    exit 1
fi
echo "langfuse-host-check: traces go to $host"
