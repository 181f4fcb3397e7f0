#!/usr/bin/env bash
# Run molecule scenarios with the settings these machines need, and time each one.
#   scripts/molecule/run.sh [-c COMMAND] SCENARIO...
# SCENARIO is a role name (roles/NAME/molecule/default), ROLE/SCENARIO, full-stack or multi-host
# (ansible/molecule/NAME). COMMAND is a molecule command (default: test).
# Prepares once: .venv-ansible (scripts/install-ansible.sh), the base image (build-image.sh)
# and a wheelhouse with flowweir and its dependencies (.cache/wheelhouse) that the containers
# install from, so that no scenario downloads Python packages.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
command=test
if [ "${1:-}" = "-c" ]; then command=$2; shift 2; fi
[ $# -gt 0 ] || { sed -n '2,8p' "$0" >&2; exit 2; }
"$repo/scripts/install-ansible.sh"
export CONTAINERS_CONF=$here/containers.conf
export PATH=$repo/.venv-ansible/bin:$PATH
export ANSIBLE_ROLES_PATH=$repo/roles
export ANSIBLE_FORCE_COLOR=${ANSIBLE_FORCE_COLOR:-0}
export PY_COLORS=${PY_COLORS:-0}
"$here/build-image.sh"
"$here/build-wheelhouse.sh"
export FLOWWEIR_WHEELHOUSE=$here/.cache/wheelhouse
status=0
summary=()
for scenario in "$@"; do
  case $scenario in
    full-stack|multi-host) dir=$repo/ansible; name=$scenario ;;
    */*) dir=$repo/roles/${scenario%%/*}; name=${scenario#*/} ;;
    *) dir=$repo/roles/$scenario; name=default ;;
  esac
  [ -f "$dir/molecule/$name/molecule.yml" ] || { echo "no molecule scenario $dir/molecule/$name" >&2; exit 2; }
  start=$(date +%s)
  if (cd "$dir" && molecule "$command" -s "$name"); then result=passed; else result=FAILED; status=1; fi
  summary+=("molecule $command $scenario: $result in $(( $(date +%s) - start )) s")
  echo "${summary[-1]}"
done
printf '%s\n' "${summary[@]}"
exit $status
