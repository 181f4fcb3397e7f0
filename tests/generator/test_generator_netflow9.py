"""`python -m collector.generator.netflow9` (the benchmarks' flood) sends exactly --count valid
NetFlow v9 datagrams, templates first and every 1,000, that flowweir's decoder reads: one
datagram per sendmmsg message, GSO trains the kernel cuts into datagrams, paced batches ending
mid-train, and the former one-sendto-per-datagram loop. Real loopback sockets."""

from __future__ import annotations

import socket
import struct
import subprocess
import sys

import pytest

from collector.generator.netflow9 import RECORDS_PER_DATAGRAM, TEMPLATE_ID
from collector.outlet.decoder import Decoder
from collector.outlet.decoder import metrics as dm
from collector.outlet.decoder.decoder import make_envelope

SO_RCVBUFFORCE = 33


def receive_flood(args: list[str]) -> list[bytes]:
    """Run the generator into a socket and return what arrived, in order. The receive buffer
    holds a whole run: loopback delivers during the send, so after the generator exits the
    socket holds everything and is read without waiting."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 64 << 20)
        except PermissionError:  # not root: as large as net.core.rmem_max allows
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 20)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        subprocess.run(
            [sys.executable, "-m", "collector.generator.netflow9", f"127.0.0.1:{port}", *args],
            check=True,
            timeout=120,
        )
        sock.setblocking(False)
        out = []
        while True:
            try:
                out.append(sock.recv(65536))
            except BlockingIOError:
                return out


def first_flowset(datagram: bytes) -> int:
    return struct.unpack_from("!H", datagram, 20)[0]


@pytest.mark.parametrize(
    "count, options",
    [
        (2_500, ["--method", "sendmmsg"]),
        (2_500, ["--method", "sendmmsg", "--segments", "44"]),
        (3_001, ["--method", "sendmmsg", "--segments", "44", "--rate", "60000"]),
        (1_200, ["--method", "sendto"]),
    ],
    ids=["sendmmsg", "gso-trains", "gso-paced", "sendto"],
)
def test_sends_exactly_count_valid_datagrams_the_decoder_reads(
    count: int, options: list[str]
) -> None:
    datagrams = receive_flood(["--count", str(count), *options])

    data = [d for d in datagrams if first_flowset(d) == TEMPLATE_ID]
    templates = [d for d in datagrams if first_flowset(d) == 0]
    assert len(data) == count, "not exactly --count data datagrams arrived"
    assert len(templates) == 1 + (count - 1) // 1_000
    assert len(datagrams) == len(data) + len(templates)
    assert first_flowset(datagrams[0]) == 0, "the templates must come first"
    assert all(len(d) == 20 + 4 + RECORDS_PER_DATAGRAM * 48 for d in data)  # 1,464 bytes
    # Every 1,000 data datagrams, the templates again (collectors forget them).
    positions = [i for i, d in enumerate(datagrams) if first_flowset(d) == 0]
    assert positions == [i * 1_001 for i in range(len(templates))]
    # One sequence number per export datagram, in order, none repeated or skipped.
    sequences = [struct.unpack_from("!I", d, 12)[0] for d in datagrams]
    assert sequences == list(range(sequences[0], sequences[0] + len(datagrams)))

    decoder = Decoder()
    for d in datagrams:
        decoder.feed(make_envelope(d, "127.0.0.1"))
    batch = decoder.flush()
    errors = {k: v for (name, k), v in decoder.stats.values.items() if name == dm.ERRORS and v}
    assert errors == {}, "the decoder counted malformed datagrams"
    assert decoder.pending() == 0, "data arrived before its template"
    assert len(batch) == count * RECORDS_PER_DATAGRAM
    assert set(batch.columns["SamplingRate"].tolist()) == {1000}  # the options template's
    assert set(batch.columns["InIf"].tolist()) <= {1, 2, 3, 4}


def test_a_bad_train_length_is_one_clear_line() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "collector.generator.netflow9", "127.0.0.1:9", "--segments", "90"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines() == [
        "generator: segments 90: expected 1 to 44 datagrams of 1464 bytes a train"
    ]
