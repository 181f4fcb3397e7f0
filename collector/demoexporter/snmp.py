"""An SNMP v1/v2c agent per simulated router: system and interface names, read-only.

It answers GET, GETNEXT and GETBULK for sysDescr, sysUpTime, sysName, ifNumber, the ifTable
(ifIndex, ifDescr, ifType, ifSpeed, ifOperStatus) and the ifXTable (ifName, ifHighSpeed,
ifAlias) from the router's configuration, on the router's own address (so that a poller
reaching 127.0.0.11 gets edge1's names). Messages are decoded and encoded with pysnmp's
protocol layer (`pysnmp.proto.api`); the few objects are a sorted table here rather than a
pysnmp `SnmpEngine` with MIB instrumentation: one engine per event loop could not tell the
routers apart by local address, and a read-only table of eight columns needs no MIB
compiler. A wrong community or an undecodable message gets no answer and is counted.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import time
from collections.abc import Callable
from typing import Any, cast

from pyasn1.codec.ber import decoder, encoder
from pysnmp.proto import api

from collector.demoexporter import metrics as m
from collector.demoexporter.config import RouterConfig
from collector.metrics.stats import Stats

log = logging.getLogger(__name__)

OID = tuple[int, ...]
SYS_DESCR: OID = (1, 3, 6, 1, 2, 1, 1, 1, 0)
SYS_UPTIME: OID = (1, 3, 6, 1, 2, 1, 1, 3, 0)
SYS_NAME: OID = (1, 3, 6, 1, 2, 1, 1, 5, 0)
IF_NUMBER: OID = (1, 3, 6, 1, 2, 1, 2, 1, 0)
IF_ENTRY: OID = (1, 3, 6, 1, 2, 1, 2, 2, 1)
IF_X_ENTRY: OID = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1)
MAX_BULK = 64  # var-binds per GETBULK answer, whatever is asked (keeps answers in one datagram)

# (kind, value): kinds map to the SNMP type of each protocol version
Value = tuple[str, Any]


def router_objects(router: RouterConfig) -> dict[OID, Value]:
    """The agent's objects (sysUpTime is filled in when asked)."""
    objects: dict[OID, Value] = {
        SYS_DESCR: ("str", f"flowweir demo router {router.name} ({router.protocol})"),
        SYS_UPTIME: ("ticks", 0),
        SYS_NAME: ("str", router.name),
        IF_NUMBER: ("int", len(router.interfaces)),
    }
    for i in router.interfaces:
        x = i.index
        objects[(*IF_ENTRY, 1, x)] = ("int", x)  # ifIndex
        objects[(*IF_ENTRY, 2, x)] = ("str", i.name)  # ifDescr
        objects[(*IF_ENTRY, 3, x)] = ("int", 6)  # ifType: ethernetCsmacd
        objects[(*IF_ENTRY, 5, x)] = ("gauge", min(i.speed * 1_000_000, 0xFFFFFFFF))  # ifSpeed
        objects[(*IF_ENTRY, 8, x)] = ("int", 1)  # ifOperStatus: up
        objects[(*IF_X_ENTRY, 1, x)] = ("str", i.name)  # ifName
        objects[(*IF_X_ENTRY, 15, x)] = ("gauge", i.speed)  # ifHighSpeed (Mbit/s)
        objects[(*IF_X_ENTRY, 18, x)] = ("str", i.description)  # ifAlias
    return objects


class MibView:
    """A sorted, read-only table of objects: exact and next lookups."""

    def __init__(self, objects: dict[OID, Value], uptime: Callable[[], int]) -> None:
        self.oids = sorted(objects)
        self.values = objects
        self.uptime = uptime

    def get(self, oid: OID) -> Value | None:
        if oid == SYS_UPTIME:
            return ("ticks", self.uptime())
        return self.values.get(oid)

    def next(self, oid: OID) -> tuple[OID, Value] | None:
        i = bisect.bisect_right(self.oids, oid)
        if i == len(self.oids):
            return None
        found = self.oids[i]
        value = self.get(found)
        assert value is not None
        return found, value


def _encode(pmod: Any, value: Value) -> Any:
    kind, v = value
    if kind == "str":
        return pmod.OctetString(v.encode())
    if kind == "int":
        return pmod.Integer(v)
    if kind == "ticks":
        return pmod.TimeTicks(v)
    return pmod.Gauge32(v) if hasattr(pmod, "Gauge32") else pmod.Gauge(v)


