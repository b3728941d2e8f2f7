"""Self-signed PKI for one sandbox cluster: CA, API serving cert, client certs, service-account keys.

Why: a real kube-apiserver needs TLS and authenticated clients, and every
sandbox cluster must be independent (its own CA), like two AKS clusters are.
EC P-256 keys keep generation to milliseconds; kube-apiserver accepts ECDSA
for serving, client auth and service-account token signing (ES256).
Keys are written 0600 into the cluster's private state directory, which the
launcher removes with the cluster.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
from pathlib import Path

from errors import AkshiftError, ErrorKind

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
except ModuleNotFoundError as e:  # a user install without the sandbox extra
    raise AkshiftError("the sandbox needs the 'cryptography' package", kind=ErrorKind.ENVIRONMENT,
                       fix="pip install 'akshift[sandbox]'") from e


@dataclasses.dataclass(frozen=True)
class Pki:
    """Paths of the files one cluster needs."""

    dir: Path

    def __getattr__(self, name: str) -> Path:  # ca_crt → ca.crt, admin_key → admin.key
        if name.startswith("_"):
            raise AttributeError(name)
        stem, _, ext = name.rpartition("_")
        return self.dir / f"{stem.replace('_', '-')}.{ext}"


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.touch(mode=0o600)
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))


def _cert(subject: x509.Name, key: ec.EllipticCurvePrivateKey, issuer: x509.Name, issuer_key: ec.EllipticCurvePrivateKey,
          *, ca: bool = False, server_names: tuple[str, ...] = (), client: bool = False) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
         .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
         .not_valid_after(now + dt.timedelta(days=30))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
         # Key identifiers, as every public CA issues them: Python 3.13's default TLS context is strict
         # (VERIFY_X509_STRICT) and refuses a chain without an Authority Key Identifier.
         .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
         .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False))
    if ca:
        b = b.add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                                          key_encipherment=False, data_encipherment=False, key_agreement=False,
                                          encipher_only=False, decipher_only=False), critical=True)
    else:
        usages = [ExtendedKeyUsageOID.CLIENT_AUTH] if client else [ExtendedKeyUsageOID.SERVER_AUTH]
        b = b.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    if server_names:
        sans: list[x509.GeneralName] = []
        for n in server_names:
            try:
                sans.append(x509.IPAddress(ipaddress.ip_address(n)))
            except ValueError:
                sans.append(x509.DNSName(n))
        b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return b.sign(issuer_key, hashes.SHA256())


def _name(cn: str, org: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    return x509.Name(attrs)


# Client identities the components use; RBAC's bootstrap policy knows these users.
CLIENTS = {
    "admin": ("kubernetes-admin", "system:masters"),
    "controller-manager": ("system:kube-controller-manager", None),
    "scheduler": ("system:kube-scheduler", None),
}


def generate(directory: Path, service_ip: str = "10.0.0.1") -> Pki:
    """Write a fresh CA, serving cert, client certs and SA key pair into ``directory``.

    Returns:
        The :class:`Pki` whose attributes name the files (``pki.ca_crt``, ``pki.admin_key`` …).
    """
    directory.mkdir(parents=True, exist_ok=True)
    pki = Pki(directory)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("akshift-sandbox-ca")
    ca = _cert(ca_name, ca_key, ca_name, ca_key, ca=True)
    _write_key(pki.ca_key, ca_key)
    pki.ca_crt.write_bytes(ca.public_bytes(serialization.Encoding.PEM))

    key = ec.generate_private_key(ec.SECP256R1())
    names = ("127.0.0.1", service_ip, "localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
             "kubernetes.default.svc.cluster.local")
    _write_key(pki.serving_key, key)
    pki.serving_crt.write_bytes(_cert(_name("kube-apiserver"), key, ca_name, ca_key, server_names=names)
                                .public_bytes(serialization.Encoding.PEM))
    for stem, (cn, org) in CLIENTS.items():
        key = ec.generate_private_key(ec.SECP256R1())
        _write_key(directory / f"{stem}.key", key)
        (directory / f"{stem}.crt").write_bytes(_cert(_name(cn, org), key, ca_name, ca_key, client=True)
                                                .public_bytes(serialization.Encoding.PEM))
    sa = ec.generate_private_key(ec.SECP256R1())
    _write_key(pki.sa_key, sa)
    pki.sa_pub.write_bytes(sa.public_key().public_bytes(serialization.Encoding.PEM,
                                                       serialization.PublicFormat.SubjectPublicKeyInfo))
    return pki


def generate_server(directory: Path, names: tuple[str, ...]) -> tuple[Path, Path, Path]:
    """A fresh CA and one serving certificate for ``names`` (DNS names or IPs), for loopback TLS stand-ins.

    Used where a test needs a real TLS server whose name differs from its address (a gate that
    probes green by IP with a ``Host``/SNI override) without touching a cluster's PKI.

    Args:
        directory: where ``ca.crt``, ``server.crt`` and ``server.key`` (0600) are written.
        names: the subject alternative names of the serving certificate.

    Returns:
        The paths (ca.crt, server.crt, server.key).
    """
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("akshift-loopback-ca")
    ca_crt = directory / "ca.crt"
    ca_crt.write_bytes(_cert(ca_name, ca_key, ca_name, ca_key, ca=True).public_bytes(serialization.Encoding.PEM))
    key = ec.generate_private_key(ec.SECP256R1())
    key_path, crt = directory / "server.key", directory / "server.crt"
    _write_key(key_path, key)
    crt.write_bytes(_cert(_name(names[0]), key, ca_name, ca_key, server_names=names)
                    .public_bytes(serialization.Encoding.PEM))
    return ca_crt, crt, key_path
