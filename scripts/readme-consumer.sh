#!/usr/bin/env bash
# A user's package made of the README's Package.swift exactly as written, beside a folder named
# swift-joblib (a link to this checkout, whose own folder may be called anything: the README's
# `name: "swift-joblib"` is what makes that work). Builds it and runs its program, which uses
# the public API through `import Joblib` alone (Tests/ReadmeConsumer/main.swift).
#
#   scripts/readme-consumer.sh SCRATCH [swift build options…]
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
scratch=$repo/${1:?usage: scripts/readme-consumer.sh SCRATCH [swift build options]}
shift

# The same folder for a checkout on every run, so that SCRATCH keeps its build.
root="${TMPDIR:-/tmp}/swift-joblib-readme-$(printf %s "$repo" | cksum | cut -d' ' -f1)"
rm -rf "$root"
mkdir -p "$root/App/Sources/App"
ln -s "$repo" "$root/swift-joblib"
cp Tests/ReadmeConsumer/main.swift "$root/App/Sources/App/main.swift"

# The first ```swift block after the marker line in README.md, verbatim.
python3 - README.md "$root/App/Package.swift" <<'PY'
import re, sys
readme = open(sys.argv[1]).read()
marker = "<!-- readme-consumer:"
at = readme.find(marker)
block = re.search(r"```swift\n(.*?)```", readme[at:], re.S) if at >= 0 else None
if block is None or "// swift-tools-version" not in block.group(1):
    sys.exit("readme-consumer: README.md has no Package.swift block after the line '<!-- readme-consumer: … -->'")
open(sys.argv[2], "w").write(block.group(1))
PY

echo "readme-consumer: building the README's Package.swift in $root/App $*"
"${SWIFT:-swift}" build --package-path "$root/App" --scratch-path "$scratch" "$@"
"$scratch/debug/App"
rm -rf "$root"
