"""A private ClickHouse server (Debian's clickhouse-server 18.16) on free ports."""

from __future__ import annotations

import shutil

from collector.devservices.base import Service, free_port, tcp_open, wait_for

CONFIG = """<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><console>1</console></logger>
  <tcp_port>{tcp}</tcp_port>
  <http_port>{http}</http_port>
  <listen_host>127.0.0.1</listen_host>
  <path>{dir}/data/</path>
  <tmp_path>{dir}/tmp/</tmp_path>
  <user_files_path>{dir}/user_files/</user_files_path>
  <format_schema_path>{dir}/format_schemas/</format_schema_path>
  <users_config>{dir}/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>268435456</mark_cache_size>
  <max_concurrent_queries>50</max_concurrent_queries>
  <dictionaries_config>{dir}/dictionaries/*.xml</dictionaries_config>
  <timezone>UTC</timezone>
</yandex>
"""

USERS = """<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>4000000000</max_memory_usage></default>
    <!-- the console's read-only user (flowweir_console); console_small: its limits, tiny -->
    <console><readonly>1</readonly><max_execution_time>30</max_execution_time>
      <max_rows_to_read>1000000000</max_rows_to_read><max_memory_usage>2000000000</max_memory_usage></console>
    <console_small><readonly>1</readonly><max_execution_time>5</max_execution_time>
      <max_rows_to_read>1000</max_rows_to_read><max_memory_usage>200000000</max_memory_usage></console_small>
  </profiles>
  <users>
    <flowweir_console><password></password><networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
      <profile>console</profile><quota>default</quota></flowweir_console>
    <flowweir_console_small><password></password><networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
      <profile>console_small</profile><quota>default</quota></flowweir_console_small>
    <default>
      <password></password>
      <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </default>
  </users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors>
    <result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time>
  </interval></default></quotas>
</yandex>
"""


class ClickHouseServer(Service):
    name = "clickhouse"

    def __init__(self) -> None:
        super().__init__()
        self.tcp_port = free_port()
        self.http_port = free_port()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.tcp_port}"

    def start(self) -> ClickHouseServer:
        for sub in ("data", "tmp", "user_files", "format_schemas", "dictionaries"):
            (self.dir / sub).mkdir(exist_ok=True)
        (self.dir / "config.xml").write_text(
            CONFIG.format(tcp=self.tcp_port, http=self.http_port, dir=self.dir)
        )
        (self.dir / "users.xml").write_text(USERS)
        binary = shutil.which("clickhouse-server") or "/usr/sbin/clickhouse-server"
        self._spawn([binary, f"--config-file={self.dir / 'config.xml'}"])
        wait_for(
            lambda: tcp_open(self.tcp_port), 30, f"clickhouse on {self.tcp_port}\n{self.log_tail()}"
        )
        return self

    def client(self, database: str = "default"):  # type: ignore[no-untyped-def]
        from clickhouse_driver import Client

        return Client(host="127.0.0.1", port=self.tcp_port, database=database)

    def kill(self) -> None:
        """Stop the server abruptly (data directory kept); `restart()` brings it back on the same ports."""
        import os
        import signal

        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def restart(self) -> None:
        binary = shutil.which("clickhouse-server") or "/usr/sbin/clickhouse-server"
        self._log.close()
        self._spawn([binary, f"--config-file={self.dir / 'config.xml'}"])
        wait_for(lambda: tcp_open(self.tcp_port), 30, f"clickhouse restart\n{self.log_tail()}")

    def pause(self) -> None:
        """Stop the server process (SIGSTOP) to simulate an outage; resume() continues it."""
        import os
        import signal

        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        import os
        import signal

        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGCONT)
