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
# The fetch itself is scripts/debian-orig.sh's, shared with fetch-peer.sh (the bench's peer).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
table=$root/scripts/redis-versions.tsv
version=${1:?usage: fetch-upstream.sh VERSION DEST_TARBALL}
dest=${2:?usage: fetch-upstream.sh VERSION DEST_TARBALL}

row=$(awk -F'\t' -v v="$version" '$1 == v { print; exit }' "$table")
[ -n "$row" ] || { echo "REDIS_VERSION=$version is not in scripts/redis-versions.tsv (supported: $(awk -F'\t' '$1 ~ /^[0-9]/ { printf "%s%s", s, $1; s = " " }' "$table"))" >&2; exit 1; }
IFS=$'\t' read -r _ tarball_name tarball_sha256 suites <<< "$row"
[ "$(basename "$dest")" = "$tarball_name" ] || { echo "fetch-upstream.sh: $dest is not named $tarball_name" >&2; exit 1; }

. "$root/scripts/debian-orig.sh"
fetch_debian_orig redis "Redis $version" REDIS_TARBALL "$tarball_name" "$tarball_sha256" "$suites" "$dest" apt
