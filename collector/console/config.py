"""Console configuration: section `console` of the configuration file.

The console reads the `clickhouse` section for the servers and the database, but
connects as its own read-only user (`console.clickhouse-username`), whose limits are
set on the ClickHouse side (users.xml profile: readonly, max_execution_time,
max_rows_to_read, max_memory_usage). The table layout (rollups, retention) comes
from the `orchestrator` section, which created it. Example with the defaults:

```yaml
console:
  http: {listen: 127.0.0.1:8085}     # the UI, the API and /api/v0/console/metrics
  clickhouse-username: flowweir_console
  clickhouse-password: ""
  state-file: /var/lib/flowweir/console.sqlite   # saved views and filters
  outlet-endpoints: []               # outlets' host:port (templates, decoder errors); []: outlet.http.listen
  auth:
    mode: users                      # or `proxy` (a trusted reverse proxy authenticates)
    users:                           # `flowweir console hash-password` prints a hash
      - {name: alice, email: alice@example.net, password-hash: "scrypt$16384$8$1$..."}
    user-header: Remote-User         # proxy mode: who the proxy says the user is
    email-header: Remote-Email
    trusted-proxies: [127.0.0.1/32, ::1/128]   # proxy mode: headers accepted from these only
```
"""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from collector.config.model import ConfigModel
from collector.config.shared import HTTPConfig


class ConsoleUser(ConfigModel):
    name: str = Field(min_length=1, pattern=r"^[^:\s]+$")
    email: str = ""
    password_hash: str = Field(pattern=r"^scrypt\$\d+\$\d+\$\d+\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$")


class AuthConfig(ConfigModel):
    mode: Literal["users", "proxy"] = "users"
    users: list[ConsoleUser] = Field(default_factory=list)
    user_header: str = "Remote-User"
    email_header: str = "Remote-Email"
    trusted_proxies: list[str] = Field(default_factory=lambda: ["127.0.0.1/32", "::1/128"])

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, v: list[str]) -> list[str]:
        for net in v:
            try:
                ipaddress.ip_network(net, strict=False)
            except ValueError:
                raise ValueError(f"{net!r} is not a network (e.g. 10.0.0.0/8)") from None
        return v

    @model_validator(mode="after")
    def _unique(self) -> AuthConfig:
        names = [u.name for u in self.users]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"users: {', '.join(sorted(dup))} listed twice")
        return self


class ConsoleConfig(ConfigModel):
    http: HTTPConfig = Field(default_factory=lambda: HTTPConfig(listen="127.0.0.1:8085"))
    clickhouse_username: str = "flowweir_console"
    clickhouse_password: SecretStr = SecretStr("")  # never shown (dump, logs)
    state_file: str = "/var/lib/flowweir/console.sqlite"
    auth: AuthConfig = Field(default_factory=AuthConfig)
    # Outlets' operations endpoints (host:port), read for templates and decoder errors per
    # exporter; empty: `outlet.http.listen` of this file.
    outlet_endpoints: list[str] = Field(default_factory=list)
