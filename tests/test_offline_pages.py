"""The pages a user opens, in headless Chromium with the network off: `dvc plots show`'s page draws every
chart (Vega inlined by .dvc/plots/page.html); the report's page loads every figure and points nowhere else."""
import json
import re
import shutil
import time
from pathlib import Path

import pytest
from dvc_render.html import PAGE_HTML
from PIL import Image
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from pipeline.report import to_html

from conftest import ROOT
from project import dvc, make_project, run

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
DRAW_S = 30  # Vega draws the project's charts within a second or two of loading; room for a busy CI machine
CDN_DRAW_S = 3  # DVC's own page: its scripts fail before the load event, so nothing can draw after it
NETWORK_OFF = ["--proxy-server=127.0.0.1:9",  # every http(s) request goes to a closed port...
               "--host-resolver-rules=MAP * ~NOTFOUND"]  # ...and no host name resolves
# The attributes through which an element points at another file or address.
URL_ATTRIBUTES = ["src", "href", "srcset", "poster", "data", "action", "formaction", "xlink:href", "background"]
VEGA_DIV = re.compile(r"var spec = (.*);\s*vegaEmbed\('#([^']+)', spec\);")  # dvc_render.vega.VegaRenderer.DIV

pytestmark = pytest.mark.skipif(
    not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
    reason="needs /usr/bin/chromium and /usr/bin/chromedriver: apt-get install chromium chromium-driver (.ci/run does)")


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium without a network, with DevTools' network events in its performance log."""
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ["--headless", "--no-sandbox", *NETWORK_OFF]:  # --no-sandbox: Chromium refuses root without it
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))  # a path: no Selenium Manager
    yield driver
    driver.quit()


def open_offline(browser, page):
    """Open the file `page`; requested() then lists what it asked for."""
    browser.get_log("performance")  # what came before, such as the browser's own start page
    browser.get(page.as_uri())


def requested(browser, page):
    """The URLs requested since open_offline (DevTools' Network.requestWillBeSent), but the page itself and the
    browser's own pages (chrome://)."""
    urls = []
    for entry in browser.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            url = message["params"]["request"]["url"]
            if url != page.as_uri() and not url.startswith("chrome://"):
                urls.append(url)
    return urls


def errors(browser):
    return [entry["message"] for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]


def vega_charts(page):
    """The ids of the page's Vega divs that have data (DVC writes an empty spec for a plot without data)."""
    return [name for spec, name in VEGA_DIV.findall(page.read_text()) if spec != "{}"]


def drawn(browser, charts, wait_s):
    """{chart id: pixels of its canvas} once every chart has drawn or after `wait_s`; 0: nothing drawn."""
    deadline = time.monotonic() + wait_s
    while True:
        pixels = browser.execute_script(
            "return Object.fromEntries(arguments[0].map(id => {"
            "  const canvas = document.getElementById(id).querySelector('canvas');"
            "  return [id, canvas ? canvas.width * canvas.height : 0]; }))", charts)
        if all(pixels.values()) or time.monotonic() > deadline:
            return pixels
        time.sleep(0.2)


def broken_images(browser):
    return browser.execute_script(
        "return Array.from(document.images).filter(image => !(image.complete && image.naturalWidth > 0))"
        "  .map(image => image.alt || image.src.slice(0, 80))")


@pytest.fixture(scope="module")
def plots_repo(tmp_path_factory):
    """The project (its dvc.yaml, .dvc/config and .dvc/plots) with the committed run's plot files, in git."""
    repo = make_project(tmp_path_factory.mktemp("plots"))
    shutil.copytree(ROOT / "reports" / "figures", repo / "reports" / "figures")
    for table in ROOT.glob("reports/*.csv"):
        shutil.copy(table, repo / "reports")
    run(repo, "git", "add", "-A")
    run(repo, "git", "commit", "-qm", "the committed run's plots")
    return repo


@pytest.mark.parametrize("elsewhere", [False, True], ids=["show", "diff-o-elsewhere"])
def test_dvc_plots_page_draws_every_chart_offline(plots_repo, browser, tmp_path, elsewhere):
    if elsewhere:  # the page written outside the project, with nothing of .dvc/ beside it
        dvc(plots_repo, "plots", "diff", "HEAD", "-o", str(tmp_path / "elsewhere"))
        page = tmp_path / "elsewhere" / "index.html"
    else:  # as the README runs it: no flags, into dvc_plots/
        dvc(plots_repo, "plots", "show")
        page = plots_repo / "dvc_plots" / "index.html"
    assert "<script src" not in page.read_text(), "the page loads scripts from elsewhere: is html_template used?"
    charts = vega_charts(page)
    assert len(charts) >= 3, f"{page}: only {charts} have data"
    open_offline(browser, page)
    pixels = drawn(browser, charts, DRAW_S)
    assert all(pixels.values()), f"charts not drawn: {pixels}; browser errors: {errors(browser)}"
    assert broken_images(browser) == []
    outside = [url for url in requested(browser, page)
               if not url.startswith(("data:", page.parent.as_uri() + "/"))]  # DVC copies the PNGs to static/
    assert not outside, f"the page requested {outside}"


def test_the_check_fails_on_dvcs_own_page_which_loads_vega_from_a_cdn(plots_repo, browser, tmp_path):
    """The control: the browser really is offline, so a page whose Vega comes from the internet draws nothing."""
    (tmp_path / "cdn.html").write_text(PAGE_HTML)
    dvc(plots_repo, "plots", "show", "--html-template", str(tmp_path / "cdn.html"), "-o", str(tmp_path / "cdn"))
    page = tmp_path / "cdn" / "index.html"
    open_offline(browser, page)
    pixels = drawn(browser, vega_charts(page), CDN_DRAW_S)
    assert pixels and not any(pixels.values()), pixels
    assert any(url.startswith("https://cdn.") for url in requested(browser, page))


def made_report(folder):
    """A page from pipeline.report.to_html with every kind of block and two real PNGs."""
    (folder / "figures").mkdir()
    for name, size in [("a.png", (40, 20)), ("b.png", (8, 8))]:
        Image.new("L", size, color=128).save(folder / "figures" / name)
    blocks = [("heading", "Report"), ("subheading", "Part"), ("paragraph", "Text & more"),
              ("table", ["name", "value"], [["x", "1.0000"]]), ("image", "First", "figures/a.png"),
              ("image", "Second", "figures/b.png"), ("code", "key: value\n")]
    page = folder / "report.html"
    page.write_text(to_html(blocks, "Report", str(folder)))
    return page


@pytest.mark.parametrize("source", ["committed", "to_html"])
def test_the_report_page_loads_every_figure_and_points_nowhere_else(browser, tmp_path, source):
    page = ROOT / "reports" / "report.html" if source == "committed" else made_report(tmp_path)
    open_offline(browser, page)
    images = browser.execute_script("return document.images.length")
    assert images >= 2 and broken_images(browser) == [], f"{images} images; not loaded: {broken_images(browser)}"
    pointers = browser.execute_script(
        "return Array.from(document.querySelectorAll('*')).flatMap(element => arguments[0]"
        "  .filter(name => element.hasAttribute(name)).map(name => [name, element.getAttribute(name).trim()]))"
        "  .filter(([name, value]) => !value.startsWith('data:') && !value.startsWith('#'))"
        "  .map(([name, value]) => name + '=' + value.slice(0, 80))", URL_ATTRIBUTES)
    assert pointers == [], f"{page} points outside itself"
    assert [url for url in requested(browser, page) if not url.startswith("data:")] == [], f"{page} requested files"
