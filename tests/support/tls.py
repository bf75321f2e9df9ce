"""Throwaway TLS material for tests: a CA, and certificates it signs (``cryptography``)."""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class Issued:
    """PEM files of one certificate and its (unencrypted, or ``password``-encrypted) key."""

    cert: Path
    key: Path


class LocalCA:
    """A certificate authority in ``folder``: its ``pem``, and :meth:`issue` for leaf certs."""

    def __init__(self, folder: Path, name: str = "actionstream test CA") -> None:
        self.folder = folder
        self._key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = dt.datetime.now(dt.UTC)
        self._cert = (
            x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(self._key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self._key, hashes.SHA256())
        )  # fmt: skip
        self.pem = folder / f"{name.replace(' ', '-')}.pem"
        self.pem.write_bytes(self._cert.public_bytes(serialization.Encoding.PEM))

    @classmethod
    def of(cls, folder: Path, pem: Path, key: Path) -> LocalCA:
        """The CA whose certificate and key are ``pem`` and ``key`` (e.g. the local stack's),
        issuing into ``folder``."""
        ca = cls.__new__(cls)
        ca.folder, ca.pem = folder, pem
        ca._cert = x509.load_pem_x509_certificate(pem.read_bytes())
        ca._key = serialization.load_pem_private_key(key.read_bytes(), password=None)  # type: ignore[assignment]
        return ca

    def issue(
        self, name: str, *, hosts: tuple[str, ...] = (), password: bytes | None = None
    ) -> Issued:
        """A certificate for ``name`` (and ``hosts`` as SANs: IPs or DNS names)."""
        key = ec.generate_private_key(ec.SECP256R1())
        sans: list[x509.GeneralName] = []
        for host in hosts:
            try:
                sans.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                sans.append(x509.DNSName(host))
        now = dt.datetime.now(dt.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(self._cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
        )  # fmt: skip
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        cert = builder.sign(self._key, hashes.SHA256())
        encryption: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(password)
            if password
            else serialization.NoEncryption()
        )
        issued = Issued(self.folder / f"{name}.pem", self.folder / f"{name}.key")
        issued.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        issued.key.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
            )
        )
        return issued
