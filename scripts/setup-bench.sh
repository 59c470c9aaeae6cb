#!/usr/bin/env bash
# What `make bench` needs beyond the test setup: the comparison side, Python joblib and the
# packages its scripts use, at the versions BENCHMARKS.md was measured with. A machine where they
# cannot be installed still runs every Swift workload; the table says why a joblib figure is missing.
set -euo pipefail
"$(dirname "$0")/setup.sh"

packages=(joblib==1.6.0 numpy==2.4.6 lz4==4.4.5 psutil==7.2.2)
if python3 - "${packages[@]}" <<'PY' 2>/dev/null; then exit 0; fi
import importlib.metadata, sys
for pin in sys.argv[1:]:
    name, version = pin.split("==")
    if importlib.metadata.version(name) != version:
        sys.exit(1)
PY
echo "setup-bench: installing ${packages[*]} for $(command -v python3)"
pip=(python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore)
"${pip[@]}" "${packages[@]}" 2>/dev/null || "${pip[@]}" --break-system-packages "${packages[@]}" \
    || echo "setup-bench: could not install the joblib side; benchmarks run with Swift figures only" >&2
