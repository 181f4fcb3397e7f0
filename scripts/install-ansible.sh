#!/usr/bin/env bash
# Create .venv-ansible with the Ansible tooling (ansible with its collections, ansible-lint,
# molecule + podman driver) and the Debian packages molecule needs (podman, runc, debootstrap).
# Separate from .venv so that the tooling's pins never fight flowweir's. Idempotent: reinstalls
# only when scripts/ansible-requirements.txt changed.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
for cmd in podman runc debootstrap; do command -v "$cmd" >/dev/null || need+=("$cmd"); done
command -v vagrant >/dev/null || need+=(vagrant)
command -v ruby >/dev/null || need+=(ruby)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "installing Debian packages: ${need[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" uidmap slirp4netns fuse-overlayfs >/dev/null ||
      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" uidmap slirp4netns fuse-overlayfs >/dev/null; }
  else
    echo "missing Debian packages (install as root): ${need[*]}" >&2
  fi
fi
py=""
for candidate in python3.11 python3 python3.12 python3.13; do
  if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    py=$(command -v "$candidate"); break
  fi
done
[ -n "$py" ] || { echo "the Ansible tooling needs Python >= 3.11 (apt-get install python3)" >&2; exit 1; }
[ -x .venv-ansible/bin/python ] || "$py" -m venv .venv-ansible
stamp=.venv-ansible/.installed
req=scripts/ansible-requirements.txt
if [ ! -f "$stamp" ] || ! cmp -s "$req" "$stamp"; then
  echo "installing Ansible tooling into .venv-ansible (log: .venv-ansible/pip.log)"
  if ! { .venv-ansible/bin/python -m pip install --disable-pip-version-check -U pip &&
         .venv-ansible/bin/python -m pip install --disable-pip-version-check -r "$req"; } >.venv-ansible/pip.log 2>&1; then
    tail -n 30 .venv-ansible/pip.log >&2
    echo "pip install failed; full log in .venv-ansible/pip.log" >&2
    exit 1
  fi
  cp "$req" "$stamp"
fi
