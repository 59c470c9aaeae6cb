#!/usr/bin/env python3
"""Opens the documentation site in headless Chromium, as a reader would, and checks what it shows.

usage: check_docs_site.py SITE MODULE...

Serves SITE on 127.0.0.1 (a DocC site is a single-page app that fetches its pages' JSON, which
file:// does not allow), lets Chromium run the page's JavaScript, and reads the text of the
rendered page (`--dump-dom`). Each check names the page and the text it expected, so a failure
says what a reader would miss.
"""
import functools
import html
import http.server
import re
import shutil
import subprocess
import sys
import threading

# (page, texts that must be on it once rendered). Titles and group names come from the catalogs
# (Sources/*/…docc); change them together.
PAGES = [
    # The landing page: every module (added below) with the abstract of its catalog.
    ("/documentation/", ["swift-joblib", "Package", "Parallel loops: run independent tasks",
                         "A disk cache for expensive function calls"]),
    ("/documentation/joblib", [
        "Parallel loops, a disk cache for expensive calls",  # the abstract of Joblib.md
        "Getting Started", "Coming from joblib", "Choosing a Backend", "Caching Function Calls",
        "Saving Models and Arrays", "Running on a Dask Cluster", "Implementing a Backend",
        "Parallel", "Memory", "NDArray", "func dump(", "func load<T>(", "JoblibParallel", "JoblibTypes",
    ]),
    ("/documentation/joblib/comingfromjoblib", ["Coming from joblib", "n_jobs", "parallel_config",
                                                "withParallelConfiguration", "return_as"]),
    ("/documentation/joblibparallel/parallel", [
        "Structure", "Parallel", "Runs many independent tasks", "init(jobs: WorkerCount?",
        "Blocking calls", "Calls from async code", "func map<Input, Output>", "func run<Task>",
        "func results<Task>", "func stream<Task>",
    ]),
]

NOT_FOUND = "The page you\u2019re looking for can\u2019t be found"


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def find_chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    sys.exit("check-docs: no Chromium found; scripts/setup.sh installs Debian's `chromium` package")


def rendered_text(browser, url):
    """The visible text of `url` after its scripts ran, with whitespace collapsed."""
    command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
               "--no-first-run", "--virtual-time-budget=15000", "--dump-dom", url]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        sys.exit(f"check-docs: Chromium failed on {url} (status {result.returncode}):\n{result.stderr[-2000:]}")
    dom = result.stdout
    # The page's own content, not the navigator beside it (which lists names on every page).
    start = dom.rfind("<", 0, dom.find("documentation-hero"))
    if start < 0:
        return ""
    dom = dom[start:]
    dom = re.sub(r"<(script|style|noscript|svg)\b.*?</\1>", " ", dom, flags=re.S)
    # Inline tags (DocC breaks names with <wbr> and highlights code in spans) join their text.
    dom = re.sub(r"</?(span|wbr|a|code|em|strong|b|i)\b[^>]*>", "", dom)
    text = html.unescape(re.sub(r"<[^>]+>", " ", dom))
    return re.sub(r"\s+", " ", text)


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    site, modules = sys.argv[1], sys.argv[2:]
    PAGES[0][1].extend(modules)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=site))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    browser = find_chromium()

    failures = []
    try:
        for page, expected in PAGES:
            text = rendered_text(browser, base + page)
            missing = [snippet for snippet in expected if snippet not in text]
            if not text:
                failures.append(f"{page}: no DocC content rendered (blank page or script error)")
            elif NOT_FOUND in text:
                failures.append(f"{page}: DocC shows 'page not found'")
            elif missing:
                failures.append(f"{page}: the rendered page lacks {missing}\n    it shows: {text[:600]}…")
            else:
                print(f"check-docs: {page} shows {len(expected)} expected texts")
    finally:
        server.shutdown()
    if failures:
        print("check-docs: FAILED", *failures, sep="\n  ")
        sys.exit(1)
    print(f"check-docs: {len(PAGES)} pages rendered in Chromium as expected")


if __name__ == "__main__":
    main()
