#!/usr/bin/env bash
# Creates one virtual environment per BI reader, .venv-readers/<name>/, from tests/readers/<name>.txt
# (pinned and hashed: installed exactly, without re-resolving). tests/test_bi_readers.py runs the
# reader scripts with these environments' pythons, so the tests themselves need no network.
# Idempotent: an environment whose stamp file is newer than its requirements file is skipped.
# Usage, from anywhere: bash tests/readers/make_envs.sh [PYTHON]   (default python3; 3.11+)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
python="${1:-${PYTHON:-python3}}"

for requirements in "$here"/*.txt; do
    name="$(basename "$requirements" .txt)"
    env="$root/.venv-readers/$name"
    stamp="$env/.installed"
    if [[ -f "$stamp" && "$stamp" -nt "$requirements" ]]; then
        continue
    fi
    echo "make_envs: creating .venv-readers/$name from tests/readers/$name.txt"
    rm -rf "$env"
    "$python" -m venv "$env"
    "$env/bin/python" -m pip install --quiet --quiet --disable-pip-version-check \
        --no-deps --require-hashes -r "$requirements"
    touch "$stamp"
done
