"""A throwaway certificate authority for TLS and mTLS tests, made with the openssl CLI.

``make_pki(tmp_path, clients=["pricing"])`` writes a CA, a server certificate
for 127.0.0.1/localhost and one client certificate per name (the name is the
certificate's CN and DNS SAN: the identity the server's authorization sees).
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


@dataclass(frozen=True)
class KeyPair:
    cert_file: Path
    key_file: Path


@dataclass(frozen=True)
class Pki:
    ca_file: Path
    server: KeyPair
    clients: dict[str, KeyPair]


def _openssl(*args: str | Path) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)


def _issue(directory: Path, ca: KeyPair, name: str, serial: int, extensions: str) -> KeyPair:
    pair = KeyPair(directory / f"{name}.pem", directory / f"{name}.key")
    csr, ext = directory / f"{name}.csr", directory / f"{name}.ext"
    ext.write_text(extensions)
    _openssl("req", *_KEY, "-keyout", pair.key_file, "-out", csr, "-subj", f"/CN={name}")
    _openssl(
        "x509", "-req", "-in", csr, "-CA", ca.cert_file, "-CAkey", ca.key_file,
        "-set_serial", str(serial), "-days", "1",
        "-out", pair.cert_file, "-extfile", ext,
    )  # fmt: skip
    return pair


def make_pki(directory: Path, clients: Sequence[str] = ("client",)) -> Pki:
    directory.mkdir(parents=True, exist_ok=True)
    ca = KeyPair(directory / "ca.pem", directory / "ca.key")
    _openssl(
        "req", "-x509", *_KEY, "-keyout", ca.key_file, "-out", ca.cert_file, "-days", "1",
        "-subj", "/CN=stockroom-test-ca",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip
    server = _issue(
        directory,
        ca,
        "server",
        1,
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
    )
    issued = {
        name: _issue(
            directory, ca, name, serial, f"subjectAltName=DNS:{name}\nextendedKeyUsage=clientAuth\n"
        )
        for serial, name in enumerate(clients, start=2)
    }
    return Pki(ca.cert_file, server, issued)
