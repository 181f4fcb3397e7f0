"""Classifier rules: set exporter and interface attributes from names, descriptions, speeds.

The rule language is data, not code: each rule has `match` conditions (regexes,
subnets, a speed comparison, VLANs), `set` values that may reuse the regex
groups (`$provider`, `${1}`), and an `action`:

    interface-classifiers:
      - match: {description: '^Transit: (?P<provider>\\S+)'}
        set: {connectivity: transit, provider: $provider, boundary: external}
      - match: {interface: '^(ae|et)-', speed: '>=100000'}
        set: {connectivity: core, boundary: internal}
        action: stop
      - match: {description: '^UNUSED'}
        action: reject           # drop flows through this interface

Rules are tried in order; for each attribute the first rule that sets it wins
(later rules fill only what is still empty); `stop` ends the evaluation,
`reject` drops the flow. Results are cached per exporter / interface, so the
rules cost nothing per flow.
"""

from __future__ import annotations

import ipaddress
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from collector.config.types import SubnetMap
from collector.outlet.config import ExporterRule, InterfaceRule

_OPS: dict[str, Callable[[int, int], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
    "=": operator.eq,
    "": operator.eq,
}
_VAR = re.compile(r"\$(?:\{(\w+)\}|(\w+))")


def _expand(template: str, groups: dict[str, str]) -> str:
    return _VAR.sub(lambda m: groups.get(m.group(1) or m.group(2), ""), template)


def _groups(m: re.Match[str]) -> dict[str, str]:
    out = {str(i): g or "" for i, g in enumerate(m.groups(), 1)}
    out.update({k: v or "" for k, v in m.groupdict().items()})
    return out


@dataclass
class Classified:
    values: dict[str, str] = field(default_factory=dict)
    rejected: bool = False


def _apply(rule: ExporterRule | InterfaceRule, groups: dict[str, str], out: Classified) -> bool:
    """Set what is still unset from a matching rule; True when the evaluation ends here."""
    for attr, template in rule.set.items():
        out.values.setdefault(attr, _expand(template, groups))
    if rule.action == "reject":
        out.rejected = True
    return rule.action in ("reject", "stop")


def _in_subnets(subnets: SubnetMap[bool] | None, address: str) -> bool:
    return subnets is None or subnets.lookup(address) is not None


class ExporterClassifier:
    def __init__(self, rules: list[ExporterRule]) -> None:
        self.rules = [
            (
                r,
                re.compile(r.match.name) if r.match.name else None,
                SubnetMap(dict.fromkeys(r.match.ip, True)) if r.match.ip else None,
            )
            for r in rules
        ]
        self._cache: dict[tuple[str, str], Classified] = {}

    def __bool__(self) -> bool:
        return bool(self.rules)

    def classify(self, address: str, name: str) -> Classified:
        key = (address, name)
        hit = self._cache.get(key)
        if hit is None:
            hit = self._cache[key] = self._evaluate(address, name)
        return hit

    def _evaluate(self, address: str, name: str) -> Classified:
        out = Classified()
        for rule, regex, subnets in self.rules:
            groups: dict[str, str] = {}
            if regex is not None:
                m = regex.match(name)
                if m is None:
                    continue
                groups = _groups(m)
            if not _in_subnets(subnets, address):
                continue
            if _apply(rule, groups, out):
                break
        return out


class InterfaceClassifier:
    def __init__(self, rules: list[InterfaceRule]) -> None:
        self.rules = []
        for r in rules:
            m = r.match
            speed = None
            if m.speed:
                op, num = re.fullmatch(r"(>=|<=|>|<|=)?\s*(\d+)", m.speed.strip()).groups()  # type: ignore[union-attr]
                speed = (_OPS[op or ""], int(num))
            self.rules.append(
                (
                    r,
                    re.compile(m.exporter) if m.exporter else None,
                    SubnetMap(dict.fromkeys(m.ip, True)) if m.ip else None,
                    re.compile(m.interface) if m.interface else None,
                    re.compile(m.description) if m.description else None,
                    speed,
                    frozenset(m.vlan) if m.vlan else None,
                )
            )
        self._cache: dict[tuple[str, str, str, str, int, int], Classified] = {}

    def __bool__(self) -> bool:
        return bool(self.rules)

    def classify(
        self, address: str, exporter: str, name: str, description: str, speed: int, vlan: int
    ) -> Classified:
        key = (address, exporter, name, description, speed, vlan)
        hit = self._cache.get(key)
        if hit is None:
            hit = self._cache[key] = self._evaluate(*key)
        return hit

    def _evaluate(
        self, address: str, exporter: str, name: str, description: str, speed: int, vlan: int
    ) -> Classified:
        out = Classified()
        for rule, exp_re, subnets, name_re, desc_re, speed_cond, vlans in self.rules:
            groups: dict[str, str] = {}
            ok = True
            for regex, text in ((exp_re, exporter), (name_re, name), (desc_re, description)):
                if regex is None:
                    continue
                m = regex.match(text)
                if m is None:
                    ok = False
                    break
                groups.update(_groups(m))
            if not ok or not _in_subnets(subnets, address):
                continue
            if speed_cond is not None and not speed_cond[0](speed, speed_cond[1]):
                continue
            if vlans is not None and vlan not in vlans:
                continue
            if _apply(rule, groups, out):
                break
        return out


def is_private_asn(asn: int) -> bool:
    """RFC 6996 private ranges, RFC 7300 last ASNs, AS 0 and AS_TRANS."""
    return (
        asn == 0 or asn == 23456 or 64512 <= asn <= 65535 or 4_200_000_000 <= asn <= 4_294_967_295
    )


def address_text(raw: bytes) -> str:
    raw = raw.ljust(16, b"\x00")
    ip = ipaddress.IPv6Address(raw)
    return str(ip.ipv4_mapped or ip)
