#!/usr/bin/env bash
# Obtain the bench's peer (Valkey, scripts/peer-version.tsv) as its Debian orig tarball, from
# the OS package registry exactly as fetch-upstream.sh obtains Redis's (the same code,
# scripts/debian-orig.sh: a private apt configuration derived from this machine's Debian
# archive address, the suites in the table tried in turn, only the sha256 trusted), and
# leave it, checksum-verified, at the path given.
# Usage: fetch-peer.sh DEST_TARBALL
# - PEER_TARBALL=/path/to/valkey_<version>.orig.tar.gz uses a local copy instead (offline).
# - Its private apt state is .cache/apt-peer/ (Redis's is .cache/apt/), logs included.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
table=$root/scripts/peer-version.tsv
dest=${1:?usage: fetch-peer.sh DEST_TARBALL}

row=$(awk -F'\t' '$1 !~ /^#/ && NF >= 6 { print; exit }' "$table")
[ -n "$row" ] || { echo "fetch-peer.sh: no peer in $table" >&2; exit 1; }
IFS=$'\t' read -r name version package tarball_name tarball_sha256 suites <<< "$row"
[ "$(basename "$dest")" = "$tarball_name" ] || { echo "fetch-peer.sh: $dest is not named $tarball_name" >&2; exit 1; }

. "$root/scripts/debian-orig.sh"
fetch_debian_orig "$package" "$name $version, the bench's peer" PEER_TARBALL "$tarball_name" \
    "$tarball_sha256" "$suites" "$dest" apt-peer
