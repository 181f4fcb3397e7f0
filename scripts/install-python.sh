#!/usr/bin/env bash
# Create .venv (Python >= 3.11) and install flowweir with its dev extras. Idempotent:
# reinstalls only when pyproject.toml changed.
set -euo pipefail
cd "$(dirname "$0")/.."
py=""
for candidate in python3.11 python3 python3.12 python3.13; do
  if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    py=$(command -v "$candidate"); break
  fi
done
[ -n "$py" ] || { echo "flowweir needs Python >= 3.11 (apt-get install python3)" >&2; exit 1; }
[ -x .venv/bin/python ] || "$py" -m venv .venv
stamp=.venv/.flowweir-installed
if [ ! -f "$stamp" ] || ! cmp -s pyproject.toml "$stamp"; then
  echo "installing Python dependencies into .venv (log: .venv/pip.log)"
  if ! { .venv/bin/python -m pip install --disable-pip-version-check -U pip &&
         .venv/bin/python -m pip install --disable-pip-version-check -e '.[dev]'; } >.venv/pip.log 2>&1; then
    tail -n 30 .venv/pip.log >&2
    echo "pip install failed; full log in .venv/pip.log" >&2
    exit 1
  fi
  cp pyproject.toml "$stamp"
fi
