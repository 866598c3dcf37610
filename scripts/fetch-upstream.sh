#!/usr/bin/env bash
# Obtain redis_8.0.2.orig.tar.gz from the OS package registry (Debian trixie's `redis`
# source package) and leave it, checksum-verified, at the path given as $1.
#
# - REDIS_TARBALL=/path/to/redis_8.0.2.orig.tar.gz uses a local copy instead.
# - The deb-src entry is derived from this machine's own apt configuration: the first
#   Debian archive address it already uses, with the suite changed to trixie. It lives in a
#   private apt state folder next to the cache, so the system's apt setup is not touched.
# - `apt-get source --download-only` also asks for the Debian revision's .dsc and
#   .debian.tar.xz, which a mirror may no longer carry while the orig tarball still
#   arrives; so its exit status is ignored and the checksum decides.
set -euo pipefail

readonly TARBALL_NAME=redis_8.0.2.orig.tar.gz
readonly TARBALL_SHA256=caf3c0069f06fc84c5153bd2a348b204c578de80490c73857bee01d9b5d7401f
readonly SUITE=trixie

dest=${1:?usage: fetch-upstream.sh DEST_TARBALL}
mkdir -p "$(dirname "$dest")"
cache_dir=$(cd "$(dirname "$dest")" && pwd)
dest="$cache_dir/$(basename "$dest")"

checksum_ok() { echo "$TARBALL_SHA256  $1" | sha256sum --check --status 2>/dev/null; }

if checksum_ok "$dest"; then exit 0; fi

if [ -n "${REDIS_TARBALL:-}" ]; then
    checksum_ok "$REDIS_TARBALL" || { echo "REDIS_TARBALL=$REDIS_TARBALL: sha256 is not $TARBALL_SHA256" >&2; exit 1; }
    cp "$REDIS_TARBALL" "$dest"
    exit 0
fi

archive_uri() {
    # deb822 sources first, then one-line sources; the first Debian archive wins.
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk 'tolower($1)=="uris:" { for (i = 2; i <= NF; i++) if ($i ~ /\/debian\/?$/) { print $i; exit } }' "$f"
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        awk '$1=="deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\/.*\/debian\/?$/) { print $i; exit } }' "$f"
    done
}
uri=$(archive_uri | head -n 1)
[ -n "$uri" ] || { echo "no Debian archive found in this machine's apt configuration; set REDIS_TARBALL" >&2; exit 1; }

apt_dir="$cache_dir/apt"
mkdir -p "$apt_dir/lists/partial"
cat > "$apt_dir/deb-src.sources" <<SRC
Types: deb-src
URIs: $uri
Suites: $SUITE
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
apt_opts=(-o "Dir::Etc::SourceList=$apt_dir/deb-src.sources" -o Dir::Etc::SourceParts=/dev/null
          -o "Dir::State::Lists=$apt_dir/lists" -o APT::Sandbox::User=root)
apt-get "${apt_opts[@]}" -qq update
(cd "$cache_dir" && apt-get "${apt_opts[@]}" -qq source --download-only redis) >"$apt_dir/source.log" 2>&1 || true

checksum_ok "$dest" || { cat "$apt_dir/source.log" >&2; echo "could not obtain $TARBALL_NAME with sha256 $TARBALL_SHA256 from $SUITE's redis source package" >&2; exit 1; }
rm -f "$cache_dir"/redis_*.dsc "$cache_dir"/redis_*.debian.tar.*
