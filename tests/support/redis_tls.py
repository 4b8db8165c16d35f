"""A TLS-only Redis with an ACL user, for the store's TLS and authentication options."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from .redis_servers import HOST, RedisServer, free_port, server_args


def start_secured(workdir: Path, user: str, password: str) -> tuple[RedisServer, Path]:
    """A TLS-only Redis (self-signed certificate for 127.0.0.1) where only `user` may log in;
    returns the server and the CA file that verifies it."""
    ca = self_signed_certificate(workdir)
    context = ssl.create_default_context(cafile=str(ca))
    args = [*server_args(False), "--tls-cert-file", str(ca), "--tls-key-file", str(workdir / "tls.key"),
            "--tls-ca-cert-file", str(ca), "--tls-auth-clients", "no", "--user", "default", "off",
            "--user", user, "on", f">{password}", "~*", "&*", "+@all"]  # fmt: skip
    return RedisServer(workdir, free_port(), args, tls=context).start(), ca


def self_signed_certificate(workdir: Path) -> Path:
    """tls.crt (also its own CA) and tls.key for 127.0.0.1 in `workdir`."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(HOST))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "tls.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ))  # fmt: skip
    crt = workdir / "tls.crt"
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return crt
