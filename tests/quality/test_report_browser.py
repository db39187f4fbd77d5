"""The report page in a real browser: Debian's chromium driven by Playwright, opening the file
the command wrote (``file://``), for a classification and a spans project.

Never runs ``playwright install``: without /usr/bin/chromium these tests skip (fail under
CI, whose .ci/run installs it)."""

import os
import re
import shutil
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parent))

from report_fixtures import classification_project, llm_rules, spans_project

from labelquorum.cli import app
from labelquorum.testing_server import ScriptedLlmServer

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]
SECTIONS = ("rubric", "labels", "evaluation", "agreement", "annotators", "tiers",
            "label_issues", "alt_test", "languages", "provenance", "simulated")


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    """Both projects and their pages, built before the browser starts (Playwright's sync
    API holds an event loop in this thread, and a run starts its own)."""
    root = tmp_path_factory.mktemp("pages")
    with ScriptedLlmServer(llm_rules()) as server:
        project = classification_project(root / "proj", server.base_url)
        classification = write_report(project, root / "out" / "report.html")
        project.close()
    project = spans_project(root / "ner")
    spans = write_report(project, root / "ner-report.html")
    project.close()
    return {"classification": classification, "spans": spans}


@pytest.fixture(scope="module")
def browser(reports):
    sync_api = pytest.importorskip("playwright.sync_api")
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail("chromium is not installed (apt-get install chromium)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


def write_report(project, out: Path) -> Path:
    result = CliRunner().invoke(app, ["report", "-p", str(project.path), "--out", str(out),
                                      "--bootstrap", "100"])
    assert result.exit_code == 0, result.output
    return out


def open_page(browser, path: Path):
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    page.problems, page.fetched = [], []
    page.on("console", lambda m: m.type in ("error", "warning") and page.problems.append(m.text))
    page.on("pageerror", lambda e: page.problems.append(str(e)))
    page.on("request", lambda r: page.fetched.append(r.url))
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    return page


def charts(page) -> dict[str, int]:
    found: dict[str, int] = {}
    for svg in page.locator("svg.chart").all():
        box = svg.bounding_box()
        assert box and box["width"] > 100 and box["height"] > 30, box
        kind = svg.get_attribute("data-chart")
        found[kind] = found.get(kind, 0) + 1
    return found


def check_common(page, path: Path) -> str:
    assert page.problems == []
    assert page.fetched == [path.as_uri()]  # self-contained: nothing else is fetched
    for sid in SECTIONS:
        section = page.locator(f"section[data-section={sid}]")
        assert section.is_visible(), sid
        assert section.locator("h2").inner_text().strip()
    assert page.locator("h3[data-group]").count() == 7
    text = page.locator("body").inner_text()
    assert not re.search(r"\bNone\b|\bnan\b|\bNaN\b|\{\{|<built-in", text)
    return text


def test_classification_report_renders(browser, reports):
    path = reports["classification"]
    page = open_page(browser, path)
    text = check_common(page, path)
    kinds = charts(page)
    assert kinds["confusion"] == 1 and kinds["shares"] == 1
    assert kinds["bars"] >= 2 and kinds["intervals"] >= 2 and kinds["reliability"] >= 3
    cells = page.locator("svg[data-chart=confusion] rect title").all_text_contents()
    assert len(cells) == 4 and all(c.startswith("gold ") for c in cells)
    accuracy = page.locator("[data-testid=accuracy]").inner_text()
    assert re.fullmatch(r"\d+\.\d %", accuracy)
    assert "The LLM 'llm'" in page.locator("[data-testid=alt-verdict]").inner_text()
    rows = page.locator("[data-testid=annotators] tbody tr").all_inner_texts()
    assert any(r.startswith("people:alice") for r in rows)
    assert "simulated" in page.locator("[data-testid=simulated-share]").inner_text()
    assert "Multiple human non-experts" in page.locator(
        "[data-testid=rubric-annotations]").inner_text()
    assert "label-issue detection needs at least 50" in text
    page.close()


def test_spans_report_renders(browser, reports):
    path = reports["spans"]
    page = open_page(browser, path)
    check_common(page, path)
    kinds = charts(page)
    assert "confusion" not in kinds
    assert page.locator("[data-testid=micro-f1]").inner_text() == "1.000"
    types = page.locator("[data-testid=per-class] tbody tr td:first-child").all_inner_texts()
    assert types == ["PER", "ORG", "LOC", "MISC"]
    per_label = page.locator("[data-testid=agreement-per-label] tbody tr").count()
    assert per_label == 4
    assert "spans tasks are not checked" in page.locator(
        "section[data-section=label_issues]").inner_text()
    page.close()
