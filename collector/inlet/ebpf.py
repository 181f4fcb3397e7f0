"""Load the inlet's eBPF program (bpf/reuseport_kern.c) with bcc and attach it to one listener's SO_REUSEPORT group.

Everything that can fail here (no bcc, no kernel headers, no capability) is
reported as one reason string; the inlet then runs on the kernel's hash.
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import os
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SO_ATTACH_REUSEPORT_EBPF = 52
BPF_PROG_TYPE_SK_REUSEPORT = 21
BPF_MAP_TYPE_REUSEPORT_SOCKARRAY = 20
BPF_MAP_CREATE = 0
BPF_MAP_UPDATE_ELEM = 2
SYS_BPF = {"x86_64": 321, "aarch64": 280}.get(os.uname().machine, 321)

# The program is package data: collector/inlet/bpf links to the repository's bpf/, and the
# wheel carries the file itself, so a source checkout and an installed inlet find it alike.
SOURCE_CANDIDATES = (Path(__file__).resolve().parent / "bpf" / "reuseport_kern.c",)


class _MapCreateAttr(ctypes.Structure):
    _fields_ = [
        ("map_type", ctypes.c_uint32),
        ("key_size", ctypes.c_uint32),
        ("value_size", ctypes.c_uint32),
        ("max_entries", ctypes.c_uint32),
        ("map_flags", ctypes.c_uint32),
        ("_pad", ctypes.c_byte * 108),
    ]


class _MapElemAttr(ctypes.Structure):
    _fields_ = [
        ("map_fd", ctypes.c_uint32),
        ("_pad0", ctypes.c_uint32),
        ("key", ctypes.c_uint64),
        ("value", ctypes.c_uint64),
        ("flags", ctypes.c_uint64),
        ("_pad", ctypes.c_byte * 96),
    ]


_libc = ctypes.CDLL(None, use_errno=True)


def _bpf(cmd: int, attr: ctypes.Structure) -> int:
    ret = int(_libc.syscall(SYS_BPF, cmd, ctypes.byref(attr), ctypes.sizeof(attr)))
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return ret


def _import_bcc() -> Any:
    """bcc is Debian's python3-bpfcc, outside the virtualenv; its dist-packages go last on the path."""
    try:
        import bcc  # type: ignore[import-not-found]
    except ImportError:
        dist = "/usr/lib/python3/dist-packages"
        if dist not in sys.path:
            sys.path.append(dist)
        import bcc  # type: ignore[import-not-found]
    return bcc


@dataclass
class ReuseportProgram:
    """A loaded program and its socket map; keep it alive as long as the sockets."""

    loaded: bool
    reason: str = ""
    _keep: list[Any] = field(default_factory=list)

    def close(self) -> None:
        for obj in self._keep:
            if isinstance(obj, int):
                with contextlib.suppress(OSError):
                    os.close(obj)
            elif hasattr(obj, "cleanup"):
                with contextlib.suppress(Exception):
                    obj.cleanup()
        self._keep.clear()


