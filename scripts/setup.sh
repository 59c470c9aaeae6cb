#!/usr/bin/env bash
# Installs what building and testing swift-joblib needs on a fresh Debian machine:
# the C libraries' -dev packages (and, as later parts need them, Python packages).
# As root it installs; otherwise it prints the one command to run and fails.
set -euo pipefail

apt_packages=(zlib1g-dev libbz2-dev liblzma-dev liblz4-dev libzstd-dev libxxhash-dev)

missing=()
for package in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done

if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ]; then
        echo "setup: installing ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        echo "setup: missing system packages. Run:" >&2
        echo "    sudo apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
fi

# numpy: the persistence tests check .npy interchange against the real thing.
if ! python3 -c 'import numpy' 2>/dev/null; then
    if [ "$(id -u)" -eq 0 ]; then
        echo "setup: installing numpy"
        python3 -m pip install -q numpy 2>/dev/null \
            || python3 -m pip install -q --break-system-packages numpy 2>/dev/null \
            || (apt-get install -y -qq python3-numpy >/dev/null)
    else
        echo "setup: numpy is missing. Run:" >&2
        echo "    python3 -m pip install numpy" >&2
        exit 1
    fi
fi
