#!/usr/bin/env bash
# Set up a virtualenv, write a config for server name "localhost" if there is none,
# and run the homeserver on 127.0.0.1:8008 with SQLite. Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
stamp=.venv/.installed-$(cksum pyproject.toml | cut -d' ' -f1)
if [ ! -f "$stamp" ]; then
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -e '.[all]'
    rm -f .venv/.installed-* && touch "$stamp"
fi

if [ ! -f homeserver.yaml ]; then
    .venv/bin/python -m synapse.app.homeserver \
        --server-name localhost \
        --config-path homeserver.yaml \
        --generate-config \
        --report-stats=no
    # A development server: let clients register without e-mail verification.
    cat >> homeserver.yaml <<'YAML'

# Added for local development by scripts/run_dev_homeserver.sh.
enable_registration: true
enable_registration_without_verification: true
YAML
fi

exec .venv/bin/python -m synapse.app.homeserver --config-path homeserver.yaml
