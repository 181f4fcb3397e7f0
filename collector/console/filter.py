"""The console's filter language: a grammar (lark), its translation to SQL, and completion.

    InIfBoundary = external AND (SrcAS = AS15169 OR DstAddr << 192.0.2.0/24) AND NOT Proto = tcp

- comparisons `= != < <= > >=`, `IN (a, b)`, `NOT IN (...)`, `LIKE`/`ILIKE` (strings,
  `%` and `_` wildcards), `<<` (address in subnet); `AND`, `OR`, `NOT`, parentheses;
  comments `-- to the end of the line` and `/* ... */`; keywords are case-insensitive.
- Values are bare words (`tcp`, `AS15169`, `443`, `192.0.2.0/24`, `external`) or quoted
  strings (`"edge1"`, `'Transit: Cogent'`, backslash escapes the quote).
- Nothing the user typed reaches ClickHouse as SQL: column names are looked up in
  the dimension catalogue, numbers are parsed as integers, addresses become hex
  literals, strings are escaped with `sql_string`.

`parse_filter(text)` returns a `Filter` (the SQL and the columns it reads) or raises
`FilterError` with the 1-based line/column and 0-based offset of the problem.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from lark import (
    Lark,
    Token,
    Transformer,
    Tree,
    UnexpectedCharacters,
    UnexpectedEOF,
    UnexpectedInput,
    UnexpectedToken,
    v_args,
)
from lark.exceptions import VisitError

from collector.console.dimensions import FILTER_COLUMNS, FilterColumn, reverse_name

MAX_FILTER_LENGTH = 4096

GRAMMAR = r"""
?start: expr?
?expr: or_expr
?or_expr: and_expr (_OR and_expr)*
?and_expr: not_expr (_AND not_expr)*
?not_expr: _NOT not_expr -> negation
         | atom
?atom: "(" expr ")"
     | comparison
comparison: COLUMN OPERATOR value                             -> compare
          | COLUMN _IN "(" value ("," value)* ")"             -> in_list
          | COLUMN _NOT _IN "(" value ("," value)* ")"        -> not_in_list
          | COLUMN LIKE STRING                                -> like
          | COLUMN _NOT LIKE STRING                           -> not_like
?value: STRING | WORD

