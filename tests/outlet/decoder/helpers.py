"""Shared by the decoder tests: reading the test captures and the tshark oracle."""

from __future__ import annotations

import subprocess
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from collector.outlet.decoder import Decoder, FlowBatch
from collector.outlet.decoder.pcap import envelopes

# Beside the repository (../shared/testdata), never through an absolute path.
TESTDATA = Path(__file__).resolve().parents[4] / "shared" / "testdata"
NETFLOW = TESTDATA / "netflow"
SFLOW = TESTDATA / "sflow"

# Captures that only make sense after others (templates, options), fed in this order.
NETFLOW_SEQUENCES: dict[str, list[str]] = {
    "data": ["options-template", "options-data", "template", "data"],
    "datalink": ["datalink-template", "datalink-data"],
    "icmp": ["icmp-template", "icmp-data"],
    "multiplesamplingrates": [
        "multiplesamplingrates-options-template",
        "multiplesamplingrates-options-data",
        "multiplesamplingrates-template",
        "multiplesamplingrates-data",
    ],
    "samplingrate": ["samplingrate-template", "samplingrate-data"],
    "data+templates": ["data+templates"],
    "mpls": ["mpls"],
    "nat": ["nat"],
    "nfv5": ["nfv5"],
    "physicalinterfaces": ["physicalinterfaces"],
}
SFLOW_CAPTURES = sorted(p.stem for p in SFLOW.glob("*.pcap"))


def netflow_paths(name: str) -> list[Path]:
    return [NETFLOW / f"{n}.pcap" for n in NETFLOW_SEQUENCES[name]]


def decode_files(paths: list[Path], decoder: Decoder | None = None) -> FlowBatch:
    """Feed captures in order through one decoder; the batch of the last one."""
    decoder = decoder or Decoder()
    batch = FlowBatch.empty()
    for path in paths:
        batch = decoder.decode(envelopes(path))
    return batch


def decode_all(paths: list[Path], decoder: Decoder | None = None) -> FlowBatch:
    decoder = decoder or Decoder()
    return FlowBatch.concat(decoder.decode(envelopes(p)) for p in paths)


# --- tshark ---------------------------------------------------------------------------------

Record = dict[str, Any]
KEYS = ("SrcAddr", "DstAddr", "SrcPort", "DstPort", "Bytes", "Packets", "InIf", "OutIf")
_CFLOW = {
    "cflow.srcaddr": "SrcAddr",
    "cflow.srcaddr_v6": "SrcAddr",
    "cflow.dstaddr": "DstAddr",
    "cflow.dstaddr_v6": "DstAddr",
    "cflow.srcport": "SrcPort",
    "cflow.dstport": "DstPort",
    "cflow.octets": "Bytes",
    "cflow.octets64": "Bytes",
    "cflow.packets": "Packets",
    "cflow.packets64": "Packets",
    "cflow.inputint": "InIf",
    "cflow.outputint": "OutIf",
}
_SFLOW = {
    "ip.src": "SrcAddr",
    "ipv6.src": "SrcAddr",
    "ip.dst": "DstAddr",
    "ipv6.dst": "DstAddr",
    "tcp.srcport": "SrcPort",
    "udp.srcport": "SrcPort",
    "tcp.dstport": "DstPort",
    "udp.dstport": "DstPort",
    "sflow_245.header.frame_length": "Bytes",
    "sflow.flow_sample.input_interface": "InIf",
    "sflow.flow_sample.output_interface_value": "OutIf",
}


def _merged(paths: list[Path]) -> Path:
    out = Path(tempfile.mkdtemp()) / "merged.pcap"
    subprocess.run(["mergecap", "-a", "-F", "pcap", "-w", str(out), *map(str, paths)], check=True)
    return out


def tshark_records(paths: list[Path], port: int | None = None, warm: bool = False) -> list[Record]:
    """Every flow record (NetFlow/IPFIX) or flow sample (sFlow) as tshark decodes it.

    tshark cannot decode data that comes before its template in the same datagram; with
    `warm`, it reads the captures twice and only the second pass (templates known) counts.
    """
    if warm:
        paths = paths + paths
    path = _merged(paths) if len(paths) > 1 else paths[0]
    cmd = ["tshark", "-r", str(path), "-T", "pdml"]
    if port is not None:
        cmd += ["-d", f"udp.port=={port},cflow"]
    xml = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    root = ET.fromstring(xml)
    records: list[Record] = []
    packets = list(root.iter("packet"))
    if warm:
        packets = packets[len(packets) // 2 :]
    for packet in packets:
        for proto in packet.iter("proto"):
            if proto.get("name") == "cflow":
                for el in proto.iter("field"):
                    show = el.get("show", "")
                    if el.get("name") == "" and (
                        show.startswith("Flow ") or show.startswith("pdu ")
                    ):
                        rec = _collect(el, _CFLOW)
                        if rec:
                            records.append(rec)
            elif proto.get("name") == "sflow":
                for el in proto.iter("field"):
                    children = {c.get("name") for c in el}
                    if "sflow.flow_sample.sampling_rate" in children:
                        rec = _collect(el, _SFLOW)
                        if "sflow.flow_sample.output_interface_format" in {
                            c.get("name") for c in el.iter("field")
                        }:
                            fmt = next(
                                c.get("show") for c in el.iter("field")
                                if c.get("name") == "sflow.flow_sample.output_interface_format"
                            )  # fmt: skip
                            if fmt != "0":
                                rec.pop("OutIf", None)
                        for key in ("InIf", "OutIf"):  # the local interface has no ifIndex
                            if rec.get(key) == 0x3FFFFFFF:
                                rec.pop(key)
                        records.append(rec)
    return records


def _collect(el: ET.Element, names: dict[str, str]) -> Record:
    rec: Record = {}
    for f in el.iter():
        key = names.get(f.get("name", ""))
        if key is None or key in rec:
            continue  # first occurrence: the outer header, not one quoted in an ICMP error
        show = f.get("show", "")
        if key in ("SrcAddr", "DstAddr"):
            rec[key] = show
        else:
            rec[key] = int(show, 0)
    return rec


def match_records(ours: list[Record], theirs: list[Record]) -> list[str]:
    """Problems found pairing every tshark record with one of ours (fields tshark shows)."""
    problems = []
    if len(ours) != len(theirs):
        problems.append(f"{len(ours)} flows decoded, tshark shows {len(theirs)}")
    free = list(range(len(ours)))
    for rec in theirs:
        for i in free:
            if all(ours[i][k] == v for k, v in rec.items()):
                free.remove(i)
                break
        else:
            problems.append(f"no decoded flow matches tshark's {rec}")
    return problems
