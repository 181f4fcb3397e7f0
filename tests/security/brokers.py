"""Tansu with TLS in front of it, and Tansu requiring SASL, for the Kafka security tests.

Tansu 0.6.0 accepts `--cert` or `--key` (clap refuses both together) but its listener still
speaks plaintext: a TLS ClientHello is read as a Kafka frame and the connection ends with
"early eof". So the tests terminate TLS in front of it, as a load balancer would: a TLS server
(Python's `ssl`, no stunnel/socat on these machines) that requires a client certificate
signed by the test CA and relays the bytes to Tansu, which advertises the TLS port.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
import threading
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from collector.devservices.base import free_port
from collector.devservices.kafka import KafkaBroker


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write(path: Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
    path.with_suffix(".pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    path.with_suffix(".key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def make_pki(directory: Path) -> dict[str, Path]:
    """A CA, a broker certificate for 127.0.0.1 and a client certificate, all signed by the CA,
    plus a second CA that signed nothing here (to be refused). Returns their paths."""
    now = datetime.datetime.now(datetime.UTC)

    def cert(
        subject: str,
        key: ec.EllipticCurvePrivateKey,
        issuer: x509.Name | None,
        signer: ec.EllipticCurvePrivateKey,
        usage: list[x509.ObjectIdentifier] | None,
    ) -> x509.Certificate:
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
        builder = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(issuer or name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=usage is None, path_length=None), True)
        )
        if usage is not None:
            builder = builder.add_extension(x509.ExtendedKeyUsage(usage), False)
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                False,
            )
        return builder.sign(signer, hashes.SHA256())

    ca_key, other_key = _key(), _key()
    ca = cert("flowweir test CA", ca_key, None, ca_key, None)
    other = cert("some other CA", other_key, None, other_key, None)
    out: dict[str, Path] = {}
    for name, c, k in (("ca", ca, ca_key), ("other-ca", other, other_key)):
        _write(directory / name, c, k)
        out[name] = directory / f"{name}.pem"
    for name, usage in (
        ("broker", [ExtendedKeyUsageOID.SERVER_AUTH]),
        ("client", [ExtendedKeyUsageOID.CLIENT_AUTH]),
    ):
        key = _key()
        _write(directory / name, cert(name, key, ca.subject, ca_key, usage), key)
        out[name] = directory / f"{name}.pem"
        out[f"{name}-key"] = directory / f"{name}.key"
    return out


class TLSTerminator:
    """Accepts TLS (client certificate required) on `port` and relays to `upstream`."""

    def __init__(self, pki: dict[str, Path], upstream: int, port: int) -> None:
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=pki["ca"])
        self.context.load_cert_chain(pki["broker"], pki["broker-key"])
        self.context.verify_mode = ssl.CERT_REQUIRED
        self.upstream, self.port = upstream, port
        self.handshakes_refused = 0
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self._ready.wait(5)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(
            asyncio.start_server(self._client, "127.0.0.1", self.port)
        )
        self._ready.set()
        self.loop.run_forever()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await writer.start_tls(self.context)  # TLS over the accepted TCP connection
        except (OSError, ssl.SSLError):
            self.handshakes_refused += 1  # e.g. the client does not trust our certificate
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream)
        except OSError:
            writer.close()
            return

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (OSError, ssl.SSLError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    def close(self) -> None:
        def stop() -> None:
            self.server.close()
            self.loop.stop()

        self.loop.call_soon_threadsafe(stop)
        self._thread.join(5)


class TLSBroker(KafkaBroker):
    """Tansu on a plaintext port, advertised as the TLS port of a terminator in front of it."""

    def __init__(self, pki: dict[str, Path]) -> None:
        super().__init__(advertised_port=free_port())
        self.pki = pki

    def start(self) -> TLSBroker:
        super().start()
        self.terminator = TLSTerminator(self.pki, self.listen_port, self.port)
        return self

    def stop(self) -> None:
        self.terminator.close()
        super().stop()


def auth_broker() -> KafkaBroker:
    """Tansu with `--authentication` (SASL SCRAM required). It has no user, and none can be
    made: `tansu user create` must itself authenticate first (NotAuthenticated), the memory
    store is per process, and the users made through a broker without `--authentication` on
    a shared S3 store (moto) were never written there. So every login is refused, which shows
    that the clients' SASL settings reach the broker and how a refusal reads."""
    return KafkaBroker(args=("--authentication",))
