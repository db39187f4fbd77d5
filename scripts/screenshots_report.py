"""The report page's screenshot for the README: runs the offline demo in a temporary
directory, writes its report and saves the top of the page to docs/img/report.png.

    python scripts/screenshots_report.py [--out docs/img] [--chromium /usr/bin/chromium]
                                         [--keep DIR]

Nothing is downloaded; Chromium is the system's (Debian's ``chromium``), driven by
Playwright, opening the page as a file (it needs no server). ``--keep DIR`` leaves the
demo project, report.html and report.json there.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from rich.console import Console

from labelquorum.demo import run_demo
from labelquorum.project import open_project
from labelquorum.quality import build_report

WIDTH, HEIGHT = 1100, 1500


def _run(project):
    return project.run()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/img"))
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    parser.add_argument("--keep", type=Path, default=None)
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="lq-report-"))
    demo = root / "labelquorum-demo"
    quiet = Console(quiet=True)
    run_demo(demo, fresh=True, console=quiet, progress_runner=lambda p, seed=None: _run(p),
             print_status=lambda *a: None)
    with open_project(demo) as project:
        report = build_report(project)
        page_path, _ = report.write(root / "report.html", root / "report.json")

    from playwright.sync_api import sync_playwright

    args.out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=args.chromium, headless=True,
                                     args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
        page.goto(page_path.resolve().as_uri())
        page.screenshot(path=str(args.out / "report.png"),
                        clip={"x": 0, "y": 0, "width": WIDTH, "height": HEIGHT})
        browser.close()
    print(f"wrote {args.out / 'report.png'} (the page: {page_path})")
    if args.keep is None:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
