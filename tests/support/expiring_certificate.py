#!/usr/bin/env python3
"""Prints a self-signed PEM certificate for DOMAIN with the given private key that has lived 89 of its 90
days: what a certificate authority's certificate looks like when it is due for renewal.

  expiring_certificate.py DOMAIN KEY.pem
"""
import datetime
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID


def main():
    domain, key_path = sys.argv[1], sys.argv[2]
    with open(key_path, "rb") as key_file:
        key = serialization.load_pem_private_key(key_file.read(), password=None)
    now = datetime.datetime.now(datetime.timezone.utc)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, domain)])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=89))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(domain)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    sys.stdout.write(certificate.public_bytes(serialization.Encoding.PEM).decode())


if __name__ == "__main__":
    main()
