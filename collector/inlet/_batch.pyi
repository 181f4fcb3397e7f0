# The C extension collector/inlet/_batch.c (what collector/inlet/receiver.py wraps).
from collections.abc import Callable

class Receiver:
    def __init__(
        self,
        fd: int,
        max_size: int,
        batch: int,
        header: bytes,
        max_body: int,
        compress: Callable[[bytes], bytes] | None,
    ) -> None: ...
    @property
    def kernel_timestamps(self) -> bool: ...
    def receive(
        self, wait: bool
    ) -> tuple[list[tuple[bytes, bytes, int]], int, int, int, int] | None: ...
