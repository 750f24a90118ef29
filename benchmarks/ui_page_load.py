"""Time Dagster UI pages in a headless Chromium, for ``benchmarks.fleet_load --browser-python``.

It runs in an interpreter of its own that has Playwright (not a project dependency: a browser
is a heavyweight thing to require for one figure). Argument: a JSON object of page name to URL;
output: a JSON list of rows. A page counts as loaded when the network has been quiet for half a
second and the page's own content (not the app's loading spinner) is on screen. Each page is
loaded three times in a fresh tab; the first load also pays for the app's JavaScript.
"""

import json
import os
import statistics
import sys
import time

from playwright.sync_api import sync_playwright

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
REPEATS = 3


def main() -> None:
    pages: dict[str, str] = json.loads(sys.argv[1])
    rows = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = browser.new_context(viewport={"width": 1600, "height": 1000})
        for name, url in pages.items():
            seconds = []
            for _ in range(REPEATS):
                page = context.new_page()
                started = time.perf_counter()
                page.goto(url, wait_until="networkidle", timeout=300_000)
                page.wait_for_function(
                    "() => document.body.innerText.length > 200"
                    " && !document.querySelector('[data-testid=\"loading-spinner\"]')",
                    timeout=300_000,
                )
                seconds.append(time.perf_counter() - started)
                page.close()
            rows.append(
                {
                    "view": f"browser: {name}",
                    "median s": round(statistics.median(seconds), 2),
                    "max s": round(max(seconds), 2),
                    "answer KiB": None,
                }
            )
        browser.close()
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