class SNMPAgent(asyncio.DatagramProtocol):
    """The agent of one router; `respond(request)` is the whole protocol, the rest is asyncio."""

    def __init__(self, router: RouterConfig, community: str, stats: Stats) -> None:
        self.router = router
        self.community = community.encode()
        self.stats = stats
        started = time.monotonic()
        self.mib = MibView(router_objects(router), lambda: int((time.monotonic() - started) * 100))
        self.transport: asyncio.DatagramTransport | None = None
        self._warned: set[str] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        answer = self.respond(data)
        if answer is not None and self.transport is not None:
            self.transport.sendto(answer, addr)

    def _error(self, kind: str, detail: str) -> None:
        self.stats.inc(m.SNMP_ERRORS, (self.router.name, kind))
        if kind not in self._warned:  # once per kind: a poller with a wrong community is chatty
            self._warned.add(kind)
            log.warning("SNMP agent of %s: %s (counted, not answered)", self.router.name, detail)

    def respond(self, data: bytes) -> bytes | None:
        try:
            version = int(api.decodeMessageVersion(data))
            pmod = api.PROTOCOL_MODULES[version]
            request, _ = decoder.decode(data, asn1Spec=pmod.Message())
            community = bytes(pmod.apiMessage.get_community(request))
            pdu = pmod.apiMessage.get_pdu(request)
        except Exception:
            self._error(m.MALFORMED, "a request that is not SNMP v1/v2c")
            return None
        if community != self.community:
            self._error(m.BAD_COMMUNITY, "a request with another community than the configured one")
            return None
        response = pmod.apiMessage.get_response(request)
        rpdu = pmod.apiMessage.get_pdu(response)
        oids = [tuple(oid) for oid, _ in pmod.apiPDU.get_varbinds(pdu)]
        v2 = version == api.SNMP_VERSION_2C
        if pdu.isSameTypeWith(pmod.GetRequestPDU()):
            kind, binds, missing = "get", [], []
            for n, oid in enumerate(oids):
                value = self.mib.get(oid)
                if value is None:
                    missing.append(n)
                    binds.append((oid, pmod.NoSuchInstance("") if v2 else pmod.Null("")))
                else:
                    binds.append((oid, _encode(pmod, value)))
            if missing and not v2:
                self._v1_error(pmod, rpdu, missing[0])
        elif pdu.isSameTypeWith(pmod.GetNextRequestPDU()):
            kind, binds = "getnext", []
            for n, oid in enumerate(oids):
                found = self.mib.next(oid)
                if found is None:
                    binds.append((oid, pmod.EndOfMibView("") if v2 else pmod.Null("")))
                    if not v2:
                        self._v1_error(pmod, rpdu, n)
                else:
                    binds.append((found[0], _encode(pmod, found[1])))
        elif v2 and pdu.isSameTypeWith(pmod.GetBulkRequestPDU()):
            kind = "getbulk"
            binds = self._bulk(pmod, pdu, oids)
        else:
            kind = "other"
            binds = [(oid, pmod.Null("")) for oid in oids]
            pmod.apiPDU.set_error_status(rpdu, 5 if v2 else 2)  # genErr / noSuchName: read-only
            pmod.apiPDU.set_error_index(rpdu, 1)
        pmod.apiPDU.set_varbinds(rpdu, binds)
        self.stats.inc(m.SNMP_REQUESTS, (self.router.name, kind))
        return bytes(encoder.encode(response))

    @staticmethod
    def _v1_error(pmod: Any, rpdu: Any, index: int) -> None:
        pmod.apiPDU.set_error_status(rpdu, 2)  # noSuchName
        pmod.apiPDU.set_error_index(rpdu, index + 1)

    def _bulk(self, pmod: Any, pdu: Any, oids: list[OID]) -> list[tuple[OID, Any]]:
        non_repeaters = max(0, int(pmod.apiBulkPDU.get_non_repeaters(pdu)))
        repetitions = max(0, int(pmod.apiBulkPDU.get_max_repetitions(pdu)))
        binds: list[tuple[OID, Any]] = []
        for oid in oids[:non_repeaters]:
            found = self.mib.next(oid)
            binds.append(
                (oid, pmod.EndOfMibView(""))
                if found is None
                else (found[0], _encode(pmod, found[1]))
            )
        cursors = oids[non_repeaters:]
        for _ in range(repetitions):
            if not cursors or len(binds) + len(cursors) > MAX_BULK:
                break
            ended = True
            for n, oid in enumerate(cursors):
                found = self.mib.next(oid)
                if found is None:
                    binds.append((oid, pmod.EndOfMibView("")))
                else:
                    ended = False
                    cursors[n] = found[0]
                    binds.append((found[0], _encode(pmod, found[1])))
            if ended:
                break
        return binds
