"""gNMI provider (pygnmi): reads the interfaces of a target with Get or a Subscribe ONCE, in the
OpenConfig model or a vendor model (Nokia SR Linux), over TLS or an insecure channel.

A gNMI read returns every interface at once, so the parsed state (system name and, per ifIndex,
name, description and speed) is kept in Redis (`gnmi:{exporter}`, see `enrich.cache`): while a
target is unreachable, requests are answered from that state (and the failure still counts for
the breaker and the error metrics), so ifIndexes never seen by an outlet before are answered too.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from typing import Any

import grpc
from pygnmi.client import gNMIclient, gNMIException

from collector.config.types import SubnetMap
from enrich.cache import Answer, Exporter, Interface, MetadataCache
from enrich.config import GNMIConfig
from enrich.providers import ProviderError

log = logging.getLogger(__name__)

Elem = tuple[str, tuple[tuple[str, str], ...]]  # (name without module prefix, sorted keys)
Leaf = tuple[tuple[Elem, ...], Any]


@dataclass(frozen=True)
class Model:
    """Where a model keeps what we need; paths are element names without keys and prefixes."""

    name: str
    paths: tuple[str, ...]  # what to request
    system_name: tuple[tuple[str, ...], ...]
    interface_list: tuple[str, ...]  # path of the keyed interface list
    ifindex: tuple[tuple[str, ...], ...]  # below an interface entry
    description: tuple[tuple[str, ...], ...]
    speed: tuple[tuple[str, ...], ...]


MODELS = {
    "openconfig": Model(
        name="openconfig",
        paths=("/interfaces/interface", "/system/state/hostname"),
        system_name=(("system", "state", "hostname"), ("system", "config", "hostname")),
        interface_list=("interfaces", "interface"),
        ifindex=(("state", "ifindex"),),
        description=(("state", "description"), ("config", "description")),
        speed=(
            ("ethernet", "state", "negotiated-port-speed"),
            ("ethernet", "state", "port-speed"),
            ("ethernet", "config", "port-speed"),
        ),
    ),
    "srlinux": Model(
        name="srlinux",
        paths=("/interface", "/system/name/host-name"),
        system_name=(("system", "name", "host-name"),),
        interface_list=("interface",),
        ifindex=(("ifindex",),),
        description=(("description",),),
        speed=(("ethernet", "port-speed"),),
    ),
}

_UNIT = {"K": 0.001, "M": 1, "G": 1000, "T": 1_000_000}


def parse_speed(value: Any) -> int:
    """`SPEED_100GB`, `openconfig-if-ethernet:SPEED_10MB`, `100G`, `25000` -> Mbit/s."""
    if isinstance(value, int | float):
        return int(value)
    m = re.search(r"(\d+(?:\.\d+)?)\s*([KMGT])B?", str(value).upper())
    return int(float(m.group(1)) * _UNIT[m.group(2)]) if m else 0


def _strip(name: str) -> str:
    return name.rsplit(":", 1)[-1]


def parse_path(path: str | None) -> list[Elem]:
    """`openconfig-interfaces:interfaces/interface[name=eth0]/state` -> elements."""
    if not path:
        return []
    out: list[Elem] = []
    for part in re.findall(r"(?:[^/\[]|\[[^\]]*\])+", path):
        name = part.split("[", 1)[0]
        keys = tuple(sorted(re.findall(r"\[([^=\]]+)=([^\]]*)\]", part)))
        if name:
            out.append((_strip(name), keys))
    return out


def flatten(elems: list[Elem], value: Any, out: list[Leaf]) -> None:
    """Expand JSON values into leaves; list entries are keyed by their `name` member."""
    if isinstance(value, dict):
        for k, v in value.items():
            name = _strip(k)
            if isinstance(v, list) and v and all(isinstance(e, dict) for e in v):
                for entry in v:
                    keys = (("name", str(entry["name"])),) if "name" in entry else ()
                    flatten([*elems, (name, keys)], entry, out)
            else:
                flatten([*elems, (name, ())], v, out)
    elif isinstance(value, list) and elems and value and all(isinstance(e, dict) for e in value):
        last = elems[-1][0]
        for entry in value:
            keys = (("name", str(entry["name"])),) if "name" in entry else ()
            flatten([*elems[:-1], (last, keys)], entry, out)
    else:
        out.append((tuple(elems), value))


def leaves_from_notifications(notifications: list[dict[str, Any]]) -> list[Leaf]:
    out: list[Leaf] = []
    for notif in notifications:
        prefix = parse_path(notif.get("prefix"))
        for upd in notif.get("update") or []:
            flatten(prefix + parse_path(upd.get("path")), upd.get("val"), out)
    return out


def extract(model: Model, leaves: list[Leaf]) -> dict[str, Any]:
    """Leaves -> {"system-name": str, "interfaces": {ifindex(str): {name, description, speed}}}."""
    system = ""
    per_if: dict[str, dict[str, Any]] = {}
    n = len(model.interface_list)
    for elems, value in leaves:
        names = tuple(e[0] for e in elems)
        if names in model.system_name and not system:
            system = str(value)
            continue
        if names[:n] != model.interface_list or len(names) <= n:
            continue
        key = dict(elems[n - 1][1]).get("name")
        if key is None:
            continue
        rest = names[n:]
        entry = per_if.setdefault(key, {})
        if rest in model.ifindex:
            entry["ifindex"] = int(value)
        elif rest in model.description and "description" not in entry:
            entry["description"] = str(value)
        elif rest in model.speed:
            entry.setdefault("speeds", {})[model.speed.index(rest)] = parse_speed(value)
    interfaces = {}
    for name, entry in per_if.items():
        if "ifindex" not in entry:
            continue
        speeds = entry.get("speeds", {})
        speed = next((speeds[i] for i in sorted(speeds) if speeds[i]), 0)
        interfaces[str(entry["ifindex"])] = {
            "name": name,
            "description": entry.get("description", ""),
            "speed": speed,
        }
    return {"system-name": system, "interfaces": interfaces}


class GNMIProvider:
    name = "gnmi"
    polls_device = True

    def __init__(self, config: GNMIConfig, cache: MetadataCache | None = None) -> None:
        self.config = config
        self.cache = cache
        self.targets = SubnetMap(config.targets)
        self.ports = SubnetMap(config.ports)
        self.set_target = SubnetMap(config.set_target)
        self.model_of: dict[str, str] = {}  # exporter -> model that worked last time

    def in_scope(self, exporter: str) -> bool:
        """Only exporters inside a `targets` subnet are polled."""
        return self.targets.lookup(exporter) is not None

    def _client(self, exporter: str) -> gNMIclient:
        host = self.targets.lookup(exporter) or exporter
        port = self.ports.lookup(exporter) or 9339
        tls = self.config.tls
        kwargs: dict[str, Any] = {}
        if not self.config.insecure:
            if tls.cert_file and tls.key_file:
                kwargs.update(path_cert=tls.cert_file, path_key=tls.key_file, path_root=tls.ca_file)
            elif tls.ca_file:
                kwargs.update(path_cert=tls.ca_file)
            kwargs["skip_verify"] = tls.skip_verify
        return gNMIclient(
            target=(host, port),
            username=self.config.username,
            password=self.config.password.get_secret_value(),
            insecure=self.config.insecure,
            gnmi_timeout=self.config.timeout,
            **kwargs,
        )

    def fetch(self, exporter: str) -> dict[str, Any]:
        """Read the target: the parsed state of the first model that yields interfaces."""
        client = self._client(exporter)
        target = self.set_target.lookup(exporter) or None
        try:
            try:
                client.connect(timeout=self.config.timeout)
            except (grpc.FutureTimeoutError, TimeoutError):
                raise ProviderError(
                    "timeout", f"gNMI target of {exporter}: no connection"
                ) from None
            except gNMIException as exc:
                orig = getattr(exc, "orig_exc", None)
                kind = _rpc_kind(orig) if _rpc_code(orig) is not None else "unreachable"
                raise ProviderError(kind, f"gNMI target of {exporter}: {exc}") from None
            except grpc.RpcError as exc:
                raise ProviderError(_rpc_kind(exc), f"gNMI target of {exporter}: {exc}") from None
            names: list[str] = list(self.config.models)
            if exporter in self.model_of:
                names.remove(self.model_of[exporter])
                names.insert(0, self.model_of[exporter])
            state: dict[str, Any] = {"system-name": "", "interfaces": {}}
            for name in names:
                model = MODELS[name]
                state = extract(model, self._read(client, model, target))
                if state["interfaces"]:
                    self.model_of[exporter] = name
                    state["model"] = name
                    break
            return state
        finally:
            client.close()

    def _read(self, client: gNMIclient, model: Model, target: str | None) -> list[Leaf]:
        try:
            if self.config.mode == "get":
                resp = client.get(
                    path=list(model.paths), target=target, encoding=self.config.encoding
                )
                return leaves_from_notifications(resp.get("notification") or [])
            sub = client.subscribe_once(
                subscribe={
                    "subscription": [{"path": p, "mode": "target_defined"} for p in model.paths],
                    "mode": "once",
                    "encoding": self.config.encoding,
                },
                target=target,
            )
            notifications = []
            deadline = time.monotonic() + self.config.timeout
            try:
                while True:
                    try:
                        msg = sub.get_update(timeout=0.05)
                    except TimeoutError:
                        if sub.error is not None:  # the RPC failed in pygnmi's reader thread
                            raise gNMIException(str(sub.error), sub.error) from None
                        if time.monotonic() > deadline:
                            raise
                        continue
                    if "update" in msg:
                        notifications.append(msg["update"])
                    if msg.get("sync_response"):
                        break
            finally:
                sub.close()
            return leaves_from_notifications(notifications)
        except TimeoutError:
            raise ProviderError("timeout", "gNMI: no answer in time") from None
        except gNMIException as exc:
            orig = getattr(exc, "orig_exc", None)
            if _rpc_code(orig) in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
                return []  # the target does not know this model's paths: try the next model
            kind = _rpc_kind(orig) if isinstance(orig, grpc.RpcError) else "protocol"
            raise ProviderError(kind, f"gNMI: {exc}") from None

    def query(self, exporter: str, ifindexes: set[int]) -> Answer | None:
        error: ProviderError | None = None
        try:
            state = self.fetch(exporter)
            if self.cache is not None:
                self.cache.save_gnmi_state(exporter, state)
        except ProviderError as exc:
            cached = self.cache.load_gnmi_state(exporter) if self.cache is not None else None
            if cached is None:
                raise
            log.info("gNMI target of %s unreachable (%s): serving cached state", exporter, exc)
            state, error = cached, exc
        answer = Answer(exporter=Exporter(name=state["system-name"]), provider=self.name)
        for i in ifindexes:
            rec = state["interfaces"].get(str(i))
            answer.interfaces[i] = Interface(**rec) if rec else None
            if rec:
                answer.interface_sources[i] = self.name
        if error is not None:
            answer.error = error.kind
        return answer

    def close(self) -> None:
        return


def _rpc_code(exc: Any) -> Any:
    try:
        return exc.code()
    except Exception:
        return None


def _rpc_kind(exc: Any) -> str:
    code = _rpc_code(exc)
    if code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
        return "auth"
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return "timeout"
    if code == grpc.StatusCode.UNAVAILABLE:
        return "unreachable"
    return "protocol"
