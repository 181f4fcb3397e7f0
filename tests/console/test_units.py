"""The pure parts, without a server: the filter language and the query builder."""

from __future__ import annotations

import datetime as dt

import pytest

from collector.console.filter import FilterError, completion_context, parse_filter
from collector.console.models import GraphRequest
from collector.console.query import QueryBuilder, Tables, choose_table
from collector.schema.dialect import LEGACY, MODERN

NOW = 1_800_000_000 // 3600 * 3600
DAY = 86400


def test_the_example_of_the_issue() -> None:
    f = parse_filter(
        "InIfBoundary = external AND (SrcAS = AS15169 OR DstAddr << 192.0.2.0/24) "
        "AND NOT Proto = tcp"
    )
    assert f.sql == (
        "((`InIfBoundary` = 1) AND ((`SrcAS` = 15169) OR (`DstAddr` BETWEEN "
        "toFixedString(unhex('00000000000000000000ffffc0000200'), 16) AND "
        "toFixedString(unhex('00000000000000000000ffffc00002ff'), 16))) AND (NOT (`Proto` = 6)))"
    )
    assert f.columns == {"InIfBoundary", "SrcAS", "DstAddr", "Proto"}


@pytest.mark.parametrize(
    ("text", "sql"),
    [
        ("exportername = 'it\\'s'", "(`ExporterName` = 'it\\'s')"),
        ('ExporterName = "back\\\\slash"', "(`ExporterName` = 'back\\\\slash')"),
        (
            'ExporterName = "x\'; DROP TABLE flows; --"',
            "(`ExporterName` = 'x\\'; DROP TABLE flows; --')",
        ),
        ("InIfName ilike '%ET%'", "(lower(`InIfName`) LIKE lower('%ET%'))"),
        ("InIfName NOT LIKE 'ae%'", "(NOT `InIfName` LIKE 'ae%')"),
        ("DstPort NOT IN (80, 443) -- web", "(`DstPort` NOT IN (80, 443))"),
        (
            "SrcAddr = 2001:db8::1 /* v6 */",
            "(`SrcAddr` = toFixedString(unhex('20010db8000000000000000000000001'), 16))",
        ),
        ("", "1"),
        ("  -- only a comment", "1"),
    ],
)
def test_translation_escapes_every_value(text: str, sql: str) -> None:
    assert parse_filter(text).sql == sql


def test_reverse_swaps_directions() -> None:
    assert parse_filter("InIfName = 'a' AND SrcAS = 1", reverse=True).sql == (
        "((`OutIfName` = 'a') AND (`DstAS` = 1))"
    )


@pytest.mark.parametrize(
    ("text", "line", "column"),
    [
        ("Proto = tcp AND\n  Nope = 1", 2, 3),
        ("Proto = tcp)", 1, 12),
        ("SrcAS = AS15169x", 1, 9),
        ("InIfBoundary = outside", 1, 16),
        ("Proto << 10.0.0.0/8", 1, 7),
        ("ExporterName = 'unterminated", 1, 16),
    ],
)
def test_errors_have_their_position(text: str, line: int, column: int) -> None:
    with pytest.raises(FilterError) as err:
        parse_filter(text)
    assert (err.value.line, err.value.column) == (line, column), err.value.message


@pytest.mark.parametrize(
    ("text", "kind", "column"),
    [
        ("", "column", ""),
        ("Proto = tcp AND Ex", "column", ""),
        ("(InIf", "column", ""),
        ("SrcAS ", "operator", "SrcAS"),
        ("SrcAS = ", "value", "SrcAS"),
        ("Proto IN (tcp, u", "value", "Proto"),
        ("InIfName ILIKE 'x", "value", "InIfName"),
        ("Proto = tcp ", "keyword", ""),
        ('ExporterName = "a" ', "keyword", ""),
    ],
)
def test_completion_context(text: str, kind: str, column: str) -> None:
    ctx = completion_context(text, len(text))
    assert (ctx.kind, ctx.column) == (kind, column)


def request(days: float, points: int = 200, **kw: object) -> GraphRequest:
    return GraphRequest(
        start=dt.datetime.fromtimestamp(NOW - days * DAY, dt.UTC),
        end=dt.datetime.fromtimestamp(NOW, dt.UTC),
        points=points,
        **kw,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("days", "points", "columns", "table"),
    [
        (30, 200, {"SrcAS"}, "flows_1h0m0s"),
        (1, 200, {"SrcAS"}, "flows_5m0s"),
        (1 / 6, 100, {"SrcAS"}, "flows_1m0s"),
        (1 / 24, 200, {"SrcAS"}, "flows"),
        (30, 200, {"DstPort"}, "flows"),
        (30, 200, {"SrcAddr"}, "flows"),
        (100, 200, {"SrcAS"}, "flows_1h0m0s"),  # the 5m rollup keeps 90 days
    ],
)
def test_table_choice(days: float, points: int, columns: set[str], table: str) -> None:
    start = int(NOW - days * DAY)
    assert choose_table(Tables(), columns | {"Bytes"}, start, NOW, points, NOW).name == table


@pytest.mark.parametrize("dialect", [LEGACY, MODERN], ids=["legacy", "modern"])
def test_line_plan(dialect: object) -> None:
    builder = QueryBuilder(Tables(database="db"), dialect)  # type: ignore[arg-type]
    plan = builder.line(
        request(1, 96, dimensions=["SrcAS", "InIfProvider"], limit_type="p95", bidirectional=True),
        NOW,
    )
    assert plan.table.name == "flows_5m0s" and plan.interval == 900
    assert "FROM db.flows_5m0s" in plan.main.sql and "quantile(0.95)(v)" in plan.main.sql
    assert plan.reverse is not None and "DstAS" in plan.reverse.sql
    assert "OutIfProvider" in plan.reverse.sql and "InIfProvider" not in plan.reverse.sql
    bucket = "toStartOfInterval" if dialect is MODERN else "intDiv"
    assert bucket in plan.main.sql


def test_only_a_credentials_first_check_hashes_a_password() -> None:
    """The console checks known credentials on its event loop and hashes (scrypt, ~50 ms)
    in a worker thread: `is_quick` must say False exactly when a hash is ahead."""
    import base64

    from collector.console.auth import Authenticator, AuthError, hash_password
    from collector.console.config import AuthConfig, ConsoleUser

    auth = Authenticator(
        AuthConfig(users=[ConsoleUser(name="ann", password_hash=hash_password("pw"))])
    )

    def basic(text: str) -> dict[str, str]:
        return {"authorization": "Basic " + base64.b64encode(text.encode()).decode()}

    assert not auth.is_quick(basic("ann:pw"))
    assert auth.identify(basic("ann:pw"), "127.0.0.1").name == "ann"
    assert auth.is_quick(basic("ann:pw"))
    assert not auth.is_quick(basic("ann:wrong"))  # another password: hashed once, refused
    with pytest.raises(AuthError):
        auth.identify(basic("ann:wrong"), "127.0.0.1")
    assert auth.is_quick(basic("ann:wrong"))
    assert auth.is_quick(basic("bob:pw"))  # unknown user, malformed header: nothing to hash
    assert auth.is_quick({"authorization": "Basic !!"})
