#!/usr/bin/env bash
# Installs what building and testing swift-joblib needs on a fresh Debian machine:
# the C libraries' -dev packages, Dask and Ray for the remote backends' tests, and Chromium (headless) for
# the documentation check, which opens the built site as a reader would.
# As root it installs; otherwise it prints the one command to run and fails.
set -euo pipefail

apt_packages=(zlib1g-dev libbz2-dev liblzma-dev liblz4-dev libzstd-dev libxxhash-dev chromium)

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

# The Dask backend's tests start a real scheduler and workers: Python 3 with dask.distributed at the
# version the bridge is tested with (Sources/JoblibDask/DaskBackend.swift, DaskSettings.pinnedVersion).
dask_version=2026.8.0
if ! command -v python3 >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ]; then
        echo "setup: installing python3"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq python3 python3-pip >/dev/null
    else
        echo "setup: python3 is missing. Run:" >&2
        echo "    sudo apt-get install -y python3 python3-pip" >&2
        exit 1
    fi
fi
if ! python3 -m pip --version >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
    echo "setup: installing python3-pip"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq python3-pip >/dev/null
fi
if ! python3 -c "import distributed, sys; sys.exit(distributed.__version__ != '$dask_version')" 2>/dev/null; then
    echo "setup: installing dask[distributed]==$dask_version for $(command -v python3)"
    # Debian's own python3 refuses system-wide pip installs (PEP 668) unless told otherwise.
    python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
        "dask[distributed]==$dask_version" "distributed==$dask_version" \
        || python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --break-system-packages \
            "dask[distributed]==$dask_version" "distributed==$dask_version"
fi

# The Ray backend's tests start a real Ray head and a second node: `ray` at the version the bridge
# is tested with (Sources/JoblibRay/RayBackend.swift, RaySettings.pinnedVersion). The plain package
# has `ray start` and everything the bridge uses; `ray[default]` (dashboard, runtime_env agents) is
# for users' clusters, not needed here.
ray_version=2.60.0
if ! python3 -c "import ray, sys; sys.exit(ray.__version__ != '$ray_version')" 2>/dev/null; then
    echo "setup: installing ray==$ray_version for $(command -v python3)"
    python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore "ray==$ray_version" \
        || python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --break-system-packages \
            "ray==$ray_version"
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

# Python's joblib, scikit-learn and lz4: the JoblibPickle tests read files that Python's
# joblib.dump writes (every compression, lz4 included, and fitted scikit-learn models) and check
# that joblib.load reads what Swift writes.
pickle_packages=("joblib==1.6.0" "scikit-learn==1.9.1" "lz4==4.4.5")
if ! python3 -c 'import joblib, sklearn, lz4, sys; sys.exit(joblib.__version__ != "1.6.0" or sklearn.__version__ != "1.9.1" or lz4.__version__ != "4.4.5")' 2>/dev/null; then
    echo "setup: installing ${pickle_packages[*]} for $(command -v python3)"
    python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore "${pickle_packages[@]}" \
        || python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --break-system-packages \
            "${pickle_packages[@]}"
fi
