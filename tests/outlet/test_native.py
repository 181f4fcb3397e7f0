"""The outlet's Native-format encoder, checked by the servers that read it.

Each block is inserted into the real ClickHouse 18.16 through the writer's
client (native protocol) and read back, and written as a Native file that the
modern ClickHouse in chdb reads; both must give back exactly what was encoded.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest

from collector.outlet.clickhouse.native import EncodeError, encode_block
from collector.outlet.clickhouse.writer import BlockClient
from collector.outlet.core.strings import Strings, concatenate
from collector.outlet.decoder.batch import EMPTY_U32

COLUMNS = [
    ("row", "UInt32"),
    ("u8", "UInt8"),
    ("u16", "UInt16"),
    ("u64", "UInt64"),
    ("i32", "Int32"),
    ("t", "DateTime"),
    ("ip", "FixedString(16)"),
    ("s", "String"),
    ("lc", "LowCardinality(String)"),
    ("arr", "Array(UInt32)"),
]
# The same text from every server: numbers as decimal, bytes as hex, arrays joined.
READ_BACK = (
    "toString(row), toString(u8), toString(u16), toString(u64), toString(i32), "
    "toString(toUInt32(t)), hex(ip), s, toString(lc), "
    "arrayStringConcat(arrayMap(x -> toString(x), arr), ',')"
)
_tables = itertools.count()


def make_block(n: int, distinct: int, seed: int = 0) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    words = ["", "é-ü ✓", "x" * 300] + [f"value-{i}" for i in range(max(distinct - 3, 0))]
    words = words[:distinct]
    # Empty rows: mostly the decoders' shared empty array, some of their own.
    arrays = [
        (EMPTY_U32 if i % 3 == 1 else np.zeros(0, dtype=np.uint32))
        if i % 3
        else rng.integers(0, 2**32, size=i % 7, dtype=np.uint64).astype(np.uint32)
        for i in range(n)
    ]
    arr = np.empty(n, dtype=object)
    arr[:] = arrays
    codes = rng.integers(0, distinct, size=n)
    return {
        "row": np.arange(n, dtype=np.uint32),
        "u8": rng.integers(0, 256, size=n, dtype=np.uint8),
        "u16": rng.integers(0, 2**16, size=n, dtype=np.uint16),
        "u64": np.concatenate([[2**64 - 1], rng.integers(0, 2**63, size=n - 1, dtype=np.uint64)]),
        "i32": rng.integers(-(2**31), 2**31, size=n, dtype=np.int32),
        "t": rng.integers(1_600_000_000, 1_900_000_000, size=n, dtype=np.uint32),
        "ip": np.array([bytes(rng.integers(0, 256, 16, dtype=np.uint8)) for _ in range(n)], "S16"),
        # `s` as the enricher builds strings (dictionary); `lc` as a plain object array.
        "s": Strings.from_keys(words, codes),
        "lc": np.array([words[c] for c in codes[::-1]], dtype=object),
        "arr": arr,
    }


def expected(block: dict[str, Any]) -> list[tuple[str, ...]]:
    rows = []
    for i in range(len(block["row"])):
        rows.append(
            (
                str(block["row"][i]),
                str(block["u8"][i]),
                str(block["u16"][i]),
                str(block["u64"][i]),
                str(block["i32"][i]),
                str(block["t"][i]),
                block["ip"][i].ljust(16, b"\0").hex().upper(),
                block["s"][i],
                block["lc"][i],
                ",".join(str(x) for x in block["arr"][i]),
            )
        )
    return rows


def insert_into_18_16(server: Any, block: dict[str, Any], n: int) -> list[tuple[str, ...]]:
    table = f"native_{next(_tables)}"
    admin = server.client()
    admin.execute(
        f"CREATE TABLE {table} ({', '.join(f'{c} {t}' for c, t in COLUMNS)}) ENGINE = Memory",
        settings={"allow_experimental_low_cardinality_type": 1},
    )
    client = BlockClient(host="127.0.0.1", port=server.tcp_port, compression=False)
    try:
        names = ", ".join(c for c, _ in COLUMNS)
        assert client.execute(f"INSERT INTO {table} ({names}) VALUES", (block, n)) == n
    finally:
        client.disconnect()
    rows = admin.execute(f"SELECT {READ_BACK} FROM {table} ORDER BY row")
    return [tuple(r) for r in rows]


def read_in_chdb(chdb: Any, tmp_path: Any, block: dict[str, Any], n: int) -> list[tuple[str, ...]]:
    path = tmp_path / f"block-{next(_tables)}.native"
    path.write_bytes(b"".join(encode_block(COLUMNS, block, n)))
    rows = chdb.query(f"SELECT {READ_BACK} FROM file('{path}', 'Native') ORDER BY row")
    return [tuple(r) for r in rows]


@pytest.mark.parametrize(
    ("n", "distinct"),
    [(1, 1), (1_000, 2), (2_000, 300), (70_000, 70_000)],
    ids=["one-row", "uint8-keys", "uint16-keys", "uint32-keys"],
)
def test_block_reads_back_on_both_servers(clickhouse_server, chdb_executor, tmp_path, n, distinct):  # type: ignore[no-untyped-def]
    block = make_block(n, distinct)
    want = expected(block)
    assert insert_into_18_16(clickhouse_server, block, n) == want
    assert read_in_chdb(chdb_executor, tmp_path, block, n) == want


def test_concatenated_chunks_keep_their_strings(clickhouse_server, chdb_executor, tmp_path):  # type: ignore[no-untyped-def]
    # Chunks come from separate enrich calls: dictionaries differ and overlap.
    a, b = make_block(500, 4, seed=1), make_block(700, 40, seed=2)
    b["row"] = b["row"] + 500
    block = {name: concatenate([a[name], b[name]]) for name in a}
    assert isinstance(block["s"], Strings)
    want = expected(block)
    assert insert_into_18_16(clickhouse_server, block, 1200) == want
    assert read_in_chdb(chdb_executor, tmp_path, block, 1200) == want


def test_array_rows_all_shared_empty_or_none() -> None:
    for n in (0, 5):
        items = np.empty(n, dtype=object)
        items.fill(EMPTY_U32)
        assert encode_block([("a", "Array(UInt32)")], {"a": items}, n)[-1] == bytes(8 * n)


def test_refuses_what_it_cannot_write() -> None:
    block = make_block(3, 2)
    with pytest.raises(EncodeError, match=r"column u8 \(Enum8\('a' = 1\)\): type .* not supported"):
        encode_block([("u8", "Enum8('a' = 1)")], block, 3)
    with pytest.raises(EncodeError, match="column missing .* is missing from the batch"):
        encode_block([("missing", "UInt8")], block, 3)
    with pytest.raises(EncodeError, match=r"column u8 \(UInt8\): 3 rows, the block has 4"):
        encode_block([("u8", "UInt8")], block, 4)