def attach_round_robin(sockets: list[socket.socket]) -> ReuseportProgram:
    """Attach a round-robin sk_reuseport program to the group `sockets` belong to."""
    source = next((p for p in SOURCE_CANDIDATES if p.exists()), None)
    if source is None:
        return ReuseportProgram(
            False, f"{SOURCE_CANDIDATES[0]} not found (the flowweir package is incomplete)"
        )
    try:
        bcc = _import_bcc()
    except ImportError:
        return ReuseportProgram(False, "bcc is not installed (Debian package python3-bpfcc)")
    try:
        map_fd = _bpf(
            BPF_MAP_CREATE,
            _MapCreateAttr(BPF_MAP_TYPE_REUSEPORT_SOCKARRAY, 4, 8, len(sockets), 0),
        )
    except OSError as exc:
        return ReuseportProgram(
            False, f"cannot create the socket map: {exc.strerror} (needs CAP_BPF)"
        )
    program = ReuseportProgram(True, _keep=[map_fd])
    try:
        for index, sock in enumerate(sockets):
            key = ctypes.c_uint32(index)
            value = ctypes.c_uint64(sock.fileno())
            _bpf(
                BPF_MAP_UPDATE_ELEM,
                _MapElemAttr(map_fd, 0, ctypes.addressof(key), ctypes.addressof(value), 0),
            )
        # bcc prints compiler diagnostics on stderr; keep them for the reason string.
        stderr = io.StringIO()
        with contextlib.redirect_stderr(stderr):
            bpf = bcc.BPF(
                src_file=str(source).encode(),
                cflags=[f"-DNUM_SOCKETS={len(sockets)}", f"-DSOCKARRAY_FD={map_fd}", "-w"],
            )
        program._keep.append(bpf)
        fn = bpf.load_func(b"select_socket", BPF_PROG_TYPE_SK_REUSEPORT)
        sockets[0].setsockopt(socket.SOL_SOCKET, SO_ATTACH_REUSEPORT_EBPF, fn.fd)
    except OSError as exc:
        program.close()
        return ReuseportProgram(False, f"cannot attach the program: {exc.strerror}")
    except Exception as exc:  # bcc raises plain Exception on compile/load errors
        program.close()
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "kernel headers" in first or "modules" in first or "build" in first:
            first += " (install linux-headers for the running kernel)"
        return ReuseportProgram(False, f"bcc could not load the program: {first}")
    return program


def update_socket(map_fd: int, index: int, sock: socket.socket) -> None:
    """Point slot `index` of the socket map at `sock` (a replacement worker's socket)."""
    key = ctypes.c_uint32(index)
    value = ctypes.c_uint64(sock.fileno())
    _bpf(
        BPF_MAP_UPDATE_ELEM,
        _MapElemAttr(map_fd, 0, ctypes.addressof(key), ctypes.addressof(value), 0),
    )


@dataclass
class LoadResult:
    loaded: bool
    reason: str
    map_fd: int | None = None

    def close(self) -> None:
        if self.map_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self.map_fd)
            self.map_fd = None


def load_isolated(sockets: list[socket.socket], timeout: float = 120) -> LoadResult:
    """Compile and attach in a short-lived child process.

    bcc pulls LLVM into the process (about 120 MB resident); doing it in a
    child keeps the inlet small. The attached program stays with the socket
    group; the child hands the socket map back over a Unix socket so that a
    replacement worker's socket can be put in its slot later.
    """
    import json
    import subprocess

    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    fds = [s.fileno() for s in sockets]
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "collector.inlet.ebpf", str(theirs.fileno()), *map(str, fds)],
            pass_fds=[theirs.fileno(), *fds],
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return LoadResult(False, f"bcc did not finish compiling within {timeout:.0f}s")
    finally:
        theirs.close()
    ours.setblocking(False)
    try:
        msg, received, _, _ = socket.recv_fds(ours, 65536, 1)
    except BlockingIOError:
        err = proc.stderr.decode(errors="replace").strip().splitlines()
        return LoadResult(
            False, f"eBPF loader failed: {err[-1] if err else f'exit {proc.returncode}'}"
        )
    finally:
        ours.close()
    status = json.loads(msg)
    return LoadResult(status["loaded"], status["reason"], received[0] if received else None)


def _child_main(argv: list[str]) -> int:
    import json

    reply = socket.socket(fileno=int(argv[0]))
    sockets = [socket.socket(fileno=int(fd)) for fd in argv[1:]]
    program = attach_round_robin(sockets)
    map_fds = [program._keep[0]] if program.loaded else []
    socket.send_fds(
        reply, [json.dumps({"loaded": program.loaded, "reason": program.reason}).encode()], map_fds
    )
    for s in sockets:
        s.detach()  # the parent's sockets: leave them open
    return 0


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1:]))
