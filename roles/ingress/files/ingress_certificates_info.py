# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ailab.stack maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the ingress role reads of every site's certificate, in one remote run (a loop of
slurp and x509_certificate_info cost one run per site and file).

Run by ansible.builtin.script with python3: RENEWAL_DIR SITES, SITES being JSON {site: certificate
file}. Prints JSON {site: {"server": the ACME server of RENEWAL_DIR/<site>.conf ("" without that
line, null without the file), "names": the certificate's DNS names (sorted), null when there is no
readable certificate, "ocsp": its OCSP responder or ""}}. python3-cryptography is imported only
when a certificate exists (check mode on a host without the role's packages has none).
"""

from __future__ import annotations

import json
import os
import re
import sys


def renewal_server(path):
    """The `server = URL` line of certbot's renewal file: "" without that line, None without the file."""
    try:
        with open(path, encoding="utf-8") as f:
            found = re.search(r"(?m)^server *= *(\S+)", f.read())
    except OSError:
        return None
    return found.group(1) if found else ""


def certificate(path):
    """(DNS names, OCSP responder) of the first certificate in path, (None, "") when unreadable."""
    try:
        with open(path, "rb") as f:
            pem = f.read()
    except OSError:
        return None, ""
    # pylint: disable-next=import-outside-toplevel
    from cryptography import x509
    # pylint: disable-next=import-outside-toplevel
    from cryptography.x509.oid import AuthorityInformationAccessOID, ExtensionOID
    try:
        cert = x509.load_pem_x509_certificate(pem)
    except ValueError:
        return None, ""
    try:
        sans = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
        names = sorted(sans.get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        names = []
    try:
        aia = cert.extensions.get_extension_for_oid(ExtensionOID.AUTHORITY_INFORMATION_ACCESS).value
        ocsp = next((d.access_location.value for d in aia if d.access_method == AuthorityInformationAccessOID.OCSP), "")
    except x509.ExtensionNotFound:
        ocsp = ""
    return names, ocsp


def main(renewal_dir, sites):
    out = {}
    for site, cert_file in json.loads(sites).items():
        names, ocsp = certificate(cert_file)
        out[site] = {"server": renewal_server(os.path.join(renewal_dir, site + ".conf")), "names": names, "ocsp": ocsp}
    print(json.dumps(out))


if __name__ == "__main__":
    main(*sys.argv[1:])
