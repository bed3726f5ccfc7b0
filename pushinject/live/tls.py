"""TLS contexts of the live shell: the server's certificate, and the client side of connections
the shell opens itself.

`self_signed(folder)` makes a throw-away certificate and key with the `openssl` command line
(an RSA 2048 key, valid 30 days, subject and subjectAltName naming the listening host), so that
`pushinject serve --listen tls:...` works without any file. Connections the shell opens towards
devices do not verify the peer's certificate: the live shell is a test element that talks to
softphones and SIPp on a bench, which seldom hold certificates a public CA signed.
"""

from __future__ import annotations

import ipaddress
import shutil
import ssl
import subprocess
from pathlib import Path

from pushinject.errors import UsageError

__all__ = ["self_signed", "server_context", "client_context"]


def self_signed(folder: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """Write `cert.pem` and `key.pem` into `folder` (a fresh self-signed pair for `host`)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise UsageError("a self-signed certificate needs the openssl command; "
                         "give --tls-cert and --tls-key instead")
    try:
        ipaddress.ip_address(host)
        alt = f"IP:{host}"
    except ValueError:
        alt = f"DNS:{host}"
    cert, key = folder / "cert.pem", folder / "key.pem"
    done = subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
         "-subj", "/CN=pushinject", "-addext", f"subjectAltName={alt}",
         "-keyout", str(key), "-out", str(cert)],
        capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise UsageError(f"openssl could not make a certificate: {reason}")
    return cert, key


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    """The context a TLS listener presents (TLS 1.2 or newer)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(str(cert), str(key))
    except (OSError, ssl.SSLError) as exc:
        raise UsageError(f"cannot load the TLS certificate {cert} / key {key}: {exc}") from None
    return context


def client_context() -> ssl.SSLContext:
    """The context of connections the shell opens (no peer verification, see above)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context
