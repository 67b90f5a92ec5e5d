#!/usr/bin/env bash
# Prints the path of a promtool (Prometheus's own checker of the text
# format), for the /metrics tests: the one on PATH, or one unpacked from
# Debian's prometheus package into a cache, never installed.
#
#   tests/tools/promtool.sh
#
# Why not `apt-get install prometheus` in scripts/deps: on a machine with
# systemd, installing the package enables and starts a Prometheus server
# listening on every interface. `apt-get download` + `dpkg-deb -x` (as
# tests/guest/build.sh does for the guest's kernel) needs no root and
# starts nothing. Cached in ${CORVUS_TOOLS_DIR:-$HOME/.cache/corvus/tools}.
set -euo pipefail

if found=$(command -v promtool); then echo "$found"; exit 0; fi
out=${CORVUS_TOOLS_DIR:-${HOME:?HOME is unset}/.cache/corvus/tools}
log() { echo "promtool.sh: $*" >&2; }

if [[ -x $out/promtool ]]; then echo "$out/promtool"; exit 0; fi
mkdir -p "$out"
out=$(cd "$out" && pwd)
# Tests may ask concurrently; the second waits and then finds it.
exec 9>"$out/.lock"
flock 9
if [[ -x $out/promtool ]]; then echo "$out/promtool"; exit 0; fi

work=$(mktemp -d "${TMPDIR:-/tmp}/corvus-promtool.XXXXXX")
trap 'rm -rf "$work"' EXIT
fetch() {
    log "downloading Debian's prometheus package for its promtool"
    # As root, apt would hand the download to the _apt user, which cannot
    # write into our private temp dir; keep it as the invoking user instead.
    (cd "$work" && apt-get download -q -o APT::Sandbox::User="$(id -un)" prometheus >&2)
}
if ! fetch; then
    [[ $(id -u) == 0 ]] || { log "error: cannot download prometheus; run 'apt-get update' as root"; exit 1; }
    log "refreshing package lists"
    apt-get update -qq >&2
    fetch
fi
dpkg-deb -x "$work"/prometheus_*.deb "$work/root"
install -m 0755 "$work/root/usr/bin/promtool" "$out/promtool"
echo "$out/promtool"
