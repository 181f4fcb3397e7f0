"""What only a real server shows: the read-only user's limits, proxy authentication."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from collector.console.metrics import METRICS, LockedStats
from collector.console.root import Console
from collector.console.runner import QueryError
from collector.console.store import StateStore
from collector.schema.dialect import LEGACY
from tests.console.conftest import DAY, NOW, basic, console_config, make_console
from tests.console.test_api import iso
from tests.orchestrator.conftest import Backend


def test_a_query_over_its_limits_gets_a_clear_error(
    legacy_flows: Backend,
    clickhouse_server,  # type: ignore[no-untyped-def]
) -> None:
    console = make_console(legacy_flows, clickhouse_server.address, user="flowweir_console_small")
    with TestClient(console.app) as client:
        resp = client.post(
            "/api/v0/console/graph/line",
            json={"start": iso(NOW - 30 * DAY), "end": iso(NOW), "dimensions": ["DstPort"]},
            headers=basic(),
        )
    assert resp.status_code == 422
    detail = resp.json()["detail"]
    assert detail["kind"] == "limit"
    assert "max_rows_to_read" in detail["message"] and "narrow the time range" in detail["message"]
    metrics = console.registry
    assert (
        metrics.get_sample_value(
            "flowweir_console_clickhouse_query_errors_total", {"kind": "limit"}
        )
        == 1
    )


def test_the_console_user_cannot_write(legacy_flows: Backend, clickhouse_server) -> None:  # type: ignore[no-untyped-def]
    console = make_console(legacy_flows, clickhouse_server.address)
    with pytest.raises(QueryError, match="readonly"):
        console.runner.query(f"DROP TABLE {legacy_flows.database}.flows")
    assert legacy_flows.scalar(f"SELECT count() FROM {legacy_flows.database}.flows") > 0


def test_proxy_mode(legacy_flows: Backend, clickhouse_server) -> None:  # type: ignore[no-untyped-def]
    config = console_config(
        legacy_flows.database,
        clickhouse_server.address,
        auth={"mode": "proxy"},
    )
    config.console.clickhouse_username = "flowweir_console"
    console = Console(config, LockedStats(METRICS), store=StateStore(":memory:"), dialect=LEGACY)
    # TestClient's peer is "testclient": not a trusted proxy address, so headers are refused.
    with TestClient(console.app) as client:
        resp = client.get("/api/v0/console/user", headers={"Remote-User": "carol"})
        assert resp.status_code == 403 and "not a trusted proxy" in resp.json()["detail"]["message"]
    with TestClient(console.app, client=("127.0.0.1", 50000)) as client:
        assert client.get("/api/v0/console/user").status_code == 403  # no header
        resp = client.get(
            "/api/v0/console/user",
            headers={"Remote-User": "carol", "Remote-Email": "c@example.net"},
        )
        assert resp.json() == {"name": "carol", "email": "c@example.net"}
        view = client.post(
            "/api/v0/console/saved/views",
            json={"name": "mine", "state": "x=1"},
            headers={"Remote-User": "carol"},
        ).json()
        assert view["owner"] == "carol"
