"""STARTTLS for the inbound receiver: reports often carry the returned mail, so they should not cross the
network in clear.

INBOUND_TLS_CERT/INBOUND_TLS_KEY name PEM files; when both are empty a self-signed pair is made at start
(kept in a private temporary directory for the process's life). Mail servers delivering to the bounce
domain encrypt opportunistically and rarely verify the certificate, so a self-signed one still keeps
reports from passive eavesdroppers; an operator who wants more sets real files.
"""

from __future__ import annotations

import datetime
import logging
import os
import ssl
import tempfile

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from mailer.config import Config

log = logging.getLogger(__name__)


def receiver_tls_context(config: Config, hostname: str) -> ssl.SSLContext:
    cert, key = config.INBOUND_TLS_CERT, config.INBOUND_TLS_KEY
    if not cert:
        if not (config.DEBUG or config.TESTING):
            log.warning("INBOUND_TLS_CERT is not set: the receiver offers STARTTLS with a self-signed certificate")
        cert, key = _self_signed(hostname)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    return context


def _self_signed(hostname: str) -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    directory = tempfile.mkdtemp(prefix="mailer-inbound-tls-")  # 0700: only this user reads the key
    cert_path, key_path = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    with open(cert_path, "wb") as out:
        out.write(certificate.public_bytes(serialization.Encoding.PEM))
    with open(os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as out:
        out.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()))
    return cert_path, key_path
