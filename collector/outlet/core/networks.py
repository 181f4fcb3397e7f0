"""Attributes of source and destination networks: static subnets, then GeoIP/ASN databases."""

from __future__ import annotations

import ipaddress
import logging
from typing import Any

from collector.config.types import SubnetMap
from collector.outlet.config import GeoIPConfig, NetworkAttributes

log = logging.getLogger(__name__)

Row = tuple[str, str, str, str, str, str, str, str, int]  # ATTRS values, then the ASN


class NetworkLookup:
    """Per-address answers, memoised (addresses repeat a lot in flow data)."""

    ATTRS = ("Name", "Role", "Site", "Region", "Tenant", "Country", "GeoCity", "GeoState")
    MEMO_LIMIT = 500_000

    def __init__(self, networks: dict[str, NetworkAttributes], geoip: GeoIPConfig) -> None:
        self.static = SubnetMap(networks)
        self.asn_db = self._open(geoip.asn_database)
        self.geo_db = self._open(geoip.geo_database)
        self.enabled = bool(self.static) or self.asn_db is not None or self.geo_db is not None
        self.has_asn = self.asn_db is not None
        self._memo: dict[bytes, Row] = {}

    @staticmethod
    def _open(path: str) -> Any:
        if not path:
            return None
        import maxminddb

        try:
            return maxminddb.open_database(path)
        except (OSError, ValueError) as exc:
            # A missing database must not stop flows: they go without GeoIP, loudly.
            log.error("cannot open GeoIP database %s: %s; continuing without it", path, exc)
            return None

    def close(self) -> None:
        for db in (self.asn_db, self.geo_db):
            if db is not None:
                db.close()

    def lookup(self, raw: bytes) -> Row:
        row = self._memo.get(raw)
        if row is None:
            if len(self._memo) >= self.MEMO_LIMIT:
                self._memo.clear()
            row = self._memo[raw] = self._compute(raw)
        return row

    def _compute(self, raw: bytes) -> Row:
        ip6 = ipaddress.IPv6Address(raw.ljust(16, b"\x00"))
        ip = ip6.ipv4_mapped or ip6
        text = str(ip)
        static = self.static.lookup(text) if self.static else None
        country = city = state = ""
        asn = 0
        if self.geo_db is not None:
            country, city, state = _geo_fields(self._get(self.geo_db, text) or {})
        if self.asn_db is not None:
            rec = self._get(self.asn_db, text)
            if rec:
                raw_asn = rec.get("autonomous_system_number") or rec.get("asn") or 0
                if isinstance(raw_asn, str):
                    raw_asn = int(raw_asn.upper().removeprefix("AS") or 0)
                asn = int(raw_asn)
                if not country and isinstance(rec.get("country"), str):
                    country = rec["country"]
        if static is not None:
            return (
                static.name,
                static.role,
                static.site,
                static.region,
                static.tenant,
                static.country or country,
                city,
                state,
                asn,
            )
        return ("", "", "", "", "", country, city, state, asn)

    @staticmethod
    def _get(db: Any, text: str) -> dict[str, Any] | None:
        try:
            rec = db.get(text)
        except ValueError:
            return None
        return rec if isinstance(rec, dict) else None


def _name(value: Any, code: bool = False) -> str:
    """GeoLite2 nests names ({"names": {"en": ...}}); IPinfo has plain strings."""
    if isinstance(value, dict):
        names = (value.get("names") or {}).get("en", "")
        return str(
            (value.get("iso_code") if code else None) or names or value.get("iso_code") or ""
        )
    return str(value or "")


def _geo_fields(rec: dict[str, Any]) -> tuple[str, str, str]:
    country = _name(rec.get("country"), code=True) or str(rec.get("country_code") or "")
    subs = rec.get("subdivisions")
    state = _name(subs[0]) if isinstance(subs, list) and subs else _name(rec.get("region"))
    return country, _name(rec.get("city")), state
