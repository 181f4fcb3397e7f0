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
# The inlet's C extension (setup.py) is built in place by the editable install: build it again
# when its source changed since (a clean checkout has none; `make clean` removes it).
ext=collector/inlet/_batch.c
so=$(ls collector/inlet/_batch.*.so 2>/dev/null | head -n 1)
if [ -z "$so" ] || [ "$ext" -nt "$so" ] || [ setup.py -nt "$so" ]; then
  echo "building the inlet's C extension (log: .venv/pip-ext.log)"
  if ! .venv/bin/python -m pip install --disable-pip-version-check --no-deps -e . >.venv/pip-ext.log 2>&1; then
    tail -n 30 .venv/pip-ext.log >&2
    echo "building collector/inlet/_batch.c failed (needs gcc and the Python headers: python3-dev); log in .venv/pip-ext.log" >&2
    exit 1
  fi
fi
