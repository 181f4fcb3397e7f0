#!/usr/bin/env bash
# Build the Debian 12 + systemd base image the molecule scenarios run in, from Debian packages
# (debootstrap + podman import; no registry needed). Cached: does nothing when the image exists
# and this script has not changed since it was built; --force rebuilds.
#   scripts/molecule/build-image.sh [--force]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
image=${FLOWWEIR_MOLECULE_IMAGE:-localhost/flowweir-molecule-debian12:latest}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
export CONTAINERS_CONF=${CONTAINERS_CONF:-$here/containers.conf}
stamp=$(sha256sum "$0" | cut -c1-16)
if [ "${1:-}" != "--force" ] &&
   [ "$(podman image inspect --format '{{ index .Labels "flowweir.recipe" }}' "$image" 2>/dev/null)" = "$stamp" ]; then
  exit 0
fi
[ "$(id -u)" = 0 ] || { echo "build-image.sh needs root (debootstrap)" >&2; exit 1; }
command -v debootstrap >/dev/null || { echo "debootstrap missing: run scripts/install-ansible.sh" >&2; exit 1; }
root=$(mktemp -d /var/tmp/flowweir-rootfs.XXXXXX)
trap 'rm -rf "$root"' EXIT
echo "building $image with debootstrap (about 2 minutes)"
# What every scenario needs before Ansible runs: systemd as PID 1, python3 for the modules,
# python3-apt for the apt module, sudo/become, ca-certificates for PyPI.
debootstrap --variant=minbase \
  --include=systemd,systemd-sysv,dbus,python3,python3-apt,sudo,ca-certificates,iproute2,procps,gnupg \
  bookworm "$root" "$mirror" >/var/tmp/flowweir-debootstrap.log 2>&1 ||
  { tail -n 20 /var/tmp/flowweir-debootstrap.log >&2; exit 1; }
# Units that make no sense in a container and slow boot down or fail there.
for unit in systemd-udevd.service systemd-udev-trigger.service systemd-remount-fs.service \
            getty.target console-getty.service systemd-logind.service; do
  ln -sf /dev/null "$root/etc/systemd/system/$unit"
done
echo 'APT::Install-Recommends "0";' >"$root/etc/apt/apt.conf.d/90flowweir-no-recommends"
chroot "$root" apt-get update -qq
chroot "$root" apt-get clean
: >"$root/etc/machine-id"
tar -C "$root" -c . | podman import \
  --change 'CMD ["/lib/systemd/systemd"]' --change 'ENV container=podman' \
  --change 'STOPSIGNAL SIGRTMIN+3' --change "LABEL flowweir.recipe=$stamp" \
  - "$image" >/dev/null
echo "built $image"
