"""AS names for the console's labels (`AS15169 Google LLC`), from the outlet's ASN database.

The same MaxMind-format database the outlet reads (`outlet.geoip.asn-database`, GeoLite2-ASN
or IPinfo's) maps networks to AS numbers and organisations; walking it once gives a number ->
name map (a few seconds for a full GeoLite2-ASN, in a background thread at start). Names
decorate the answers in Python, after the query: ClickHouse never sees them, and the filter
still takes `SrcAS = AS15169`.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

log = logging.getLogger(__name__)
AS_DIMENSIONS = frozenset({"SrcAS", "DstAS"})


class ASNames:
    def __init__(self, path: str = "") -> None:
        self.path = path
        self.names: dict[int, str] = {}
        self.loaded = threading.Event()
        if not path:
            self.loaded.set()

    def start(self) -> None:
        if self.path:
            threading.Thread(target=self.load, name="as-names", daemon=True).start()

    def load(self) -> None:
        try:
            import maxminddb

            names: dict[int, str] = {}
            with maxminddb.open_database(str(Path(self.path))) as reader:
                for _network, record in reader:
                    if not isinstance(record, dict):
                        continue
                    number = record.get("autonomous_system_number") or record.get("asn") or 0
                    name = record.get("autonomous_system_organization") or record.get("as_name")
                    if isinstance(number, str):
                        number = int(number.upper().removeprefix("AS") or 0)
                    if number and isinstance(name, str) and name:
                        names.setdefault(int(number), name)
            self.names = names
            log.info("AS names: %d from %s", len(names), self.path)
        except (OSError, ValueError) as exc:  # a missing or corrupt file: numbers only
            log.warning(
                "AS names not loaded from %s (%s); graphs show AS numbers only", self.path, exc
            )
        finally:
            self.loaded.set()

    def label(self, value: str) -> str:
        """`AS15169` -> `AS15169 Google LLC` (unchanged when unknown)."""
        if value.startswith("AS") and value[2:].isdigit():
            name = self.names.get(int(value[2:]))
            if name:
                return f"{value} {name}"
        return value

    def labels(self, dimensions: list[str], values: list[str]) -> list[str]:
        if not self.names:
            return values
        return [
            self.label(v) if d in AS_DIMENSIONS else v
            for d, v in zip(dimensions, values, strict=True)
        ]
