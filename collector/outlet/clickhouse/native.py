"""ClickHouse Native format for one block, built from NumPy columns without a per-row loop.

Why not let clickhouse-driver encode: it writes String and Array columns value by
value (about 70 ns per string, 1.5 us per array row), which alone exceeded the
outlet's whole CPU budget per flow. Here every column is one or a few `tobytes()`
calls:

- numbers, DateTime, FixedString(N): the array's little-endian bytes;
- String columns arrive dictionary-encoded (`Strings`: distinct values and one
  code per row, as the enricher builds them): LowCardinality(String) sends the
  dictionary and the codes; plain String joins the pre-encoded distinct values;
- Array(T): UInt64 end offsets, then the concatenated items.

The layout follows ClickHouse's `NativeWriter` (and clickhouse-driver's column
writers, against which tests/outlet/test_native.py checks it on the real server).
"""

from __future__ import annotations

import ctypes
import struct
from collections.abc import Sequence
from typing import Any

import numpy as np

from collector.outlet.core.strings import Strings
from collector.outlet.decoder.batch import EMPTY_U32

# ClickHouse numeric types and their little-endian NumPy dtypes (DateTime is UInt32 seconds).
NUMERIC = {
    "UInt8": "<u1",
    "UInt16": "<u2",
    "UInt32": "<u4",
    "UInt64": "<u8",
    "Int8": "<i1",
    "Int16": "<i2",
    "Int32": "<i4",
    "Int64": "<i8",
    "Float32": "<f4",
    "Float64": "<f8",
    "DateTime": "<u4",
}

# LowCardinality serialization (ClickHouse SerializationLowCardinality).
_LC_KEYS_VERSION = 1  # SharedDictionariesWithAdditionalKeys, written once per column
_LC_FLAGS = (1 << 9) | (1 << 10)  # HasAdditionalKeysBit | NeedUpdateDictionary
_LC_KEY_TYPES = ((1 << 8, "<u1"), (1 << 16, "<u2"), (1 << 32, "<u4"), (1 << 64, "<u8"))

_U64 = struct.Struct("<Q")


class EncodeError(ValueError):
    """A column cannot be written as the type the server asked for."""


def varuint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def string(value: str | bytes) -> bytes:
    raw = value.encode() if isinstance(value, str) else value
    return varuint(len(raw)) + raw


def encode_column(ch_type: str, items: Any, n: int) -> list[bytes]:
    """The bytes of one column of `n` rows, as the type `ch_type` the server announced."""
    if len(items) != n:
        raise EncodeError(f"{len(items)} rows, the block has {n}")
    if ch_type in NUMERIC:
        return [np.ascontiguousarray(items, dtype=NUMERIC[ch_type]).tobytes()]
    if ch_type.startswith("FixedString("):
        width = int(ch_type[12:-1])
        arr = np.asarray(items)
        if arr.dtype != np.dtype(f"S{width}"):
            arr = arr.astype(f"S{width}")
        return [arr.tobytes()]
    if ch_type == "String":
        return [_plain_strings(Strings.from_items(items), n)]
    if ch_type == "LowCardinality(String)":
        return _low_cardinality(Strings.from_items(items), n)
    if ch_type.startswith("Array(") and ch_type[6:-1] in NUMERIC:
        return _array(NUMERIC[ch_type[6:-1]], items, n)
    raise EncodeError(f"type {ch_type} is not supported by the outlet's encoder")


def _encoded_values(column: Strings) -> list[bytes]:
    return [string(v) for v in column.values]


def _plain_strings(column: Strings, n: int) -> bytes:
    if n == 0:
        return b""
    encoded = _encoded_values(column)
    if len(encoded) == 1:
        return encoded[0] * n
    return b"".join(np.array(encoded, dtype=object)[column.codes].tolist())


def _low_cardinality(column: Strings, n: int) -> list[bytes]:
    prefix = _U64.pack(_LC_KEYS_VERSION)
    if n == 0:  # ClickHouse writes only the prefix for an empty column
        return [prefix]
    encoded = _encoded_values(column)
    key_type, key_dtype = next(
        (i, dt) for i, (limit, dt) in enumerate(_LC_KEY_TYPES) if len(encoded) <= limit
    )
    return [
        prefix,
        _U64.pack(_LC_FLAGS | key_type),
        _U64.pack(len(encoded)),
        *encoded,
        _U64.pack(n),
        np.ascontiguousarray(column.codes, dtype=key_dtype).tobytes(),
    ]


def _array(dtype: str, items: Any, n: int) -> list[bytes]:
    items = np.ascontiguousarray(items, dtype=object)
    rows = _not_shared_empty(items)  # most rows hold the decoders' shared empty array
    filled = items[rows]
    lengths = np.zeros(n, dtype="<u8")
    lengths[rows] = np.fromiter(map(len, filled), dtype=np.uint64, count=len(rows))
    offsets = np.cumsum(lengths, dtype="<u8")
    if n == 0 or offsets[-1] == 0:
        return [offsets.tobytes()]
    data = np.concatenate([np.asarray(x, dtype=dtype) for x in filled if len(x)])
    return [offsets.tobytes(), data.tobytes()]


def _not_shared_empty(items: np.ndarray) -> np.ndarray:
    """Indexes of the rows of `items` (a C-contiguous object array) that are not `EMPTY_U32`
    itself, without a Python loop.

    An object array stores one PyObject pointer per row and CPython's `id()` is that
    pointer, so the rows are read as integers and compared at C speed (a len() per row
    costs ~40 ns).
    """
    if len(items) == 0:
        return np.zeros(0, dtype=np.intp)
    view = (ctypes.c_size_t * len(items)).from_address(items.ctypes.data)
    pointers = np.ctypeslib.as_array(view)
    return np.flatnonzero(pointers != id(EMPTY_U32))


def encode_block(
    columns: Sequence[tuple[str, str]],
    data: dict[str, Any],
    n: int,
    custom_serialization_flag: bool = False,
) -> list[bytes]:
    """Native-format block body: column count, row count, then name, type and data per column.

    `columns` is (name, type) as the server announced them for the INSERT;
    `custom_serialization_flag` adds the per-column byte newer protocol revisions expect.
    """
    out = [varuint(len(columns)), varuint(n)]
    for name, ch_type in columns:
        if name not in data:
            raise EncodeError(f"column {name} ({ch_type}) is missing from the batch")
        out += [string(name), string(ch_type)]
        if custom_serialization_flag:
            out.append(b"\x00")
        try:
            out += encode_column(ch_type, data[name], n)
        except (EncodeError, ValueError, TypeError) as exc:
            raise EncodeError(f"column {name} ({ch_type}): {exc}") from exc
    return out
