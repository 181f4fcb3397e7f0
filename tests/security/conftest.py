"""The security tests reuse the enrichment fixtures: real snmpd, the UDP request counter, Celery
workers started from a configuration file, and the inlet daemons of the inlet tests."""

from __future__ import annotations

from tests.enrich.conftest import deploy, redis_url, snmpd, udp_counter  # noqa: F401
from tests.inlet.conftest import inlet_factory  # noqa: F401
