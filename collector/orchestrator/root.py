"""The orchestrator: Kafka topic, ClickHouse schema and retention, with retries.

Built with its dependencies (configuration, Stats, factories for the ClickHouse
executor and the topic manager) so that tests can point it at chdb or at the
services started by the fixtures.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from collector.config.root import Config
from collector.metrics.stats import Stats
from collector.orchestrator import metrics as m
from collector.orchestrator.topic import KafkaUnreachable, TopicManager
from collector.schema.ddl import Rollup, Schema, SchemaSettings
from collector.schema.dialect import Dialect
from collector.schema.executor import ClickHouseUnreachable, DriverExecutor, Executor
from collector.schema.migrate import Migrator, SchemaError
from collector.schema.retention import drop_expired_partitions

log = logging.getLogger(__name__)

ExecutorFactory = Callable[[str], Executor]
TopicFactory = Callable[[], TopicManager]


def schema_settings(config: Config) -> SchemaSettings:
    o = config.orchestrator
    return SchemaSettings(
        database=config.clickhouse.database,
        partition_interval=o.partition_interval,
        retention=o.retention,
        rollups=tuple(Rollup(r.interval, r.retention, r.partition_interval) for r in o.resolutions),
        ttl=o.ttl,
        username=config.clickhouse.username,
        password=config.clickhouse.password.get_secret_value(),
    )


def _server_error(exc: Exception) -> str:
    """First line of a ClickHouse server error, without the server-side stack trace."""
    text = str(getattr(exc, "message", "") or exc)
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__


@dataclass
class ServerState:
    executor: Executor
    ready: bool = False
    dialect: Dialect | None = None
    schema: Schema | None = None
    error: str = "not migrated yet"


class Orchestrator:
    def __init__(
        self,
        config: Config,
        stats: Stats,
        executor_factory: ExecutorFactory | None = None,
        topic_factory: TopicFactory | None = None,
        manage_topic: bool = True,
    ) -> None:
        self.stats = stats
        self.manage_topic = manage_topic
        self._executor_factory = executor_factory or self._driver
        self._topic_factory = topic_factory or self._topic_manager
        self.servers: dict[str, ServerState] = {}
        self.topic: TopicManager | None = None
        self.topic_ready = False
        self.topic_error = "not checked yet"
        self.configure(config)

    def _driver(self, server: str) -> Executor:
        ch = self.config.clickhouse
        return DriverExecutor(server, ch.username, ch.password.get_secret_value(), ch.timeout)

    def _topic_manager(self) -> TopicManager:
        return TopicManager(self.config.kafka, timeout=self.config.clickhouse.timeout)

    def configure(self, config: Config) -> None:
        """(Re)load a configuration: every server is migrated again at the next step."""
        self.config = config
        self.settings = schema_settings(config)
        for state in self.servers.values():  # credentials or timeouts may have changed
            close = getattr(state.executor, "close", None)
            if close is not None:
                close()
        self.servers = {
            s: ServerState(self._executor_factory(s)) for s in config.clickhouse.servers
        }
        self.topic = None
        self.topic_ready = not self.manage_topic

    # -- one attempt at each job ------------------------------------------------------

    def migrate_server(self, server: str) -> bool:
        state = self.servers[server]
        migrator = Migrator(
            state.executor,
            self.settings,
            dictionaries_path=self.config.orchestrator.dictionaries_path,
        )
        try:
            report = migrator.migrate()
        except ClickHouseUnreachable as exc:
            self._fail(
                server, "unreachable", f"{exc}", "check clickhouse.servers and that the server runs"
            )
            return False
        except SchemaError as exc:
            self._fail(server, "config", str(exc), "")
            return False
        except Exception as exc:  # a server error: permissions, a statement it refuses
            self._fail(
                server,
                "server",
                f"ClickHouse {server} refused the schema: {_server_error(exc)}",
                "check clickhouse.username/password and the server's log",
            )
            log.debug("migration of %s failed", server, exc_info=True)
            return False
        state.dialect = report.dialect
        state.schema = migrator.schema(report.dialect)
        state.ready = True
        state.error = ""
        self.stats.inc(m.MIGRATION_STATEMENTS, (server,), len(report.statements))
        self.stats.inc(m.MIGRATION_WARNINGS, (server,), len(report.warnings))
        if report.changed:
            self.stats.inc(m.MIGRATIONS_APPLIED, (server,))
        self.stats.set(m.SCHEMA_READY, (server,), 1)
        self.stats.set(m.LEGACY_DIALECT, (server,), 0 if report.dialect.modern else 1)
        log.info(
            "clickhouse %s: schema %s (server %s, %d statements, %d files, %d warnings)",
            server,
            "migrated" if report.changed else "up to date",
            report.dialect,
            len(report.statements),
            len(report.files),
            len(report.warnings),
        )
        return True

    def _fail(self, server: str, kind: str, message: str, fix: str) -> None:
        state = self.servers[server]
        state.ready = False
        error = message + (f"; {fix}" if fix else "")
        _log_once(state.error, error)
        state.error = error
        self.stats.inc(m.ERRORS, ("clickhouse", kind))
        self.stats.set(m.SCHEMA_READY, (server,), 0)

    def ensure_topic(self) -> bool:
        try:
            if self.topic is None:
                self.topic = self._topic_factory()
            report = self.topic.ensure()
        except KafkaUnreachable as exc:
            error = f"{exc}; check kafka.brokers and that the brokers run"
            _log_once(self.topic_error, error)
            self.topic_error = error
            self.stats.inc(m.ERRORS, ("kafka", "unreachable"))
            return False
        except Exception as exc:
            error = (
                f"Kafka {','.join(self.config.kafka.brokers)} refused topic "
                f"{self.config.kafka.topic}: {_kafka_error(exc)}; check kafka.partitions, "
                "kafka.replication-factor and kafka.topic-config"
            )
            _log_once(self.topic_error, error)
            self.topic_error = error
            self.stats.inc(m.ERRORS, ("kafka", "server"))
            log.debug("topic check failed", exc_info=True)
            return False
        if report.created:
            self.stats.inc(m.TOPIC_CHANGES, ("created",))
        if report.partitions_increased:
            self.stats.inc(m.TOPIC_CHANGES, ("partitions",))
        if report.configs_altered:
            self.stats.inc(m.TOPIC_CHANGES, ("config",))
        self.stats.set(m.TOPIC_PARTITIONS, (), report.partitions)
        self.stats.set(m.TOPIC_READY, (), 1)
        if self.topic_error and self.topic_error != "not checked yet":
            log.info("kafka: topic %s ready (%d partitions)", report.topic, report.partitions)
        self.topic_ready = True
        self.topic_error = ""
        return True

    def retention_pass(self, now: float | None = None) -> int:
        """Drop expired partitions on every migrated server; returns how many."""
        total = 0
        ok = True
        for server, state in self.servers.items():
            if not state.ready or state.schema is None:
                continue
            try:
                dropped = drop_expired_partitions(state.executor, state.schema, now)
            except ClickHouseUnreachable as exc:
                log.error("retention: %s; check clickhouse.servers and that the server runs", exc)
                self.stats.inc(m.ERRORS, ("retention", "unreachable"))
                state.ready = False  # migrate again when it is back (it may be a new server)
                ok = False
                continue
            except Exception as exc:
                log.error("retention on ClickHouse %s failed: %s", server, _server_error(exc))
                self.stats.inc(m.ERRORS, ("retention", "server"))
                state.ready = False
                ok = False
                continue
            for d in dropped:
                self.stats.inc(m.PARTITIONS_DROPPED, (server, d.table))
            total += len(dropped)
        self.stats.inc(m.RETENTION_RUNS, ("ok" if ok else "error",))
        return total

    def pending(self) -> list[str]:
        """What is not done yet (server addresses, `kafka`)."""
        out = [s for s, st in self.servers.items() if not st.ready]
        if not self.topic_ready:
            out.append("kafka")
        return out

    def step(self) -> bool:
        """One attempt at everything not done yet; True when everything is done."""
        for server, state in self.servers.items():
            if not state.ready:
                self.migrate_server(server)
        if not self.topic_ready:
            self.ensure_topic()
        return not self.pending()

    def errors(self) -> list[str]:
        out = [st.error for st in self.servers.values() if not st.ready]
        if not self.topic_ready:
            out.append(self.topic_error)
        return out

    def health(self) -> tuple[bool, dict[str, Any]]:
        details: dict[str, Any] = {
            "clickhouse": {
                s: ("ready" if st.ready else st.error) for s, st in self.servers.items()
            },
        }
        if self.manage_topic:
            details["kafka"] = "ready" if self.topic_ready else self.topic_error
        return not self.pending(), details

    # -- lifecycles -------------------------------------------------------------------

    def run_once(self, timeout: float, stop: threading.Event | None = None) -> bool:
        """Retry until everything is done or `timeout` seconds passed; then one retention pass."""
        stop = stop or threading.Event()
        deadline = time.monotonic() + timeout
        delay = 0.5
        while not self.step():
            left = deadline - time.monotonic()
            if left <= 0 or stop.is_set():
                return False
            wait = min(delay, left)
            log.debug("retrying %s in %.1fs", ", ".join(self.pending()), wait)
            if stop.wait(wait):
                return False
            delay = min(delay * 2, self.config.orchestrator.retry_max_interval)
        self.retention_pass()
        return True

    def run_forever(
        self,
        stop: threading.Event,
        wake: threading.Event,
        reload: Callable[[], Config | None] | None = None,
    ) -> None:
        """Until `stop`: keep schema and topic as configured, enforce retention.

        `wake` interrupts a wait; when `reload` is given and returns a configuration
        (SIGHUP), it is applied and the migrations run again.
        """
        delay = 1.0
        next_retention = 0.0
        while not stop.is_set():
            if wake.is_set():
                wake.clear()
                if reload is not None and (new := reload()) is not None:
                    self.configure(new)
                    log.info("configuration reloaded: applying migrations again")
            if self.step():
                delay = 1.0
                now = time.monotonic()
                if now >= next_retention:
                    self.retention_pass()
                    next_retention = now + self.config.orchestrator.retention_check_interval
                wait = max(0.0, next_retention - time.monotonic())
            else:
                wait = delay
                log.debug("retrying %s in %.0fs", ", ".join(self.pending()), wait)
                delay = min(delay * 2, self.config.orchestrator.retry_max_interval)
            wake.wait(wait)


def _log_once(previous: str, error: str) -> None:
    """An error is logged when it appears or changes; while it lasts, retries are quiet."""
    if error != previous:
        log.error("%s (retrying with backoff)", error)
    else:
        log.debug("still: %s", error)


def _kafka_error(exc: Exception) -> str:
    arg = exc.args[0] if exc.args else exc
    return str(arg.str()) if hasattr(arg, "str") else str(arg)
