"""SNMP provider (pysnmp 7, asyncio): one GET per exporter for sysName plus ifName, ifDescr,
ifAlias and ifHighSpeed of every requested ifIndex.

pysnmp engines are bound to the event loop they were created in, so each worker process owns one
event loop (re-created after a fork) and one `SnmpEngine` created inside it; the synchronous
`query()` runs the coroutine on that loop. v2c tries the communities configured for the
exporter's subnet in turn; subnets listed in `security-parameters` are polled with SNMPv3 USM.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
from collections.abc import Coroutine
from typing import Any, TypeVar

from pysnmp.hlapi.v3arch.asyncio import (
    CommunityData,
    ContextData,
    ObjectIdentity,
    ObjectType,
    SnmpEngine,
    Udp6TransportTarget,
    UdpTransportTarget,
    UsmUserData,
    get_cmd,
)
from pysnmp.hlapi.v3arch.asyncio import auth as usm
from pysnmp.proto.rfc1905 import EndOfMibView, NoSuchInstance, NoSuchObject

from collector.config.types import SubnetMap
from enrich.cache import Answer, Exporter, Interface
from enrich.config import SNMPConfig, SNMPSecurity
from enrich.providers import ProviderError

log = logging.getLogger(__name__)

SYS_NAME = "1.3.6.1.2.1.1.5.0"
IF_DESCR = "1.3.6.1.2.1.2.2.1.2"
IF_NAME = "1.3.6.1.2.1.31.1.1.1.1"
IF_HIGH_SPEED = "1.3.6.1.2.1.31.1.1.1.15"
IF_ALIAS = "1.3.6.1.2.1.31.1.1.1.18"
PER_INTERFACE = (IF_NAME, IF_DESCR, IF_ALIAS, IF_HIGH_SPEED)

AUTH = {
    "none": usm.USM_AUTH_NONE,
    "md5": usm.USM_AUTH_HMAC96_MD5,
    "sha": usm.USM_AUTH_HMAC96_SHA,
    "sha224": usm.USM_AUTH_HMAC128_SHA224,
    "sha256": usm.USM_AUTH_HMAC192_SHA256,
    "sha384": usm.USM_AUTH_HMAC256_SHA384,
    "sha512": usm.USM_AUTH_HMAC384_SHA512,
}
PRIV = {
    "none": usm.USM_PRIV_NONE,
    "des": usm.USM_PRIV_CBC56_DES,
    "3des": usm.USM_PRIV_CBC168_3DES,
    "aes": usm.USM_PRIV_CFB128_AES,
    "aes192": usm.USM_PRIV_CFB192_AES_BLUMENTHAL,
    "aes256": usm.USM_PRIV_CFB256_AES_BLUMENTHAL,
    "aes192c": usm.USM_PRIV_CFB192_AES,
    "aes256c": usm.USM_PRIV_CFB256_AES,
}

R = TypeVar("R")


class LoopRunner:
    """An event loop owned by this process (a forked child makes its own), for sync callers."""

    def __init__(self) -> None:
        self.pid = -1
        self.loop: asyncio.AbstractEventLoop | None = None

    def run(self, coro: Coroutine[Any, Any, R]) -> R:
        if self.loop is None or self.pid != os.getpid():
            self.loop = asyncio.new_event_loop()
            self.pid = os.getpid()
        return self.loop.run_until_complete(coro)

    @property
    def fresh(self) -> bool:
        return self.loop is None or self.pid != os.getpid()

    def close(self) -> None:
        if self.loop is not None and self.pid == os.getpid():
            self.loop.close()
        self.loop = None


def _auth_data(sec: SNMPSecurity) -> UsmUserData:
    return UsmUserData(
        sec.user_name,
        authKey=sec.authentication_passphrase.get_secret_value() or None,
        privKey=sec.privacy_passphrase.get_secret_value() or None,
        authProtocol=AUTH[sec.authentication_protocol],
        privProtocol=PRIV[sec.privacy_protocol],
    )


def _error_kind(indication: Any) -> str:
    text = str(indication).lower()
    if "timed out" in text or "timeout" in text:
        return "timeout"
    if any(w in text for w in ("user", "digest", "decrypt", "auth", "engine", "privacy")):
        return "auth"
    return "protocol"


def _text(value: Any) -> str:
    try:
        return bytes(value.asOctets()).decode("utf-8", "replace")
    except AttributeError:
        return str(value)


class SNMPProvider:
    name = "snmp"
    polls_device = True

    def __init__(self, config: SNMPConfig) -> None:
        self.config = config
        self.communities = SubnetMap(config.communities)
        self.security = SubnetMap(config.security_parameters)
        self.ports = SubnetMap(config.ports)
        self.runner = LoopRunner()
        self._engine: SnmpEngine | None = None

    def _engine_here(self) -> SnmpEngine:
        # Created inside the running loop: an engine must never outlive or change its loop.
        if self._engine is None:
            self._engine = SnmpEngine()
        return self._engine

    def in_scope(self, exporter: str) -> bool:
        """Only exporters inside a subnet given a community or SNMPv3 credentials are polled."""
        return self.security.lookup(exporter) is not None or bool(self.communities.lookup(exporter))

    def query(self, exporter: str, ifindexes: set[int]) -> Answer | None:
        if self.runner.fresh:
            self._engine = None
        return self.runner.run(self.aquery(exporter, ifindexes))

    async def aquery(self, exporter: str, ifindexes: set[int]) -> Answer:
        engine = self._engine_here()
        agent = self.config.agents.get(exporter, exporter)
        port = self.ports.lookup(exporter) or 161
        if ipaddress.ip_address(agent).version == 6:
            target: Any = await Udp6TransportTarget.create(
                (agent, port), timeout=self.config.timeout, retries=self.config.retries
            )
        else:
            target = await UdpTransportTarget.create(
                (agent, port), timeout=self.config.timeout, retries=self.config.retries
            )
        sec = self.security.lookup(exporter)
        credentials: list[Any] = (
            [_auth_data(sec)]
            if sec is not None
            else [CommunityData(c, mpModel=1) for c in (self.communities.lookup(exporter) or [])]
        )
        if not credentials:
            raise ProviderError("auth", f"no SNMP community or credentials for {exporter}")
        context = ContextData(contextName=sec.context_name) if sec and sec.context_name else None
        oids = [SYS_NAME] + [f"{base}.{i}" for i in sorted(ifindexes) for base in PER_INTERFACE]
        last: ProviderError | None = None
        for cred in credentials:
            try:
                values = await self._get(engine, cred, target, context or ContextData(), oids)
            except ProviderError as exc:
                last = exc
                continue
            return self._answer(values, ifindexes)
        assert last is not None
        raise last

    async def _get(
        self, engine: SnmpEngine, cred: Any, target: Any, context: Any, oids: list[str]
    ) -> dict[str, Any]:
        values: dict[str, Any] = {}
        step = self.config.max_oids_per_request
        for start in range(0, len(oids), step):
            chunk = oids[start : start + step]
            indication, status, index, binds = await get_cmd(
                engine,
                cred,
                target,
                context,
                *(ObjectType(ObjectIdentity(o)) for o in chunk),
                lookupMib=False,
            )
            if indication:
                raise ProviderError(_error_kind(indication), f"SNMP: {indication}")
            if status:
                raise ProviderError("protocol", f"SNMP error {status.prettyPrint()} at {index}")
            for name, value in binds:
                if not isinstance(value, NoSuchInstance | NoSuchObject | EndOfMibView):
                    values[str(name)] = value
        return values

    def _answer(self, values: dict[str, Any], ifindexes: set[int]) -> Answer:
        answer = Answer(exporter=Exporter(name=_text(values.get(SYS_NAME, ""))), provider=self.name)
        for i in ifindexes:
            name = values.get(f"{IF_NAME}.{i}")
            descr = values.get(f"{IF_DESCR}.{i}")
            if name is None and descr is None:
                answer.interfaces[i] = None
                continue
            speed = values.get(f"{IF_HIGH_SPEED}.{i}")
            answer.interfaces[i] = Interface(
                name=_text(name if name is not None else descr),
                description=_text(values.get(f"{IF_ALIAS}.{i}", "")),
                speed=int(speed) if speed is not None else 0,
            )
            answer.interface_sources[i] = self.name
        return answer

    def close(self) -> None:
        if self._engine is not None and not self.runner.fresh:
            with contextlib.suppress(Exception):  # closing is best effort
                self._engine.close_dispatcher()
                self.runner.run(asyncio.sleep(0.01))  # let the dispatcher's tasks finish
        self._engine = None
        self.runner.close()
