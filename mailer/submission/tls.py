"""The submission server's TLS context: SUBMISSION_TLS_CERT/KEY, or in debug a self-signed pair made at start."""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import os
import ssl
import tempfile

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from mailer.config import Config, ConfigError

log = logging.getLogger(__name__)


def server_context(config: Config, hostname: str) -> ssl.SSLContext:
    """A server context (TLS 1.2+) on the configured pair; outside debug and testing the pair is required."""
    cert, key = config.SUBMISSION_TLS_CERT, config.SUBMISSION_TLS_KEY
    if not cert:
        if not (config.DEBUG or config.TESTING):
            raise ConfigError("SUBMISSION_TLS_CERT and SUBMISSION_TLS_KEY are required outside debug")
        cert, key = self_signed_pair(hostname)
        log.warning("SUBMISSION_TLS_CERT is not set: using a self-signed certificate for %s made now, %s "
                    "(trust this file in development clients)", hostname, cert)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    return context


def self_signed_pair(hostname: str) -> tuple[str, str]:
    """PEM files of a fresh self-signed certificate for ``hostname`` (and localhost, 127.0.0.1), valid 30 days."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = dt.datetime.now(dt.UTC)
    names: list[x509.GeneralName] = [x509.DNSName(hostname), x509.DNSName("localhost")]
    names.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .sign(key, hashes.SHA256())
    )
    folder = tempfile.mkdtemp(prefix="mailer-submission-tls-")
    cert_path, key_path = os.path.join(folder, "cert.pem"), os.path.join(folder, "key.pem")
    with open(cert_path, "wb") as handle:
        handle.write(certificate.public_bytes(serialization.Encoding.PEM))
    descriptor = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return cert_path, key_path
