"""Send datagrams from one socket (one 5-tuple) to an inlet and report how its workers shared
them, from the inlet's metrics: prints JSON {"ebpf_loaded": {listener: value}, "per_worker":
{worker: datagrams}}. Without eBPF the kernel's hash sends them all to one worker.
Usage: ebpf_spread.py METRICS_URL TARGET_HOST PORT COUNT"""

import json
import re
import socket
import sys
import time
import urllib.request

url, host, port, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
listener = f"0.0.0.0:{port}"


def metrics() -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read().decode()


def per_worker(text: str) -> dict[str, float]:
    pattern = (
        r'^flowweir_inlet_udp_datagrams_total\{listener="' + re.escape(listener)
        + r'",worker="(\d+)"\} ([0-9.e+]+)$'
    )
    return {w: float(v) for w, v in re.findall(pattern, text, re.M)}


# Workers report their counters to the metrics endpoint periodically: start from a settled state.
before = per_worker(metrics())
for _ in range(20):
    time.sleep(1)
    settled = per_worker(metrics())
    if settled == before:
        break
    before = settled
sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sender.bind(("0.0.0.0", 0))
for i in range(count):
    # Not a flow datagram the outlet would keep: a NetFlow v5 header announcing no record.
    sender.sendto(b"\x00\x05\x00\x00" + i.to_bytes(4, "big") + bytes(16), (host, port))
deadline = time.monotonic() + 30
while True:
    text = metrics()
    after = per_worker(text)
    delta = {w: after[w] - before.get(w, 0.0) for w in after}
    if sum(delta.values()) >= count or time.monotonic() > deadline:
        break
    time.sleep(0.5)
loaded = dict(re.findall(r'^flowweir_inlet_ebpf_loaded\{listener="([^"]+)"\} ([0-9.e+]+)$', text, re.M))
print(json.dumps({"ebpf_loaded": {k: float(v) for k, v in loaded.items()}, "per_worker": delta}))