_AND.3: /AND\b/i
_OR.3: /OR\b/i
_NOT.3: /NOT\b/i
_IN.3: /IN\b/i
LIKE.3: /I?LIKE\b/i
COLUMN.2: /[A-Za-z][A-Za-z0-9]*/
OPERATOR: "<<" | "<=" | ">=" | "!=" | "=" | "<" | ">"
STRING: /"(\\.|[^"\\])*"/ | /'(\\.|[^'\\])*'/
WORD: /[A-Za-z0-9_.:\/+-]+/
COMMENT: /--[^\n]*/ | /\/\*(.|\n)*?\*\//
%import common.WS
%ignore WS
%ignore COMMENT
"""


@cache
def _parser() -> Lark:
    return Lark(GRAMMAR, parser="lalr", propagate_positions=True, maybe_placeholders=False)


@dataclass
class FilterError(Exception):
    """A filter the user must fix: message, 1-based line and column, 0-based offset."""

    message: str
    offset: int = 0
    line: int = 1
    column: int = 1

    def __str__(self) -> str:
        return f"{self.message} (line {self.line}, column {self.column})"


@dataclass
class Filter:
    sql: str  # "1" for an empty filter
    columns: set[str] = field(default_factory=set)  # table columns the SQL reads


def _position(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, column


def _error_at(text: str, offset: int, message: str) -> FilterError:
    line, column = _position(text, offset)
    return FilterError(message, offset, line, column)


_EXPECTED_NAMES = {
    "COLUMN": "a column name",
    "OPERATOR": "an operator (= != < <= > >= <<)",
    "STRING": "a quoted string",
    "WORD": "a value",
    "LPAR": "(",
    "RPAR": ")",
    "_AND": "AND",
    "_OR": "OR",
    "_NOT": "NOT",
    "_IN": "IN",
    "LIKE": "LIKE",
    "COMMA": ",",
}


def _expected(names: set[str]) -> str:
    shown = sorted({_EXPECTED_NAMES.get(n, n) for n in names if not n.startswith("__")})
    return ", ".join(shown) if shown else "nothing more"


class _ToSQL(Transformer[Token, str]):
    def __init__(self, text: str, reverse: bool) -> None:
        super().__init__()
        self.text = text
        self.reverse = reverse
        self.columns: set[str] = set()

    def _column(self, token: Token) -> FilterColumn:
        col = FILTER_COLUMNS.get(token.value.lower())
        if col is None:
            raise _error_at(self.text, token.start_pos or 0, f"unknown column {token.value!r}")
        if self.reverse:
            col = FILTER_COLUMNS[reverse_name(col.name).lower()]
        self.columns.add(col.name)
        return col

    def _value(self, col: FilterColumn, token: Token, operator: str = "=") -> str:
        raw = token.value
        if token.type == "STRING":
            raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
        try:
            return col.literal(raw, operator)
        except ValueError as exc:
            raise _error_at(self.text, token.start_pos or 0, f"{col.name}: {exc}") from None

    @v_args(inline=True)
    def compare(self, column: Token, operator: Token, value: Token) -> str:
        col = self._column(column)
        op = operator.value
        if op == "<<":
            if col.kind != "ip":
                raise _error_at(
                    self.text, operator.start_pos or 0, f"<< applies to addresses, not {col.name}"
                )
            low, high = _subnet_bounds(self, col, value)
            return f"({col.sql} BETWEEN {low} AND {high})"
        if op not in ("=", "!=") and col.kind in ("string", "enum"):
            raise _error_at(
                self.text, operator.start_pos or 0, f"{col.name} compares with = or != only"
            )
        return f"({col.sql} {op} {self._value(col, value, op)})"

    def _list(self, items: list[Token]) -> tuple[FilterColumn, str]:
        col = self._column(items[0])
        values = ", ".join(self._value(col, t) for t in items[1:])
        return col, values

    def in_list(self, items: list[Token]) -> str:
        col, values = self._list(items)
        return f"({col.sql} IN ({values}))"

    def not_in_list(self, items: list[Token]) -> str:
        col, values = self._list(items)
        return f"({col.sql} NOT IN ({values}))"

    def _like(self, column: Token, op: Token, pattern: Token, negate: bool) -> str:
        col = self._column(column)
        if col.kind != "string":
            raise _error_at(self.text, op.start_pos or 0, f"LIKE applies to text, not {col.name}")
        literal = self._value(col, pattern)
        if op.value.upper() == "ILIKE":  # ILIKE is missing before ClickHouse 19: lower() both
            expr = f"lower({col.sql}) LIKE lower({literal})"
        else:
            expr = f"{col.sql} LIKE {literal}"
        return f"(NOT {expr})" if negate else f"({expr})"

    @v_args(inline=True)
    def like(self, column: Token, op: Token, pattern: Token) -> str:
        return self._like(column, op, pattern, False)

    @v_args(inline=True)
    def not_like(self, column: Token, op: Token, pattern: Token) -> str:
        return self._like(column, op, pattern, True)

    @v_args(inline=True)
    def negation(self, inner: str) -> str:
        return f"(NOT {inner})"

    def and_expr(self, items: list[str]) -> str:
        return "(" + " AND ".join(items) + ")"

    def or_expr(self, items: list[str]) -> str:
        return "(" + " OR ".join(items) + ")"


def _subnet_bounds(tr: _ToSQL, col: FilterColumn, token: Token) -> tuple[str, str]:
    raw = token.value.strip("\"'")
    try:
        net = ipaddress.ip_network(raw, strict=False)
    except ValueError:
        raise _error_at(
            tr.text, token.start_pos or 0, f"{col.name}: {raw!r} is not a subnet (192.0.2.0/24)"
        ) from None
    low, high = net.network_address, net.broadcast_address
    return _ip_literal(low), _ip_literal(high)


def _ip_literal(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    if isinstance(addr, ipaddress.IPv4Address):
        addr = ipaddress.IPv6Address("::ffff:" + str(addr))
    return f"toFixedString(unhex('{addr.packed.hex()}'), 16)"


def ip_literal(text: str) -> str:
    """An address as the 16-byte column value; raises ValueError."""
    return _ip_literal(ipaddress.ip_address(text))


def parse_filter(text: str, reverse: bool = False) -> Filter:
    """The SQL condition for `text` (reverse: In<->Out and Src<->Dst swapped)."""
    if len(text) > MAX_FILTER_LENGTH:
        raise _error_at(
            text, MAX_FILTER_LENGTH, f"filter longer than {MAX_FILTER_LENGTH} characters"
        )
    try:
        tree = _parser().parse(text)
    except UnexpectedCharacters as exc:
        pos = exc.pos_in_stream or 0
        raise _error_at(text, pos, f"unexpected character {text[pos]!r}") from None
    except UnexpectedEOF as exc:
        raise _error_at(
            text, len(text), f"filter ends too early; expected {_expected(set(exc.expected))}"
        ) from None
    except UnexpectedToken as exc:
        offset = exc.token.start_pos if exc.token.start_pos is not None else len(text)
        if exc.token.type == "$END":
            message = f"filter ends too early; expected {_expected(exc.expected)}"
            offset = len(text)
        else:
            message = f"unexpected {exc.token.value!r}; expected {_expected(exc.expected)}"
        raise _error_at(text, offset, message) from None
    except UnexpectedInput as exc:  # pragma: no cover - the subclasses above cover lalr
        raise _error_at(text, getattr(exc, "pos_in_stream", 0) or 0, "cannot parse") from None
    if isinstance(tree, Tree) and tree.data == "start" and not tree.children:
        return Filter("1")
    transformer = _ToSQL(text, reverse)
    try:
        result: Any = transformer.transform(tree)
    except VisitError as exc:
        if isinstance(exc.orig_exc, FilterError):
            raise exc.orig_exc from None
        raise
    if isinstance(result, Tree):  # start with one child
        result = result.children[0]
    return Filter(str(result), transformer.columns)


# -- completion ----------------------------------------------------------------------

OPERATORS = ("=", "!=", "<", "<=", ">", ">=", "<<", "IN", "NOT IN", "LIKE", "ILIKE")
_TAIL = re.compile(
    r"(?:(?<![A-Za-z0-9])(?P<col>[A-Za-z][A-Za-z0-9]*)\s*"
    r"(?P<op><<|<=|>=|!=|=|<|>|(?i:(?:not\s+)?in)\s*\((?:[^()]*,)?|(?i:(?:not\s+)?i?like)\s)\s*)?"
    r"(?P<word>[\"']?[^\s()\"',]*)$"
)


@dataclass
class CompletionContext:
    """What the word under the cursor can be: `column`, `operator` or `value` (of `column`)."""

    kind: str
    prefix: str  # the partial word typed so far
    start: int  # offset where the replacement begins
    column: str = ""


def completion_context(text: str, cursor: int) -> CompletionContext:
    before = text[:cursor]
    m = _TAIL.search(before)
    assert m is not None  # the pattern matches any string's end (the word may be empty)
    word = m.group("word")
    start = cursor - len(word)
    if m.group("col") and m.group("op"):
        col = FILTER_COLUMNS.get(m.group("col").lower())
        if col is not None:
            return CompletionContext("value", word, start, col.name)
    # The word before this one: a column (then this is an operator) or a keyword/value.
    head = before[:start].rstrip()
    words = re.findall(r"[A-Za-z][A-Za-z0-9]*$|\S$", head)
    last = words[0] if words else ""
    if not head or head.endswith("(") or last.upper() in ("AND", "OR", "NOT"):
        return CompletionContext("column", word, start)
    col = FILTER_COLUMNS.get(last.lower())
    before_last = head[: len(head) - len(last)].rstrip()
    after_operator = re.search(r"(<<|<=|>=|!=|=|<|>)$", before_last) is not None
    if col is not None and head.endswith(last) and not after_operator:
        return CompletionContext("operator", word, start, col.name)
    return CompletionContext("keyword", word, start)
