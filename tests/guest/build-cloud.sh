#!/usr/bin/env bash
# Build the Corvus cloud test guest: a Debian 12 root filesystem image with
# systemd, cloud-init, openssh-server, qemu-guest-agent and dbus, plus its
# kernel and initrd for direct boot. Debian packages only (mmdebstrap); no
# image is downloaded. See README.md beside this file.
#
#   tests/guest/build-cloud.sh [OUTDIR]
#
# OUTDIR defaults to ${CORVUS_CLOUD_GUEST_DIR:-$HOME/.cache/corvus/cloud-guest}.
# It receives root.img (raw ext4, the whole disk is the filesystem: boot it
# with root=/dev/vda), vmlinuz and initrd.img. Progress goes to stderr; the
# output directory is the only thing printed on stdout:
#   dir=$(tests/guest/build-cloud.sh)
#
# Needs root (mmdebstrap's root mode runs the packages' scripts in a chroot
# and mke2fs -d keeps the files' owners) and the mmdebstrap package.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${1:-${CORVUS_CLOUD_GUEST_DIR:-${HOME:?HOME is unset; pass OUTDIR}/.cache/corvus/cloud-guest}}
suite=bookworm
size=2G

# sudo: every distribution's cloud image has it, and Corvus's user gets
# passwordless sudo through it. Without dbus, qemu-ga's guest-shutdown fails (systemctl cannot reach
# logind); ifupdown and isc-dhcp-client are what cloud-init's Debian
# renderer (eni) writes for.
packages=(
    systemd systemd-sysv dbus udev
    cloud-init openssh-server qemu-guest-agent sudo
    ifupdown isc-dhcp-client iproute2
    linux-image-cloud-amd64 initramfs-tools
)

log() { echo "build-cloud.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

hash=$( (cat "$here/build-cloud.sh"; printf '%s\n' "${packages[@]}") | sha256sum | cut -d' ' -f1)

cached() {
    [[ -f $out/root.img && -f $out/vmlinuz && -f $out/initrd.img && -f $out/stamp ]] &&
        [[ $(head -n1 "$out/stamp") == "$hash" ]]
}

if cached; then echo "$out"; exit 0; fi

[[ $(id -u) == 0 ]] || die "needs root (mmdebstrap's root mode and mke2fs -d keep file owners)"
command -v mmdebstrap >/dev/null || die "mmdebstrap is missing; run scripts/deps (or apt-get install mmdebstrap)"
command -v mke2fs >/dev/null || die "mke2fs is missing (apt-get install e2fsprogs)"

mkdir -p "$out"
out=$(cd "$out" && pwd)
# Tests may build concurrently; the second one waits and then hits the cache.
exec 9>"$out/.lock"
flock 9
if cached; then echo "$out"; exit 0; fi

work=$(mktemp -d "${TMPDIR:-/var/tmp}/corvus-cloud-guest.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/root

log "mmdebstrap $suite: ${packages[*]} (a few minutes, about 150 MB of packages)"
mmdebstrap --mode=root --variant=minbase \
    --include="$(IFS=,; echo "${packages[*]}")" \
    --aptopt='APT::Install-Recommends "false"' \
    --customize-hook='echo corvus-cloud >"$1/etc/hostname"' \
    --customize-hook='printf "/dev/vda / ext4 defaults,discard 0 1\n" >"$1/etc/fstab"' \
    --customize-hook='printf "auto lo\niface lo inet loopback\nsource /etc/network/interfaces.d/*\n" >"$1/etc/network/interfaces"' \
    --customize-hook='printf "datasource_list: [ NoCloud, None ]\n" >"$1/etc/cloud/cloud.cfg.d/90_corvus.cfg"' \
    --customize-hook='rm -f "$1"/etc/ssh/ssh_host_*' \
    --customize-hook=': >"$1/etc/machine-id"' \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin' \
    "$suite" "$root" >&2

kernel=$(ls "$root"/boot/vmlinuz-* | head -n1)
initrd=$(ls "$root"/boot/initrd.img-* | head -n1)
[[ -f $kernel && -f $initrd ]] || die "the kernel or its initrd is missing from the root filesystem"
cp "$kernel" "$work/vmlinuz"
cp "$initrd" "$work/initrd.img"

log "writing a $size ext4 image"
mke2fs -q -t ext4 -L corvus-root -d "$root" -F "$work/root.img" "$size" >&2

# Stamp last, so an interrupted build is never mistaken for a cached one.
rm -f "$out/stamp"
mv -f "$work/root.img" "$out/root.img"
mv -f "$work/vmlinuz" "$out/vmlinuz"
mv -f "$work/initrd.img" "$out/initrd.img"
printf '%s\nkernel=%s\n' "$hash" "${kernel##*/}" >"$out/stamp"
log "built $(du -h "$out/root.img" | cut -f1) root.img (sparse), ${kernel##*/}"
echo "$out"
