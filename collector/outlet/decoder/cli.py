"""`flowweir decode FILE.pcap [...]`: what an exporter sends, one flow per line."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from collector.kafka.envelope import TimestampSource
from collector.outlet.decoder.batch import FlowBatch
from collector.outlet.decoder.config import DecoderConfig
from collector.outlet.decoder.decoder import Decoder
from collector.outlet.decoder.headers import DECAP_MODES
from collector.outlet.decoder.pcap import PcapError, envelopes
from collector.schema.columns import DECODER_COLUMN_NAMES

_TABLE_COLUMNS = (
    "TimeReceived", "ExporterAddress", "SamplingRate", "InIf", "OutIf", "SrcAddr", "SrcPort",
    "DstAddr", "DstPort", "Proto", "Bytes", "Packets",
)  # fmt: skip
_TS = {
    "udp": TimestampSource.UDP,
    "netflow-packet": TimestampSource.NETFLOW_PACKET,
    "netflow-first-switched": TimestampSource.NETFLOW_FIRST_SWITCHED,
}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE.pcap", help="captures, read in order")
    parser.add_argument("--format", choices=("json", "table"), default="json")
    parser.add_argument(
        "--timestamp-source",
        choices=tuple(_TS),
        default="udp",
        help="where TimeReceived comes from",
    )
    parser.add_argument(
        "--decapsulation",
        choices=tuple(DECAP_MODES),
        default="none",
        help="report the inner packet of sampled headers in this tunnel; drop plain ones",
    )
    parser.add_argument(
        "--columns", help=f"comma-separated columns to print (default: all for json, "
        f"{','.join(_TABLE_COLUMNS)} for table)"
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    columns = _columns(args)
    if columns is None:
        return 2
    decoder = Decoder(config=DecoderConfig(decapsulation=args.decapsulation))
    out = sys.stdout
    if args.format == "table":
        out.write("\t".join(columns) + "\n")
    try:
        for path in args.files:
            for fed, env in enumerate(envelopes(path, _TS[args.timestamp_source]), 1):
                decoder.feed(env)
                if fed % 1000 == 0:
                    _print(decoder.flush(), columns, args.format, out)
            _print(decoder.flush(), columns, args.format, out)
    except PcapError as exc:
        print(f"flowweir decode: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `| head`
        sys.stderr.close()
        return 0
    errors = [(k, v) for k, v in decoder.stats.values.items() if k[0].endswith("_errors")]
    plain = sum(v for (_, labels), v in errors if labels[-1:] == ("not_encapsulated",))
    failed = sum(v for _, v in errors) - plain
    if plain:
        print(
            f"flowweir decode: {int(plain)} flows dropped: not {args.decapsulation}-encapsulated",
            file=sys.stderr,
        )
    if failed:
        print(
            f"flowweir decode: {int(failed)} datagrams or sets could not be decoded "
            "(truncated, unknown version or bad length)",
            file=sys.stderr,
        )
    if decoder.pending():
        print(
            f"flowweir decode: {decoder.pending()} data sets wait for a template that never "
            "came; give the capture holding the templates first",
            file=sys.stderr,
        )
    return 0


def _columns(args: argparse.Namespace) -> list[str] | None:
    if not args.columns:
        return list(DECODER_COLUMN_NAMES if args.format == "json" else _TABLE_COLUMNS)
    wanted = [c.strip() for c in args.columns.split(",") if c.strip()]
    unknown = [c for c in wanted if c not in DECODER_COLUMN_NAMES]
    if unknown:
        print(
            f"flowweir decode: unknown column(s) {', '.join(unknown)}; "
            f"choose among {', '.join(DECODER_COLUMN_NAMES)}",
            file=sys.stderr,
        )
        return None
    return wanted


def _print(batch: FlowBatch, columns: list[str], fmt: str, out: Any) -> None:
    for row in batch.to_rows():
        if fmt == "json":
            out.write(json.dumps({c: row[c] for c in columns}) + "\n")
        else:
            out.write("\t".join(str(row[c]) for c in columns) + "\n")
