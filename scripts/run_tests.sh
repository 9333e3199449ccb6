#!/usr/bin/env bash
# Install the test dependencies into .venv and run the whole suite: on SQLite, then on
# PostgreSQL when one is reachable (SYNAPSE_POSTGRES_HOST, SYNAPSE_POSTGRES_USER,
# default 127.0.0.1 and postgres). Extra arguments go to pytest. Safe to re-run.
set -uo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv || exit 1
fi
stamp=.venv/.installed-test-$(cksum pyproject.toml | cut -d' ' -f1)
if [ ! -f "$stamp" ]; then
    .venv/bin/python -m pip install --quiet --upgrade pip || exit 1
    .venv/bin/python -m pip install --quiet -e '.[all,test]' || exit 1
    rm -f .venv/.installed-test-* && touch "$stamp"
fi

export SYNAPSE_POSTGRES_HOST="${SYNAPSE_POSTGRES_HOST:-127.0.0.1}"
export SYNAPSE_POSTGRES_USER="${SYNAPSE_POSTGRES_USER:-postgres}"
workers="${PYTEST_WORKERS:-auto}"
results=$(mktemp -d)
status=0

echo "=== Test suite on SQLite ==="
SYNAPSE_POSTGRES= .venv/bin/python -m pytest -n "$workers" -q --junitxml="$results/sqlite.xml" "$@" || status=1

if .venv/bin/python -c "
import os, psycopg2
psycopg2.connect(host=os.environ['SYNAPSE_POSTGRES_HOST'], user=os.environ['SYNAPSE_POSTGRES_USER'], dbname='postgres', connect_timeout=3).close()
" 2>/dev/null; then
    echo "=== Test suite on PostgreSQL ==="
    SYNAPSE_POSTGRES=1 .venv/bin/python -m pytest -n "$workers" -q --junitxml="$results/postgres.xml" "$@" || status=1
else
    echo "=== PostgreSQL not reachable at $SYNAPSE_POSTGRES_HOST: skipped the PostgreSQL run ==="
fi

.venv/bin/python scripts/summarise_junit.py "$results"/*.xml || status=1
rm -rf "$results"
exit $status
