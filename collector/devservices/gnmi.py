"""A small gNMI target (Capabilities, Get, Subscribe ONCE) built on the stubs pygnmi ships.

It serves a JSON tree (OpenConfig interfaces + system, or SR Linux style) with json_ietf values,
checks username/password metadata when given, and counts requests.
"""

from __future__ import annotations

import json
import threading
import time
from concurrent import futures
from typing import Any

import grpc
from pygnmi.spec.v080 import gnmi_pb2, gnmi_pb2_grpc


def openconfig_tree(hostname: str, interfaces: dict[int, tuple[str, str, str]]) -> dict[str, Any]:
    """interfaces: ifindex -> (name, description, OpenConfig speed such as SPEED_100GB)."""
    return {
        "openconfig-interfaces:interfaces": {
            "interface": [
                {
                    "name": name,
                    "config": {"name": name, "description": descr},
                    "state": {"name": name, "ifindex": idx, "description": descr},
                    "openconfig-if-ethernet:ethernet": {
                        "state": {"port-speed": f"openconfig-if-ethernet:{speed}"}
                    },
                }
                for idx, (name, descr, speed) in sorted(interfaces.items())
            ]
        },
        "openconfig-system:system": {"state": {"hostname": hostname}},
    }


def srlinux_tree(hostname: str, interfaces: dict[int, tuple[str, str, str]]) -> dict[str, Any]:
    """interfaces: ifindex -> (name, description, SR Linux speed such as 100G)."""
    return {
        "srl_nokia-interfaces:interface": [
            {"name": n, "ifindex": i, "description": d, "ethernet": {"port-speed": s}}
            for i, (n, d, s) in sorted(interfaces.items())
        ],
        "srl_nokia-system:system": {"name": {"host-name": hostname}},
    }


def _strip(name: str) -> str:
    return name.rsplit(":", 1)[-1]


def _child(node: Any, name: str) -> Any:
    if isinstance(node, dict):
        for k, v in node.items():
            if _strip(k) == name:
                return v
    raise KeyError(name)


def select(tree: Any, path: gnmi_pb2.Path) -> Any:
    node = tree
    for elem in path.elem:
        node = _child(node, elem.name)
        if elem.key:
            node = next(e for e in node if all(str(e.get(k)) == v for k, v in elem.key.items()))
    return node


class Servicer(gnmi_pb2_grpc.gNMIServicer):
    def __init__(self, tree: dict[str, Any], username: str = "", password: str = "") -> None:
        self.tree = tree
        self.username = username
        self.password = password
        self.requests = 0
        self.lock = threading.Lock()

    def _check(self, context: grpc.ServicerContext) -> None:
        with self.lock:
            self.requests += 1
        if self.username:
            md = dict(context.invocation_metadata())
            if md.get("username") != self.username or md.get("password") != self.password:
                context.abort(grpc.StatusCode.UNAUTHENTICATED, "bad credentials")

    def Capabilities(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._check(context)
        return gnmi_pb2.CapabilityResponse(
            supported_encodings=[gnmi_pb2.JSON_IETF, gnmi_pb2.JSON], gNMI_version="0.8.0"
        )

    def _notification(self, path: gnmi_pb2.Path, context: grpc.ServicerContext) -> Any:
        try:
            value = select(self.tree, path)
        except (KeyError, StopIteration):
            context.abort(grpc.StatusCode.NOT_FOUND, "path not found")
        return gnmi_pb2.Notification(
            timestamp=time.time_ns(),
            update=[
                gnmi_pb2.Update(
                    path=path, val=gnmi_pb2.TypedValue(json_ietf_val=json.dumps(value).encode())
                )
            ],
        )

    def Get(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._check(context)
        return gnmi_pb2.GetResponse(
            notification=[self._notification(p, context) for p in request.path]
        )

    def Subscribe(self, request_iterator: Any, context: grpc.ServicerContext) -> Any:
        self._check(context)
        first = next(request_iterator)
        sub = first.subscribe
        if sub.mode != gnmi_pb2.SubscriptionList.ONCE:
            context.abort(grpc.StatusCode.UNIMPLEMENTED, "only ONCE subscriptions")
        for s in sub.subscription:
            yield gnmi_pb2.SubscribeResponse(update=self._notification(s.path, context))
        yield gnmi_pb2.SubscribeResponse(sync_response=True)


class GNMITarget:
    def __init__(
        self,
        tree: dict[str, Any],
        port: int = 0,
        username: str = "",
        password: str = "",
        tls: tuple[bytes, bytes] | None = None,
    ) -> None:
        self.servicer = Servicer(tree, username, password)
        self.tls = tls
        self.port = port
        self.server: grpc.Server | None = None

    def start(self) -> GNMITarget:
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        gnmi_pb2_grpc.add_gNMIServicer_to_server(self.servicer, self.server)
        addr = f"127.0.0.1:{self.port}"
        if self.tls:
            key, cert = self.tls
            creds = grpc.ssl_server_credentials([(key, cert)])
            self.port = self.server.add_secure_port(addr, creds)
        else:
            self.port = self.server.add_insecure_port(addr)
        self.server.start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop(0).wait()
            self.server = None
