"""Who is asking: built-in users (HTTP Basic, scrypt hashes) or a trusted reverse proxy's headers.

A request without valid credentials gets 401 (users mode, with a Basic challenge so a
browser asks) or 403 (proxy mode: the header is missing or the peer is not a trusted
proxy). Password hashes: `scrypt$N$r$p$salt$hash` (base64), from `hash_password`,
which `flowweir console hash-password` prints; hashlib's scrypt, so no extra library.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import os
from dataclasses import dataclass

from collector.console.config import AuthConfig

_N, _R, _P = 2**14, 8, 1


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt if salt is not None else os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    b64 = base64.b64encode
    return f"scrypt${_N}${_R}${_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        _, n, r, p, salt, digest = stored.split("$")
        expected = base64.b64decode(digest)
        got = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
            maxmem=2**26,
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


@dataclass(frozen=True)
class Identity:
    name: str
    email: str = ""


class AuthError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Authenticator:
    def __init__(self, config: AuthConfig) -> None:
        self.config = config
        self.users = {u.name: u for u in config.users}
        self.proxies = [ipaddress.ip_network(n, strict=False) for n in config.trusted_proxies]
        self._verified: dict[tuple[str, str], bool] = {}  # scrypt costs ~50 ms: remember

    def identify(self, headers: dict[str, str], peer: str) -> Identity:
        """The user behind a request (headers with lower-case names); raises AuthError."""
        if self.config.mode == "proxy":
            return self._proxy(headers, peer)
        return self._basic(headers.get("authorization", ""))

    def _proxy(self, headers: dict[str, str], peer: str) -> Identity:
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            address = None
        if address is None or not any(address in net for net in self.proxies):
            raise AuthError(403, f"{peer} is not a trusted proxy (console.auth.trusted-proxies)")
        name = headers.get(self.config.user_header.lower(), "").strip()
        if not name:
            raise AuthError(403, f"no {self.config.user_header} header from the proxy")
        return Identity(name, headers.get(self.config.email_header.lower(), "").strip())

    def is_quick(self, headers: dict[str, str]) -> bool:
        """True when `identify` will not hash a password (proxy mode, or credentials seen):
        the caller may run it on the event loop instead of a worker thread."""
        if self.config.mode == "proxy":
            return True
        try:
            name, password = self._credentials(headers.get("authorization", ""))
        except AuthError:
            return True
        return name not in self.users or self._key(name, password) in self._verified

    @staticmethod
    def _credentials(header: str) -> tuple[str, str]:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic" or not value:
            raise AuthError(401, "sign in with a console user (console.auth.users)")
        try:
            name, _, password = base64.b64decode(value, validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            raise AuthError(401, "malformed Basic credentials") from None
        return name, password

    @staticmethod
    def _key(name: str, password: str) -> tuple[str, str]:
        return name, hashlib.sha256(password.encode()).hexdigest()

    def _basic(self, header: str) -> Identity:
        name, password = self._credentials(header)
        user = self.users.get(name)
        if user is None:
            raise AuthError(401, "unknown user or wrong password")
        key = self._key(name, password)
        ok = self._verified.get(key)
        if ok is None:
            ok = verify_password(password, user.password_hash)
            if len(self._verified) > 1000:
                self._verified.clear()
            self._verified[key] = ok
        if not ok:
            raise AuthError(401, "unknown user or wrong password")
        return Identity(name, user.email)
