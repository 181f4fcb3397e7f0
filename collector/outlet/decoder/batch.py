"""The columnar batch the decoders produce: one NumPy array per `DECODER_COLUMNS` column."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from collector.kafka.envelope import bytes_to_address
from collector.schema.columns import DECODER_COLUMNS

COLUMN_DTYPES: dict[str, np.dtype[Any]] = {c.name: np.dtype(c.dtype) for c in DECODER_COLUMNS}
ADDRESS_COLUMNS = frozenset(c.name for c in DECODER_COLUMNS if c.dtype == "S16")
ARRAY_COLUMNS = frozenset(c.name for c in DECODER_COLUMNS if c.dtype == "O")
MAC_COLUMNS = frozenset({"SrcMAC", "DstMAC"})

# Shared by every row without an array value; read-only so nobody mutates it by accident.
EMPTY_U32 = np.zeros(0, dtype=np.uint32)
EMPTY_U32.flags.writeable = False

# Columns no chunk of a batch gives (NAT addresses for a plain NetFlow exporter, AS paths
# without sFlow gateway records...): one shared read-only array of zeros (empty arrays) per
# dtype, sliced, instead of a fresh one per batch; grown to the largest batch.
_ABSENT: dict[str, np.ndarray] = {}


def absent_column(dtype: np.dtype[Any], n: int) -> np.ndarray:
    """`n` zeros (or empty arrays) of `dtype`, read-only: replace the column, never write it."""
    have = _ABSENT.get(dtype.str)
    if have is None or len(have) < n:
        size = max(n, 2 * len(have) if have is not None else 1024)
        if dtype.kind == "O":
            have = np.empty(size, dtype=object)
            have.fill(EMPTY_U32)
        else:
            have = np.zeros(size, dtype=dtype)
        have.flags.writeable = False
        _ABSENT[dtype.str] = have
    return have[:n]


Chunk = tuple[int, dict[str, Any]]  # (rows, column -> array of `rows` values or a scalar)


class FlowBatch:
    """`n` flows as columns named and typed as `collector.schema.columns.DECODER_COLUMNS`.

    Addresses are 16-byte IPv6 (IPv4 mapped) in `S16` arrays (NumPy drops trailing zero
    bytes when an item is read back: pad to 16 when you need raw bytes); Array columns are
    object arrays of uint32 ndarrays. A column that no flow of the batch has (all zero, all
    empty) is a shared read-only array: replace a column, never write into one.
    """

    __slots__ = ("columns", "n")

    def __init__(self, n: int, columns: dict[str, np.ndarray]) -> None:
        self.n = n
        self.columns = columns

    def __len__(self) -> int:
        return self.n

    def __repr__(self) -> str:
        return f"FlowBatch(n={self.n})"

    @classmethod
    def empty(cls) -> FlowBatch:
        return cls.from_chunks([])

    @classmethod
    def from_chunks(cls, chunks: Sequence[Chunk]) -> FlowBatch:
        """Assemble chunks; columns a chunk does not mention are zero (or empty arrays)."""
        total = sum(n for n, _ in chunks)
        count = len(chunks)
        columns: dict[str, np.ndarray] = {}
        for name, dtype in COLUMN_DTYPES.items():
            values: list[Any] = [cols.get(name) for _, cols in chunks]
            given = sum(1 for v in values if v is not None)
            if not given:
                columns[name] = absent_column(dtype, total)
                continue
            if given == count and dtype.kind != "O" and set(map(type, values)) == {np.ndarray}:
                if count == 1 and values[0].dtype == dtype and values[0].shape == (total,):
                    columns[name] = values[0]  # as is: columns are replaced, never written into
                    continue
                joined = np.concatenate(values, dtype=dtype, casting="unsafe")  # cast in one go
                if joined.shape == (total,):
                    columns[name] = joined
                    continue
            if dtype.kind == "O":
                arr = np.empty(total, dtype=object)
                if given < count:
                    arr.fill(EMPTY_U32)
            else:
                arr = (
                    np.empty(total, dtype=dtype) if given == count else np.zeros(total, dtype=dtype)
                )
            start = 0
            for (n, _), value in zip(chunks, values, strict=True):
                if value is not None:
                    arr[start : start + n] = value
                start += n
            columns[name] = arr
        return cls(total, columns)

    @classmethod
    def concat(cls, batches: Iterable[FlowBatch]) -> FlowBatch:
        batches = [b for b in batches if b.n]
        if not batches:
            return cls.empty()
        if len(batches) == 1:
            return batches[0]
        cols = {name: np.concatenate([b.columns[name] for b in batches]) for name in COLUMN_DTYPES}
        return cls(sum(b.n for b in batches), cols)

    def to_rows(self) -> list[dict[str, Any]]:
        """One dict per flow, JSON-ready: addresses as text, MACs as aa:bb:.., arrays as lists."""
        names = list(COLUMN_DTYPES)
        lists: list[list[Any]] = []
        for name in names:
            col = self.columns[name]
            if name in ADDRESS_COLUMNS:
                lists.append([bytes_to_address(v.ljust(16, b"\0")) for v in col])
            elif name in ARRAY_COLUMNS:
                lists.append([[int(x) for x in v] for v in col])
            elif name in MAC_COLUMNS:
                lists.append([format_mac(int(v)) for v in col])
            else:
                lists.append(col.tolist())
        return [dict(zip(names, values, strict=True)) for values in zip(*lists, strict=True)]


def format_mac(value: int) -> str:
    raw = value.to_bytes(8, "big")[2:]
    return ":".join(f"{b:02x}" for b in raw)
