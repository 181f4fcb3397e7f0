#!/usr/bin/env bash
# Install the Debian packages listed in scripts/apt-packages.txt (only the missing ones),
# and give bcc kernel headers when the running kernel ships none. Idempotent.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
mapfile -t wanted < <(sed -e 's/#.*//' -e '/^\s*$/d' "$here/apt-packages.txt" | awk '{print $1}')
missing=()
for p in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing Debian packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# bcc compiles against /lib/modules/$(uname -r)/build; link Debian's generic cloud headers
# when the running kernel (here a custom one) has none. The eBPF program uses only
# stable UAPI definitions, so headers of another 6.x kernel are fine.
kdir="/lib/modules/$(uname -r)"
if [ ! -e "$kdir/build/include" ] && [ "$(id -u)" -eq 0 ]; then
  arch=$(ls -d /usr/src/linux-headers-*-cloud-amd64 2>/dev/null | sort -V | tail -n1 || true)
  common=$(ls -d /usr/src/linux-headers-*-common 2>/dev/null | sort -V | tail -n1 || true)
  if [ -n "$arch" ] && [ -n "$common" ]; then
    mkdir -p "$kdir"
    ln -sfn "$arch" "$kdir/build"
    ln -sfn "$common" "$kdir/source"
    echo "linked kernel headers for bcc: $kdir/build -> $arch"
  fi
fi
