"""The console's API on ClickHouse 18.16 and on chdb (modern dialect), over known flows."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from collector.console.asnames import ASNames
from collector.console.dimensions import PROTOCOL_NAMES
from tests.console.conftest import DAY, FLOWS, NOW, ConsoleUnderTest, basic, make_console


def iso(t: int) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).isoformat()


def expected_line(
    start: int, end: int, interval: int, key: Any, keep: Any = lambda f: True
) -> dict[tuple[str, ...], dict[int, float]]:
    """L3 bits/s per bucket and dimension tuple, computed from the generated flows."""
    out: dict[tuple[str, ...], dict[int, float]] = defaultdict(lambda: defaultdict(float))
    for f in FLOWS:
        if start <= f["TimeReceived"] < end and keep(f):
            bucket = f["TimeReceived"] // interval * interval
            out[key(f)][bucket] += f["Bytes"] * f["SamplingRate"] * 8 / interval
    return out


def graph(cut: ConsoleUnderTest, **request: Any) -> dict[str, Any]:
    resp = cut.client.post("/api/v0/console/graph/line", json=request)
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def test_stacked_graph_equals_an_independent_aggregation(cut: ConsoleUnderTest) -> None:
    body = graph(
        cut,
        start=iso(NOW - DAY),
        end=iso(NOW),
        points=96,
        dimensions=["InIfProvider", "Proto"],
        filter="InIfBoundary = external AND NOT SrcAS = AS64501 -- not the small one",
        limit=10,
    )
    assert body["table"]["name"] == "flows_5m0s"
    assert body["interval"] == 900
    expected = expected_line(
        NOW - DAY,
        NOW,
        900,
        key=lambda f: (f["InIfProvider"], PROTOCOL_NAMES[f["Proto"]]),
        keep=lambda f: f["InIfBoundary"] == 1 and f["SrcAS"] != 64501,
    )
    times = [int(dt.datetime.fromisoformat(t).timestamp()) for t in body["time"]]
    got = {tuple(s["dimensions"]): s["values"] for s in body["series"]}
    assert set(got) == set(expected) == {("Cogent", "TCP"), ("FranceIX", "UDP")}
    for key, values in got.items():
        assert values == pytest.approx([expected[key].get(t, 0.0) for t in times])
    assert "flows_5m0s" in body["sql"][0]


def test_top_n_puts_the_rest_in_other(cut: ConsoleUnderTest) -> None:
    body = graph(cut, start=iso(NOW - DAY), end=iso(NOW), points=24, dimensions=["SrcAS"], limit=2)
    names = [s["dimensions"][0] for s in body["series"]]
    totals: dict[str, float] = defaultdict(float)
    for f in FLOWS:
        if NOW - DAY <= f["TimeReceived"] < NOW:
            totals[f"AS{f['SrcAS']}"] += f["Bytes"] * f["SamplingRate"]
    top2 = sorted(totals, key=lambda k: -totals[k])[:2]
    assert names == [*top2, "Other"]
    whole = sum(sum(s["values"]) for s in body["series"]) * body["interval"] / 8
    assert whole == pytest.approx(sum(totals.values()))
    stats = body["series"][0]["stats"]
    assert stats["min"] <= stats["avg"] <= stats["p95"] <= stats["max"]


def test_table_choice(cut: ConsoleUnderTest) -> None:
    month = graph(cut, start=iso(NOW - 30 * DAY), end=iso(NOW), points=200, dimensions=["SrcAS"])
    assert month["table"]["name"] == "flows_1h0m0s"
    ports = graph(cut, start=iso(NOW - 30 * DAY), end=iso(NOW), points=200, dimensions=["DstPort"])
    assert ports["table"]["name"] == "flows"
    assert "DstPort" in ports["table"]["reason"]
    fine = graph(cut, start=iso(NOW - 3600), end=iso(NOW), points=200)
    assert fine["table"]["name"] == "flows"
    # The same bytes whichever table answered (within the 15 days `flows` keeps).
    two_weeks = [
        graph(cut, start=iso(NOW - 14 * DAY), end=iso(NOW), points=200, dimensions=[d])
        for d in ("SrcAS", "DstPort")
    ]
    assert [b["table"]["name"] for b in two_weeks] == ["flows_1h0m0s", "flows"]
    total = sum(
        f["Bytes"] * f["SamplingRate"] * 8 for f in FLOWS if f["TimeReceived"] >= NOW - 14 * DAY
    )
    for body in two_weeks:
        measured = sum(sum(s["values"]) for s in body["series"]) * body["interval"]
        assert measured == pytest.approx(total)


def test_bidirectional_and_previous_period(cut: ConsoleUnderTest) -> None:
    body = graph(
        cut,
        start=iso(NOW - DAY),
        end=iso(NOW),
        points=24,
        dimensions=["InIfName"],
        bidirectional=True,
        previous_period="day",
    )
    assert {s["dimensions"][0] for s in body["series"]} == {"et-0/0/1", "et-0/0/2"}
    # Reverse: the same flows grouped by OutIfName (every flow leaves by xe-1/0/0).
    assert [s["dimensions"][0] for s in body["reverse"]] == ["xe-1/0/0"]
    forward = sum(sum(s["values"]) for s in body["series"])
    assert sum(body["reverse"][0]["values"]) == pytest.approx(forward)
    assert "OutIfName" in body["sql"][1]
    previous = expected_line(NOW - 2 * DAY, NOW - DAY, 3600, key=lambda f: ())
    times = [int(dt.datetime.fromisoformat(t).timestamp()) for t in body["time"]]
    assert body["previous"]["values"] == pytest.approx(
        [previous[()].get(t - DAY, 0.0) for t in times]
    )


def test_units(cut: ConsoleUnderTest) -> None:
    def total(unit: str) -> float:
        body = graph(cut, start=iso(NOW - DAY), end=iso(NOW), points=24, unit=unit)
        return sum(body["series"][0]["values"]) * body["interval"]

    day = [f for f in FLOWS if NOW - DAY <= f["TimeReceived"] < NOW]
    assert total("pps") == pytest.approx(sum(f["Packets"] * f["SamplingRate"] for f in day))
    l2 = sum((f["Bytes"] + 38 * f["Packets"]) * f["SamplingRate"] * 8 for f in day)
    assert total("l2bps") == pytest.approx(l2)
    pct = sum(
        (f["Bytes"] + 38 * f["Packets"]) * f["SamplingRate"] * 8 * 100 / (f["InIfSpeed"] * 1e6)
        for f in day
    )
    assert total("inl2%") == pytest.approx(pct)


def test_sankey(cut: ConsoleUnderTest) -> None:
    resp = cut.client.post(
        "/api/v0/console/graph/sankey",
        json={
            "start": iso(NOW - DAY),
            "end": iso(NOW),
            "dimensions": ["ExporterName", "InIfProvider"],
        },
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    links = {(link["source"], link["target"]): link["value"] for link in body["links"]}
    want: dict[tuple[str, str], float] = defaultdict(float)
    for f in FLOWS:
        if NOW - DAY <= f["TimeReceived"] < NOW:
            key = (f"ExporterName: {f['ExporterName']}", f"InIfProvider: {f['InIfProvider']}")
            want[key] += f["Bytes"] * f["SamplingRate"] * 8 / DAY
    assert links == pytest.approx(dict(want))
    assert body["table"]["name"] == "flows_1h0m0s"


@pytest.mark.parametrize(
    "text",
    [
        'ExporterName = "x\'; DROP TABLE flows; --"',
        "ExporterName = 'a\\' OR 1 = 1 --'",
        "InIfName LIKE '%\\\\%' /* */",
        "ExporterName = '\u00e9\u4e2d\U0001f600\u202e'",
        "ExporterName IN (" + ", ".join(f"'{i}'" for i in range(300)) + ")",
    ],
)
def test_hostile_filters_are_escaped(cut: ConsoleUnderTest, text: str) -> None:
    body = graph(cut, start=iso(NOW - DAY), end=iso(NOW), points=10, filter=text)
    assert body["series"] == []  # no exporter by that name: nothing matched, nothing broke


@pytest.mark.parametrize(
    ("text", "offset", "words"),
    [
        ("Proto = tcp AND", 15, "ends too early"),
        ("ExporterName = 'a'; DROP TABLE flows", 18, "unexpected character ';'"),
        ("SrcAS = AS15169 AND Nope = 1", 20, "unknown column 'Nope'"),
        ("DstAddr << 192.0.2.0/33", 11, "not a subnet"),
        ("x" * 5000, 4096, "longer than 4096"),
    ],
)
def test_bad_filter_says_where(cut: ConsoleUnderTest, text: str, offset: int, words: str) -> None:
    resp = cut.client.post(
        "/api/v0/console/graph/line",
        json={"start": iso(NOW - DAY), "end": iso(NOW), "filter": text},
    )
    assert resp.status_code == 422
    detail = resp.json()["detail"]
    assert detail["offset"] == offset and words in detail["message"]
    check = cut.client.post("/api/v0/console/filter/validate", json={"filter": text}).json()
    assert not check["valid"] and check["offset"] == offset


def test_completion(cut: ConsoleUnderTest) -> None:
    def labels(text: str) -> list[str]:
        resp = cut.client.post(
            "/api/v0/console/filter/complete", json={"filter": text, "cursor": len(text)}
        )
        assert resp.status_code == 200, resp.text
        return [c["label"] for c in resp.json()["completions"]]

    assert "InIfProvider" in labels("InIfP")
    assert "<<" in labels("DstAddr ")
    assert labels("InIfProvider = co") == ['"Cogent"']
    assert labels("ExporterName = ") == ['"edge1"', '"edge2"']
    assert "tcp" in labels("Proto = t")
    assert labels("InIfBoundary = ") == ["undefined", "external", "internal"]
    assert "AND" in labels("Proto = tcp ")


def test_exporters_and_widgets(cut: ConsoleUnderTest) -> None:
    # The outlets' decoder state, published as an outlet does (its metrics, its endpoint).
    from collector.httpapi.server import OperationsServer
    from collector.metrics.aggregate import Aggregator, make_registry
    from collector.metrics.stats import Stats
    from collector.outlet.decoder import metrics as dm

    stats = Stats(dm.METRICS)
    stats.set(dm.TEMPLATES, ("192.0.2.1",), 3)
    stats.inc(dm.DATAGRAMS, ("192.0.2.1", "9"), 10)
    stats.inc(dm.ERRORS, ("192.0.2.1", dm.TEMPLATE_MISSING), 2)
    aggregator = Aggregator(dm.METRICS)
    aggregator.attach("outlet", stats)
    outlet = OperationsServer(
        "outlet", "127.0.0.1:0", make_registry(aggregator), lambda: (True, {})
    )
    outlet.start()
    cut.console.config.console.outlet_endpoints = [f"127.0.0.1:{outlet.port}", "127.0.0.1:1"]
    try:
        body = cut.client.get("/api/v0/console/exporters").json()
    finally:
        outlet.stop()
    assert [p.split(":")[0] for p in body["outlet_problems"]] == ["outlet 127.0.0.1"]
    assert (body["exporters"][0]["templates"], body["exporters"][0]["versions"]) == (3, ["9"])
    assert body["exporters"][0]["decoder_errors"] == {"template_missing": 2}
    assert body["exporters"][1]["templates"] is None
    names = [e["name"] for e in body["exporters"]]
    assert names == ["edge1", "edge2"]
    edge1 = body["exporters"][0]
    assert edge1["address"] == "192.0.2.1"
    assert edge1["sampling_rates"] == [100]
    assert {i["name"]: i["boundary"] for i in edge1["interfaces"]} == {
        "et-0/0/1": "external",
        "et-0/0/2": "external",
        "xe-1/0/0": "internal",
    }
    last5 = [f for f in FLOWS if f["TimeReceived"] >= NOW - 300 and f["ExporterName"] == "edge1"]
    out = next(i for i in edge1["interfaces"] if i["name"] == "xe-1/0/0")["out_bps"]
    assert out == pytest.approx(sum(f["Bytes"] * f["SamplingRate"] * 8 for f in last5) / 300)
    top = cut.client.get("/api/v0/console/widgets/top/InIfProvider").json()
    assert {t["name"] for t in top["top"]} == {"Cogent", "FranceIX"}
    assert sum(t["percent"] for t in top["top"]) == pytest.approx(100)
    home = cut.client.get("/api/v0/console/widgets/graph").json()
    assert home["series"] and home["table"]["name"] == "flows_5m0s"


def test_saved_views_are_per_user_with_a_stable_link(cut: ConsoleUnderTest) -> None:
    state = "start=-24h&dimensions=SrcAS&filter=Proto%20%3D%20tcp"
    view = cut.client.post(
        "/api/v0/console/saved/views", json={"name": "tcp by AS", "state": state}
    ).json()
    assert [v["id"] for v in cut.client.get("/api/v0/console/saved/views").json()] == [view["id"]]
    bob = basic("bob")
    assert cut.client.get("/api/v0/console/saved/views", headers=bob).json() == []
    link = cut.client.get(f"/v/{view['id']}", headers=bob, follow_redirects=False)
    assert link.status_code == 302 and link.headers["location"] == f"/visualize?{state}"
    assert (
        cut.client.delete(f"/api/v0/console/saved/views/{view['id']}", headers=bob).status_code
        == 404
    )
    assert cut.client.delete(f"/api/v0/console/saved/views/{view['id']}").status_code == 200


def test_requests_without_credentials_are_refused(cut: ConsoleUnderTest) -> None:
    for headers in ({"Authorization": ""}, basic("alice", "wrong"), basic("mallory")):
        resp = cut.client.get("/api/v0/console/exporters", headers=headers)
        assert resp.status_code == 401
        assert resp.headers["www-authenticate"].startswith("Basic")
    assert cut.client.get("/api/v0/console/user").json() == {
        "name": "alice",
        "email": "alice@example.net",
    }
    # Operations endpoints need no credentials, like every daemon's.
    assert cut.client.get("/api/v0/console/healthcheck", headers={"Authorization": ""}).json()["ok"]
    metrics = cut.client.get("/api/v0/console/metrics", headers={"Authorization": ""}).text
    assert 'flowweir_console_auth_refused_total{mode="users"} 3.0' in metrics


def test_openapi_document(cut: ConsoleUnderTest) -> None:
    doc = cut.client.get("/api/v0/console/openapi.json").json()
    assert "/api/v0/console/graph/line" in doc["paths"]
    assert "GraphRequest" in doc["components"]["schemas"]


def test_as_numbers_carry_their_names(legacy_flows, clickhouse_server) -> None:  # type: ignore[no-untyped-def]
    """Names from the outlet's ASN database (MaxMind's GeoLite2-ASN test file)."""
    from fastapi.testclient import TestClient

    database = (
        Path(__file__).resolve().parents[2] / "../shared/testdata/geoip/GeoLite2-ASN-Test.mmdb"
    )
    console = make_console(legacy_flows, clickhouse_server.address)
    console.config.outlet.geoip.asn_database = str(database)
    console.as_names = ASNames(str(database))
    console.as_names.load()
    with TestClient(console.app) as client:
        client.headers.update(basic())
        body = client.post(
            "/api/v0/console/graph/line",
            json={"start": iso(NOW - DAY), "end": iso(NOW), "points": 4, "dimensions": ["SrcAS"]},
        ).json()
        sankey = client.post(
            "/api/v0/console/graph/sankey",
            json={"start": iso(NOW - DAY), "end": iso(NOW), "dimensions": ["SrcAS", "DstAS"]},
        ).json()
    labels = {s["dimensions"][0] for s in body["series"]}
    assert "AS15169 Google Inc." in labels and "AS64500" in labels  # a private AS has no name
    assert "SrcAS: AS15169 Google Inc." in sankey["nodes"]
