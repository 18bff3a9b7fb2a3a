"""The web page in a real browser: headless Chromium (Debian's chromium and chromedriver)
driven by Selenium against a real `qa serve` on 127.0.0.1.

Skips, with the reason, where no browser is installed (`apt-get install chromium
chromium-driver`; `.ci/run` does it). With QA_UPDATE_SCREENSHOT=1 the run also refreshes
docs/web-page.png, the screenshot in the README.
"""

from __future__ import annotations

import json
import os
import shutil
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT, running_server

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
webdriver = pytest.importorskip(
    "selenium.webdriver", reason="selenium is not installed (pip install -e .[dev])"
)
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (CHROMIUM and CHROMEDRIVER),
        reason="no headless browser here: apt-get install chromium chromium-driver",
    ),
]
QUESTION = "How many troops did Tajikistan mobilize?"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_server(tmp_path_factory.mktemp("browser-data")) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1100,900",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def _wait(driver, condition, timeout: float = 60):  # type: ignore[no-untyped-def]
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(lambda d: condition(d))


def _by(css: str):  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    return (By.CSS_SELECTOR, css)


def test_ask_see_the_answer_highlighted_in_three_sources_and_open_one(server: str, browser) -> None:
    browser.get(server + "/")
    assert browser.title == "News QA"
    box = browser.find_element(*_by("#question"))
    box.send_keys(QUESTION)
    box.submit()
    _wait(browser, lambda d: d.find_elements(*_by(".answer")))
    first = browser.find_elements(*_by(".answer"))[0]
    assert "20,000" in first.find_element(*_by("h3")).text and "%" in first.find_element(*_by("h3")).text
    citations = first.find_elements(*_by(".citation"))
    marks = [c.find_element(*_by("mark")).text for c in citations]
    assert marks and all(m == "20,000" for m in marks)
    sources = {c.find_element(*_by(".source")).text.split(" ")[0][:3] for c in citations}
    assert {"000", "001", "003"} <= sources  # three articles state it
    shot = Path(os.environ.get("QA_SCREENSHOT_DIR", ROOT / "data")) / "web-page.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(shot))
    if os.environ.get("QA_UPDATE_SCREENSHOT"):
        shutil.copy(shot, ROOT / "docs" / "web-page.png")

    citations[0].click()
    mark = _wait(browser, lambda d: d.find_elements(*_by("#cited")))[0]
    assert mark.text == "20,000"
    assert browser.switch_to.active_element == mark  # focused, for keyboard and screen readers
    visible = browser.execute_script(
        "const r = arguments[0].getBoundingClientRect(), v = document.getElementById('doc-text-view')"
        ".getBoundingClientRect(); return r.top >= v.top && r.bottom <= v.bottom && r.bottom <= innerHeight;",
        mark,
    )
    assert visible  # scrolled into view
    browser.find_element(*_by("#back")).click()
    assert browser.find_element(*_by("#view-ask")).is_displayed()


def test_no_answer_is_said_plainly_with_the_passages_read(server: str, browser) -> None:
    browser.get(server + "/")
    box = browser.find_element(*_by("#question"))
    box.send_keys("What is the boiling point of liquid nitrogen in kelvin?")
    box.submit()
    note = _wait(browser, lambda d: d.find_elements(*_by("#answers .none")))[0]
    assert "No answer in the corpus" in note.text
    assert browser.find_elements(*_by("#passages li"))


def test_add_and_delete_a_document(server: str, browser) -> None:
    browser.get(server + "/")
    browser.find_element(*_by("#tab-docs")).click()
    _wait(browser, lambda d: d.find_elements(*_by("#docs-body tr")))
    browser.find_element(*_by("#doc-id")).send_keys("browser-note")
    browser.find_element(*_by("#doc-text")).send_keys(
        "The harbour authority said the ferry to the island resumed service on Sunday morning."
    )
    browser.find_element(*_by("#add-button")).click()
    _wait(browser, lambda d: "Added browser-note" in d.find_element(*_by("#docs-status")).text)
    row = _wait(browser, lambda d: d.find_elements(*_by('tr[data-doc="browser-note"]')))[0]
    row.find_element(*_by("button.secondary")).click()
    browser.switch_to.alert.accept()
    _wait(browser, lambda d: not d.find_elements(*_by('tr[data-doc="browser-note"]')))
    with pytest.raises(urllib.error.HTTPError) as gone:
        urllib.request.urlopen(server + "/documents/browser-note")
    assert gone.value.code == 404
    listing = json.loads(urllib.request.urlopen(server + "/documents").read())
    assert "browser-note" not in {d["doc_id"] for d in listing["documents"]}


def test_highlights_are_exact_after_characters_beyond_the_basic_plane(server: str, browser) -> None:
    """Offsets count code points; emoji take two UTF-16 units in JavaScript."""
    text = "Reporters 🙂🙂 said 😀 the ferry to 𝔸 island resumed service on Sunday morning."
    body = json.dumps({"doc_id": "emoji-note", "text": text}).encode()
    request = urllib.request.Request(
        server + "/documents", data=body, method="POST", headers={"content-type": "application/json"}
    )
    urllib.request.urlopen(request)
    browser.get(server + "/")
    start = text.index("Sunday")
    mark = browser.execute_script(
        "return highlighted(arguments[0], arguments[1], arguments[2]).mark.textContent;",
        text,
        start,
        start + 6,
    )
    assert mark == "Sunday"
    browser.execute_script("openDocument('emoji-note', arguments[0], arguments[1]);", start, start + 6)
    cited = _wait(browser, lambda d: d.find_elements(*_by("#cited")))[0]
    assert cited.text == "Sunday"
    urllib.request.urlopen(urllib.request.Request(server + "/documents/emoji-note", method="DELETE"))
