#!/usr/bin/env bash
# Obtain the upstream tarball of one Redis release from the OS package registry (the
# Debian `redis` source package of a suite that carries it) and leave it, checksum-verified,
# at the path given as $2.
# Usage: fetch-upstream.sh VERSION DEST_TARBALL
#
# - scripts/redis-versions.tsv names, for each VERSION, the tarball, its sha256 and the
#   Debian suites that carry it; they are tried in that order and only the sha256 is trusted.
# - REDIS_TARBALL=/path/to/redis_<version>.orig.tar.gz uses a local copy instead (offline).
# - The deb-src entry is derived from this machine's own apt configuration: the first
#   Debian archive address it already uses, with the suite changed. It lives in a private
#   apt state folder next to the cache, so the system's apt setup is not touched.
# - Within a suite, `apt-cache showsrc` names the Debian revision whose files include the
#   tarball, and `apt-get source --download-only redis=<revision>` fetches it. That also
#   asks for the revision's .dsc and .debian.tar.xz, which a mirror may no longer carry
#   while the orig tarball still arrives; so its exit status is ignored and the checksum
#   decides.
# - When no reachable suite carries the release any more, it fails with one line naming
#   the tarball and sha256 to supply through REDIS_TARBALL (the apt logs stay in
#   .cache/apt/).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
table=$root/scripts/redis-versions.tsv
version=${1:?usage: fetch-upstream.sh VERSION DEST_TARBALL}
dest=${2:?usage: fetch-upstream.sh VERSION DEST_TARBALL}

row=$(awk -F'\t' -v v="$version" '$1 == v { print; exit }' "$table")
[ -n "$row" ] || { echo "REDIS_VERSION=$version is not in scripts/redis-versions.tsv (supported: $(awk -F'\t' '$1 ~ /^[0-9]/ { printf "%s%s", s, $1; s = " " }' "$table"))" >&2; exit 1; }
IFS=$'\t' read -r _ tarball_name tarball_sha256 suites <<< "$row"
[ "$(basename "$dest")" = "$tarball_name" ] || { echo "fetch-upstream.sh: $dest is not named $tarball_name" >&2; exit 1; }

mkdir -p "$(dirname "$dest")"
cache_dir=$(cd "$(dirname "$dest")" && pwd)
dest="$cache_dir/$tarball_name"

checksum_ok() { echo "$tarball_sha256  $1" | sha256sum --check --status 2>/dev/null; }
give_up() { # one line: what to supply instead
    echo "could not obtain $tarball_name (Redis $version) from $1; download it with sha256 $tarball_sha256 and set REDIS_TARBALL=/path/to/$tarball_name" >&2
    exit 1
}

if checksum_ok "$dest"; then exit 0; fi

if [ -n "${REDIS_TARBALL:-}" ]; then
    checksum_ok "$REDIS_TARBALL" || { echo "REDIS_TARBALL=$REDIS_TARBALL: sha256 is not $tarball_sha256 ($tarball_name, Redis $version)" >&2; exit 1; }
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
[ -n "$uri" ] || give_up "the OS registry (no Debian archive in this machine's apt configuration)"

apt_dir="$cache_dir/apt"
mkdir -p "$apt_dir/lists/partial"
apt_opts=(-o "Dir::Etc::SourceList=$apt_dir/deb-src.sources" -o Dir::Etc::SourceParts=/dev/null
          -o "Dir::State::Lists=$apt_dir/lists" -o APT::Sandbox::User=root)
log="$apt_dir/source.log"
: > "$log"
rm -f "$dest" # a copy that failed the checksum must not stand in for a download
IFS=, read -r -a suite_list <<< "$suites"
for suite in "${suite_list[@]}"; do
    cat > "$apt_dir/deb-src.sources" <<SRC
Types: deb-src
URIs: $uri
Suites: $suite
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    echo "== $suite" >> "$log"
    apt-get "${apt_opts[@]}" -qq update >> "$log" 2>&1 || continue
    # The Debian revisions of `redis` in this suite whose files include the tarball.
    revisions=$(apt-cache "${apt_opts[@]}" showsrc redis 2>> "$log" | awk -v t="$tarball_name" '
        /^Package:/ { pkg = $2 } /^Version:/ { ver = $2 }
        /^$/ { pkg = ""; ver = "" }
        pkg == "redis" && index($0, " " t) { print ver }' | sort -u)
    for revision in $revisions; do
        (cd "$cache_dir" && apt-get "${apt_opts[@]}" -qq source --download-only "redis=$revision") >> "$log" 2>&1 || true
        rm -f "$cache_dir"/redis_*.dsc "$cache_dir"/redis_*.debian.tar.*
        checksum_ok "$dest" && exit 0
        rm -f "$dest"
    done
done
give_up "Debian ${suites//,/ or }"
