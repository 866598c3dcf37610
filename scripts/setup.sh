#!/usr/bin/env bash
# Install what the build and the tests need on a fresh machine of this project's kind
# (Debian with a Rust toolchain). Idempotent and quiet when everything is present.
set -euo pipefail

# libclang: bindgen. tcl: upstream's runtest. pkg-config, make, gcc, binutils (objcopy):
# upstream's build and the transitional link.
packages=(libclang-dev tcl pkg-config make gcc binutils)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd=sudo
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

command -v cargo >/dev/null || { echo "setup: cargo (Rust) is required" >&2; exit 1; }
