"""The pure parts: what each dialect's DDL may use, table names, configuration."""

from __future__ import annotations

import pytest

from collector.config.root import Config, ConfigError, dump_config, parse_config
from collector.orchestrator.root import schema_settings
from collector.schema.columns import COLUMNS
from collector.schema.ddl import build_schema, go_duration
from collector.schema.dialect import LEGACY, MODERN, parse_version


def _all_sql(dialect) -> str:  # type: ignore[no-untyped-def]
    schema = build_schema(schema_settings(Config()), dialect)
    return "\n".join(
        [t.create_sql("flowweir") for t in schema.tables]
        + [v.create_sql("flowweir") for v in schema.views]
    )


def test_legacy_ddl_uses_only_what_18_16_has() -> None:
    sql = _all_sql(LEGACY)
    for missing in (
        "\nTTL ",
        "CODEC",
        "LowCardinality",
        "toStartOfInterval",
        "ttl_only_drop_parts",
    ):
        assert missing not in sql


def test_modern_ddl_uses_ttl_codecs_and_low_cardinality() -> None:
    sql = _all_sql(MODERN)
    assert "TTL TimeReceived + toIntervalSecond(1296000)" in sql  # 15 days on flows
    assert "CODEC(DoubleDelta, LZ4)" in sql and "LowCardinality(String)" in sql


def test_outlet_contract_raw_table_and_column_order() -> None:
    schema = build_schema(schema_settings(Config()), LEGACY)
    assert schema.raw_table == "flowweir.flows_raw"
    assert schema.insert_columns == tuple(c.name for c in COLUMNS)
    assert [t.name for t in schema.tables] == [
        "flows_raw",
        "flows",
        "flows_1m0s",
        "flows_5m0s",
        "flows_1h0m0s",
        "exporters",
    ]


@pytest.mark.parametrize(
    ("text", "dialect_name"),
    [("18.16.1", "legacy"), ("20.8.3.18", "legacy"), ("21.3.1", "modern"), ("26.9.2.1", "modern")],
)
def test_version_detection(text: str, dialect_name: str) -> None:
    assert parse_version(text).name == dialect_name


def test_table_suffixes_read_like_akvorado() -> None:
    assert [go_duration(s) for s in (30, 60, 300, 3600, 5400)] == [
        "30s",
        "1m0s",
        "5m0s",
        "1h0m0s",
        "1h30m0s",
    ]


def test_configuration_durations_and_defaults() -> None:
    config = parse_config(
        {
            "orchestrator": {
                "retention": "30d",
                "partition-interval": "1h",
                "resolutions": [{"interval": "1m", "retention": "1w"}, {"interval": "1h"}],
                "ttl": "never",
            }
        }
    )
    o = config.orchestrator
    assert (o.retention, o.partition_interval) == (30 * 86400, 3600)
    assert [(r.interval, r.retention, r.partition_interval) for r in o.resolutions] == [
        (60, 7 * 86400, 86400),
        (3600, 0, 7 * 86400),
    ]
    dumped = dump_config(config)
    assert "retention: 30d" in dumped and "interval: 1m" in dumped


@pytest.mark.parametrize(
    ("orchestrator", "message"),
    [
        ({"retention": "15 days"}, "orchestrator.retention: not a duration"),
        ({"ttl": "sometimes"}, "orchestrator.ttl"),
        (
            {"resolutions": [{"interval": "7m", "partition-interval": "1h"}]},
            "not a multiple of interval 7m",
        ),
    ],
)
def test_configuration_errors_name_the_key(orchestrator: dict, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config({"orchestrator": orchestrator})
    assert message in str(err.value)
