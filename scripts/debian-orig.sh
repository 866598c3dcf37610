# Sourced by fetch-upstream.sh (Redis) and fetch-peer.sh (Valkey, the bench's peer): obtain
# one Debian orig tarball from the OS package registry, checksum-verified.
#
# fetch_debian_orig PACKAGE LABEL OVERRIDE_VAR TARBALL SHA256 SUITES DEST APT_DIR_NAME
#   PACKAGE       the Debian source package (redis, valkey)
#   LABEL         what the messages call it ("Redis 8.0.6")
#   OVERRIDE_VAR  the variable naming a local copy to use instead (REDIS_TARBALL)
#   TARBALL       the orig tarball's file name; SHA256 its sha256, the only thing trusted
#   SUITES        comma-separated Debian suites, tried in this order
#   DEST          where the verified tarball goes (its directory is the cache)
#   APT_DIR_NAME  the private apt state folder, next to DEST (one per package, so two
#                 fetches never share one's sources and lists)
#
# - A DEST that already passes the checksum is kept; one that fails it is removed first.
# - $OVERRIDE_VAR=/path/to/TARBALL uses a local copy instead (offline).
# - The deb-src entry is derived from this machine's own apt configuration: the first
#   Debian archive address it already uses, with the suite changed. It lives in a private
#   apt state folder next to the cache, so the system's apt setup is not touched.
# - Within a suite, `apt-cache showsrc` names the Debian revision whose files include the
#   tarball, and `apt-get source --download-only PACKAGE=<revision>` fetches it. That also
#   asks for the revision's .dsc and .debian.tar.xz, which a mirror may no longer carry
#   while the orig tarball still arrives; so its exit status is ignored and the checksum
#   decides.
# - When no reachable suite carries it any more, it fails with one line naming the tarball
#   and sha256 to supply through $OVERRIDE_VAR (the apt logs stay in the apt folder).

debian_archive_uri() {
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

fetch_debian_orig() {
    local package=$1 label=$2 override_var=$3 tarball_name=$4 tarball_sha256=$5 suites=$6
    local dest=$7 apt_name=$8
    local override=${!override_var:-}

    mkdir -p "$(dirname "$dest")"
    local cache_dir
    cache_dir=$(cd "$(dirname "$dest")" && pwd)
    dest="$cache_dir/$tarball_name"

    checksum_ok() { echo "$tarball_sha256  $1" | sha256sum --check --status 2>/dev/null; }
    give_up() { # one line: what to supply instead
        echo "could not obtain $tarball_name ($label) from $1; download it with sha256 $tarball_sha256 and set $override_var=/path/to/$tarball_name" >&2
        exit 1
    }

    if checksum_ok "$dest"; then return 0; fi

    if [ -n "$override" ]; then
        checksum_ok "$override" || { echo "$override_var=$override: sha256 is not $tarball_sha256 ($tarball_name, $label)" >&2; exit 1; }
        cp "$override" "$dest"
        return 0
    fi

    local uri
    uri=$(debian_archive_uri | head -n 1)
    [ -n "$uri" ] || give_up "the OS registry (no Debian archive in this machine's apt configuration)"

    local apt_dir="$cache_dir/$apt_name"
    mkdir -p "$apt_dir/lists/partial"
    local apt_opts=(-o "Dir::Etc::SourceList=$apt_dir/deb-src.sources" -o Dir::Etc::SourceParts=/dev/null
                    -o "Dir::State::Lists=$apt_dir/lists" -o APT::Sandbox::User=root)
    local log="$apt_dir/source.log"
    : > "$log"
    rm -f "$dest" # a copy that failed the checksum must not stand in for a download
    local suite_list suite revisions revision
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
        # The Debian revisions of the package in this suite whose files include the tarball.
        revisions=$(apt-cache "${apt_opts[@]}" showsrc "$package" 2>> "$log" | awk -v t="$tarball_name" -v p="$package" '
            /^Package:/ { pkg = $2 } /^Version:/ { ver = $2 }
            /^$/ { pkg = ""; ver = "" }
            pkg == p && index($0, " " t) { print ver }' | sort -u)
        for revision in $revisions; do
            (cd "$cache_dir" && apt-get "${apt_opts[@]}" -qq source --download-only "$package=$revision") >> "$log" 2>&1 || true
            rm -f "$cache_dir/${package}"_*.dsc "$cache_dir/${package}"_*.debian.tar.*
            checksum_ok "$dest" && return 0
            rm -f "$dest"
        done
    done
    give_up "Debian ${suites//,/ or }"
}
