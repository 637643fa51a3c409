"""roles/ingress/files/ingress_certificates_info.py: what the ingress role reads of every site's
certificate in one remote run (molecule/ingress runs it against pebble's real certificates)."""
from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import subprocess
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "..", "roles", "ingress", "files", "ingress_certificates_info.py")


def certificate(names, ocsp=""):
    """A self-signed PEM certificate for names (plus an IP address, which is no DNS name)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    now = dt.datetime.now(dt.timezone.utc)
    sans = [x509.DNSName(n) for n in names] + [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
               .add_extension(x509.SubjectAlternativeName(sans), critical=False))
    if ocsp:
        builder = builder.add_extension(x509.AuthorityInformationAccess(
            [x509.AccessDescription(AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(ocsp))]), critical=False)
    return builder.sign(key, hashes.SHA256()).public_bytes(Encoding.PEM)


def run(renewal_dir, sites):
    out = subprocess.run([sys.executable, SCRIPT, str(renewal_dir), json.dumps(sites)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_reads_server_names_and_ocsp_of_every_site(tmp_path):
    (tmp_path / "renewal").mkdir()
    (tmp_path / "renewal" / "chat.conf").write_text("version = 2.1.0\n[renewalparams]\nserver = https://ca.test/dir\n")
    (tmp_path / "renewal" / "noserver.conf").write_text("version = 2.1.0\n")
    # A full chain: the site's certificate first, then its issuer's (other names).
    (tmp_path / "chat.pem").write_bytes(certificate(["b.example.test", "a.example.test"], "http://ocsp.test/")
                                        + certificate(["issuer.test"]))
    (tmp_path / "bad.pem").write_text("not a certificate\n")
    sites = {"chat": str(tmp_path / "chat.pem"), "noserver": str(tmp_path / "bad.pem"), "new": str(tmp_path / "none.pem")}
    assert run(tmp_path / "renewal", sites) == {
        "chat": {"server": "https://ca.test/dir", "names": ["a.example.test", "b.example.test"], "ocsp": "http://ocsp.test/"},
        "noserver": {"server": "", "names": None, "ocsp": ""},
        "new": {"server": None, "names": None, "ocsp": ""},
    }


def test_certificate_without_ocsp_responder(tmp_path):
    (tmp_path / "c.pem").write_bytes(certificate(["c.example.test"]))
    assert run(tmp_path, {"c": str(tmp_path / "c.pem")}) == {"c": {"server": None, "names": ["c.example.test"], "ocsp": ""}}
