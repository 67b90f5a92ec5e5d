#!/usr/bin/env bash
# Build the Corvus test guest (vmlinuz + initramfs.cpio.gz) from Debian
# packages only. See README.md beside this file.
#
#   tests/guest/build.sh [OUTDIR]
#
# OUTDIR defaults to ${CORVUS_GUEST_DIR:-$HOME/.cache/corvus/test-guest}.
# Progress goes to stderr; the output directory is the only thing printed on
# stdout, so callers can do: dir=$(tests/guest/build.sh).
#
# Needs nothing beyond a stock Debian 12 (apt-get, dpkg-deb, coreutils,
# findutils, gzip, flock) and works without root: packages are fetched with
# `apt-get download` and unpacked with `dpkg-deb -x`, never installed. The
# archive is written by the busybox from busybox-static itself (its cpio
# applet can create newc archives), so the host needs no cpio package.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${1:-${CORVUS_GUEST_DIR:-${HOME:?HOME is unset; pass OUTDIR}/.cache/corvus/test-guest}}

# Modules the tests rely on; their dependencies are added automatically.
# button+evdev: the ACPI power button reaches busybox acpid as an input event.
# virtio_scsi+sd_mod: SCSI drives (the hotplug tests attach one live).
modules=(virtio_pci virtio_net virtio_blk virtio_scsi sd_mod virtiofs button evdev pvpanic_mmio)

log() { echo "build.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

hash=$(cat "$here/build.sh" "$here/init" | sha256sum | cut -d' ' -f1)

cached() {
    [[ -f $out/vmlinuz && -f $out/initramfs.cpio.gz && -f $out/stamp ]] &&
        [[ $(head -n1 "$out/stamp") == "$hash" ]]
}

if cached; then echo "$out"; exit 0; fi

mkdir -p "$out"
out=$(cd "$out" && pwd)
# Tests may build concurrently; the second one waits and then hits the cache.
exec 9>"$out/.lock"
flock 9
if cached; then echo "$out"; exit 0; fi

work=$(mktemp -d "${TMPDIR:-/tmp}/corvus-guest.XXXXXX")
trap 'rm -rf "$work"' EXIT

# linux-image-cloud-amd64 is a metapackage; download what it points at today.
resolve_kernel() {
    apt-cache depends linux-image-cloud-amd64 2>/dev/null |
        awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }' || true
}
mkdir "$work/debs"
fetch() {
    log "downloading $kpkg busybox-static"
    rm -f "$work"/debs/*.deb
    # As root, apt would hand the download to the _apt user, which cannot
    # write into our private temp dir; keep it as the invoking user instead.
    (cd "$work/debs" && apt-get download -q -o APT::Sandbox::User="$(id -un)" "$kpkg" busybox-static >&2)
}
kpkg=$(resolve_kernel)
if [[ -z $kpkg ]] || ! fetch; then
    # Empty or stale package lists (a fresh machine, or a kernel the mirror
    # has since dropped). Refreshing them installs nothing, but needs root.
    [[ $(id -u) == 0 ]] || die "cannot fetch the cloud kernel; run 'apt-get update' as root"
    log "refreshing package lists"
    apt-get update -qq >&2
    kpkg=$(resolve_kernel)
    [[ -n $kpkg ]] || die "no linux-image-cloud-amd64 in the package lists"
    fetch
fi
dpkg-deb -x "$work"/debs/linux-image-*.deb "$work/kernel"
dpkg-deb -x "$work"/debs/busybox-static_*.deb "$work/busybox"

bb=$work/busybox/bin/busybox
kver=$(ls "$work/kernel/lib/modules")
moddir=$work/kernel/lib/modules/$kver
[[ -x $bb && -d $moddir ]] || die "unexpected package layout"

root=$work/root
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,mnt,tmp,etc,root,lib/modules}
cp "$work/kernel/boot/vmlinuz-$kver" "$work/vmlinuz"
cp "$bb" "$root/bin/busybox"
while read -r applet; do
    [[ -e $root/$applet ]] || ln -s /bin/busybox "$root/$applet"
done < <("$bb" --list-full)
install -m 0755 "$here/init" "$root/init"

# Module names treat '-' and '_' alike; normalise to '_'.
declare -A builtin=() seen=()
while read -r path; do
    name=${path##*/}; name=${name%%.ko*}; builtin[${name//-/_}]=1
done < "$moddir/modules.builtin"

load_order=()
add_module() {
    local name=${1//-/_} ko deps dep
    [[ -z ${seen[$name]:-} ]] || return 0
    seen[$name]=1
    [[ -z ${builtin[$name]:-} ]] || return 0
    ko=$(find "$moddir/kernel" -name "${name//_/[-_]}.ko*" -print -quit)
    [[ -n $ko ]] || die "module $name is neither built in nor shipped in $kpkg"
    # busybox insmod cannot read compressed modules, so store them plain.
    case $ko in
        *.ko) cp "$ko" "$root/lib/modules/$name.ko" ;;
        *.ko.xz) xz -dc "$ko" >"$root/lib/modules/$name.ko" ;;
        *.ko.zst) zstd -qdc "$ko" >"$root/lib/modules/$name.ko" ;;
        *.ko.gz) gzip -dc "$ko" >"$root/lib/modules/$name.ko" ;;
        *) die "unknown module format: $ko" ;;
    esac
    # The .modinfo section is a run of NUL-terminated key=value strings.
    # (busybox modinfo would need a modules.dep, which the .deb lacks.)
    deps=$(tr '\0' '\n' <"$root/lib/modules/$name.ko" | sed -n 's/^depends=//p')
    for dep in ${deps//,/ }; do add_module "$dep"; done
    load_order+=("$name")
}
for m in "${modules[@]}"; do add_module "$m"; done
printf '%s\n' "${load_order[@]}" >"$root/lib/modules/load.order"
log "kernel $kver, modules: ${load_order[*]}"

# -R 0:0 so the guest sees root-owned files even when built by another user.
(cd "$root" && find . | "$bb" cpio -o -H newc -R 0:0 2>/dev/null) | gzip -9 >"$work/initramfs.cpio.gz"

# Stamp last, so an interrupted build is never mistaken for a cached one.
rm -f "$out/stamp"
mv -f "$work/vmlinuz" "$out/vmlinuz"
mv -f "$work/initramfs.cpio.gz" "$out/initramfs.cpio.gz"
printf '%s\nkernel=%s\nmodules=%s\n' "$hash" "$kpkg" "${load_order[*]}" >"$out/stamp"
log "built $(du -h "$out/vmlinuz" | cut -f1) vmlinuz, $(du -h "$out/initramfs.cpio.gz" | cut -f1) initramfs"
echo "$out"
