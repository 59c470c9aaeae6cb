#!/usr/bin/env bash
# The documentation site: every module behind `import Joblib` and the articles of
# Sources/Joblib/Joblib.docc, as one static site (DocC combined documentation).
#
#   scripts/docs.sh build   writes the site to .build/docs-site; fails on any DocC warning
#   scripts/docs.sh check   build, then open pages in headless Chromium and check what they show
#
# The modules are the umbrella and the targets it depends on (read from `swift package
# describe`), so a module added to the umbrella is documented without touching this script.
set -euo pipefail
cd "$(dirname "$0")/.."

site=.build/docs-site
log=.build/docs-build.log
action=${1:-build}

modules() {
    swift package describe --type json 2>/dev/null | python3 -c '
import json, sys
targets = {t["name"]: t for t in json.load(sys.stdin)["targets"]}
print("Joblib", *targets["Joblib"]["target_dependencies"])'
}

build() {
    local names arguments=()
    names=$(modules)
    for name in $names; do arguments+=(--target "$name"); done
    mkdir -p .build
    echo "docs: building the documentation of $names"
    local status=0
    # DocC's combined documentation: each module is built with links into the modules it depends
    # on, then all are merged into one archive with a landing page that lists every module.
    swift package --disable-sandbox generate-documentation \
        --enable-experimental-combined-documentation \
        "${arguments[@]}" \
        --transform-for-static-hosting \
        --output-path "$PWD/$site" >"$log" 2>&1 || status=$?
    # DocC prints a diagnostic as `warning: …` (or `error: …`) followed by the place and the
    # source lines around it; the plugin prints its own warnings as `warning: …` too.
    local count
    count=$(grep -cE '^(warning|error): ' "$log" || true)
    if [ "$status" -ne 0 ] || [ "$count" -ne 0 ] || [ ! -f "$site/index.html" ]; then
        awk '/^(warning|error): /{show=1} /^(Building|Finished|Extracting|Generated|Generating)/{show=0} show' "$log"
        echo
        echo "docs: FAILED: $count DocC warning(s) or error(s), exit status $status (full log: $log)."
        echo "  A link to another module's symbol starts with a slash and the module: \`\`/JoblibParallel/Parallel\`\`."
        echo "  Overloads that differ only by async take the suffix DocC suggests above: \`\`Parallel/run(_:)-7o14y\`\`."
        exit 1
    fi
    echo "docs: no warnings; the site is in $site"
    echo "  to browse it: python3 -m http.server --bind 127.0.0.1 --directory $site 8000,"
    echo "  then open http://127.0.0.1:8000/documentation/"
}

case "$action" in
build) build ;;
check)
    build
    # shellcheck disable=SC2046
    python3 scripts/check_docs_site.py "$site" $(modules)
    ;;
*)
    echo "usage: scripts/docs.sh [build|check]" >&2
    exit 2
    ;;
esac
