"""The web UI in Debian's headless Chromium (driven by Playwright), over known flows.

Every test writes a screenshot of its page to bench/.work/console-screenshots/
(the README shows copies of them). Marked slow: the browser suite takes a minute.
"""

from __future__ import annotations

import os
import threading
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from collector.console.root import STATIC, Console
from collector.devservices.base import free_port, wait_for
from tests.console.conftest import DAY, NOW, PASSWORD, make_console, migrated
from tests.console.test_api import iso
from tests.orchestrator.conftest import Backend

pytestmark = pytest.mark.slow
CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parents[2] / "bench" / ".work" / "console-screenshots"
RANGE = {"start": iso(NOW - DAY), "end": iso(NOW)}


def serve(console: Console) -> Iterator[str]:
    """The console's app under uvicorn in a thread, as `flowweir console` runs it."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(console.app, host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started, 20, "console server")
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def console_url(legacy_flows: Backend, clickhouse_server) -> Iterator[str]:  # type: ignore[no-untyped-def]
    if not (STATIC / "index.html").exists():
        pytest.fail("the web UI is not built: run `make console-ui`")
    yield from serve(make_console(legacy_flows, clickhouse_server.address))


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} missing: apt-get install chromium (scripts/apt-packages.txt)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(
        http_credentials={"username": "alice", "password": PASSWORD},
        viewport={"width": 1440, "height": 900},
    )
    p = context.new_page()
    yield p
    context.close()


def shot(page: Any, name: str, full_page: bool = True) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=full_page)


def drawn(page: Any) -> None:
    page.wait_for_selector("body[data-drawn='1']", timeout=20000)


def chart_series(page: Any) -> list[dict[str, Any]]:
    return list(
        page.evaluate(
            "() => window.flowweirCharts[0].getOption().series.map("
            "s => ({name: s.name, stack: s.stack || null, type: s.type, data: s.data, links: s.links}))"
        )
    )


def independent(backend: Backend, sql: str) -> list[tuple[Any, ...]]:
    return backend.executor.query(sql)


def test_stacked_graph_with_a_filter_typed_with_completion(
    page: Any, console_url: str, legacy_flows: Backend
) -> None:
    query = urlencode({**RANGE, "points": 96, "dimensions": "InIfProvider,Proto"})
    page.goto(f"{console_url}/visualize?{query}")
    drawn(page)
    page.click("#filter .cm-content")
    page.keyboard.type("InIfBo")
    option = ".cm-tooltip-autocomplete li:has-text('InIfBoundary')"
    page.wait_for_selector(option)
    page.click(option)
    page.keyboard.type("= ")
    page.wait_for_selector(".cm-tooltip-autocomplete li:has-text('external')")
    page.click(".cm-tooltip-autocomplete li:has-text('external')")
    assert page.inner_text("#filter .cm-content").strip() == "InIfBoundary = external"
    page.click("#apply")
    page.wait_for_function("() => location.search.includes('filter=')")
    drawn(page)
    shot(page, "visualize")
    db = legacy_flows.database
    rows = independent(
        legacy_flows,
        f"SELECT InIfProvider, Proto, intDiv(toUInt32(TimeReceived), 900) * 900 AS t, "
        f"sum(Bytes * SamplingRate * 8) / 900 FROM {db}.flows "
        f"WHERE TimeReceived >= toDateTime({NOW - DAY}) AND TimeReceived < toDateTime({NOW}) "
        "AND InIfBoundary = 1 GROUP BY InIfProvider, Proto, t",
    )
    want: dict[str, dict[int, float]] = defaultdict(dict)
    for provider, proto, t, value in rows:
        want[f"{provider} · {dict([(6, 'TCP'), (17, 'UDP')])[proto]}"][int(t) * 1000] = value
    series = chart_series(page)
    assert {s["name"] for s in series} == set(want)
    for s in series:
        assert s["stack"] == "direct"
        got = {int(t): v for t, v in s["data"] if v}
        assert got == pytest.approx(want[s["name"]])


def test_sankey(page: Any, console_url: str, legacy_flows: Backend) -> None:
    query = urlencode({**RANGE, "graph": "sankey", "dimensions": "ExporterName,InIfProvider"})
    page.goto(f"{console_url}/visualize?{query}")
    drawn(page)
    shot(page, "sankey")
    rows = independent(
        legacy_flows,
        f"SELECT ExporterName, InIfProvider, sum(Bytes * SamplingRate * 8) / {DAY} "
        f"FROM {legacy_flows.database}.flows WHERE TimeReceived >= toDateTime({NOW - DAY}) "
        f"AND TimeReceived < toDateTime({NOW}) GROUP BY ExporterName, InIfProvider",
    )
    want = {(f"ExporterName: {e}", f"InIfProvider: {p}"): v for e, p, v in rows}
    (series,) = chart_series(page)
    assert series["type"] == "sankey"
    assert {(link["source"], link["target"]): link["value"] for link in series["links"]} == (
        pytest.approx(want)
    )


def test_bidirectional(page: Any, console_url: str) -> None:
    query = urlencode({**RANGE, "dimensions": "InIfName", "bidirectional": "1", "points": 48})
    page.goto(f"{console_url}/visualize?{query}")
    drawn(page)
    shot(page, "bidirectional")
    series = chart_series(page)
    forward = [s for s in series if not s["name"].endswith("(reverse)")]
    reverse = [s for s in series if s["name"].endswith("(reverse)")]
    assert [s["name"] for s in reverse] == ["xe-1/0/0 (reverse)"]
    total = sum(v for s in forward for _, v in s["data"])
    assert sum(v for _, v in reverse[0]["data"]) == pytest.approx(-total)


def test_bad_filter_shows_its_error_in_place(page: Any, console_url: str) -> None:
    page.goto(f"{console_url}/visualize?{urlencode(RANGE)}")
    drawn(page)
    page.click("#filter .cm-content")
    page.keyboard.type("Proto = tcp AND Nope = 1")
    page.keyboard.press("Escape")
    page.wait_for_selector("#filter-error:not([hidden])")
    assert page.inner_text("#filter-error") == "line 1, column 17: unknown column 'Nope'"
    assert page.inner_text("#filter .cm-lintRange-error") == "N"
    shot(page, "filter-error")


def test_saved_view_reopens_from_its_link(page: Any, console_url: str) -> None:
    query = urlencode(
        {**RANGE, "dimensions": "SrcAS", "filter": "Proto = tcp", "graph": "lines", "limit": 3}
    )
    page.goto(f"{console_url}/visualize?{query}")
    drawn(page)
    before = chart_series(page)
    page.fill("#view-name", "TCP by source AS")
    page.click("#save-view")
    link = page.get_attribute("#view-link", "href")
    assert link and link.startswith("/v/")
    search = page.evaluate("() => location.search")
    page.goto(f"{console_url}/views")
    page.wait_for_selector(f"a[href='{link}']")
    shot(page, "views")
    page.click(f"a[href='{link}']")
    drawn(page)
    assert page.evaluate("() => location.search") == search
    assert chart_series(page) == before
    assert page.input_value("#limit") == "3"


def test_home_and_exporters_pages(page: Any, console_url: str) -> None:
    page.goto(console_url + "/")
    page.wait_for_selector(".top .bar")
    shot(page, "home")
    page.goto(console_url + "/exporters")
    page.wait_for_selector(".exporter")
    assert page.locator(".exporter h3").all_inner_texts() == [
        "edge1 192.0.2.1",
        "edge2 192.0.2.2",
    ]
    shot(page, "exporters")
    page.click("#theme")
    page.goto(f"{console_url}/visualize?{urlencode({**RANGE, 'dimensions': 'SrcAS'})}")
    drawn(page)
    assert page.evaluate("() => document.documentElement.dataset.theme") == "dark"
    shot(page, "visualize-dark")


@pytest.fixture(scope="module")
def demo_url(clickhouse_server) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A console over what the demo backfills (a daily pattern), for the README's pictures."""
    from collector.console.demo import backfill_sql

    executor = migrated(clickhouse_server, "console_demo")
    executor.query(backfill_sql("console_demo", NOW - 2 * DAY, NOW, 200_000))
    backend = Backend("legacy", executor, "console_demo", None)
    yield from serve(make_console(backend, clickhouse_server.address))


def test_readme_screenshots_over_demo_data(page: Any, demo_url: str) -> None:
    views = {
        "demo-visualize": {
            **RANGE,
            "dimensions": "InIfProvider,Proto",
            "filter": "InIfBoundary = external",
            "bidirectional": "1",
        },
        "demo-sankey": {**RANGE, "graph": "sankey", "dimensions": "SrcAS,ExporterName,InIfName"},
        "demo-lines": {**RANGE, "graph": "lines", "dimensions": "SrcNetCountry", "previous": "day"},
    }
    for name, state in views.items():
        page.goto(f"{demo_url}/visualize?{urlencode(state)}")
        drawn(page)
        assert chart_series(page), name
        shot(page, name, full_page=False)
    page.goto(demo_url + "/exporters")
    page.wait_for_selector(".exporter")
    assert page.locator(".exporter").count() == 3
    shot(page, "demo-exporters", full_page=False)
    page.goto(demo_url + "/")
    page.wait_for_selector(".top .bar")
    shot(page, "demo-home", full_page=False)
