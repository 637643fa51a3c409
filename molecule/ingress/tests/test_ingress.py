"""molecule/ingress: nginx in front of an upstream with certificates from a real ACME CA (pebble).

The upstream on 127.0.0.1:8080 is a small echo service standing in for Open WebUI, for the proxy
mechanics only (forwarded headers, WebSocket upgrade, redirect, TLS); the real Open WebUI behind
nginx is tested by the e2e scenario. Cases that need another run of the stage playbook (renewal,
refusals) run ansible-playbook against the container, as an operator does, and check that nginx
kept serving its configuration.
"""
import json
import os
import subprocess
import time

import pytest
import yaml

HERE = os.path.dirname(__file__)
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
EPHEMERAL = os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/tmp")
CA = "/etc/ssl/pebble-root.pem"
SITES_CONF = "/etc/nginx/conf.d/ailab-ingress-sites.conf"
testinfra_hosts = ["ansible://ingress-bookworm"]


def curl(host, args):
    return host.run(f"curl -sS --max-time 10 --cacert {CA} {args}")


def served_serial(host, name):
    return host.check_output(
        f"echo | openssl s_client -connect 127.0.0.1:443 -servername {name} 2>/dev/null | openssl x509 -noout -serial")


def master_pid(host):
    return host.check_output("systemctl show -p MainPID --value nginx")


def run_stage(extra_vars, tags=None):
    """playbooks/ingress.yml against the container with molecule's inventory plus extra_vars
    (only the certificate phases with tags=ingress_certificates: what a refusal needs, faster)."""
    inventory = os.environ.get("MOLECULE_INVENTORY_FILE", os.path.join(EPHEMERAL, "inventory", "ansible_inventory.yml"))
    case = os.path.join(EPHEMERAL, "ingress-case.yml")
    with open(case, "w") as f:
        yaml.safe_dump(extra_vars, f)
    return subprocess.run(["ansible-playbook", "-i", inventory, "-e", f"@{case}", *(["--tags", tags] if tags else []),
                           os.path.join(ROOT, "playbooks", "ingress.yml")],
                          capture_output=True, text=True, timeout=300, check=False)


@pytest.mark.parametrize("name,authenticator", [("chat.example.test", "webroot"), ("dns.example.test", "dns-rfc2136")])
def test_certificate_issued_by_pebble_and_served(host, name, authenticator):
    site = "openwebui" if name.startswith("chat") else "dns"
    assert f"authenticator = {authenticator}" in host.file(f"/etc/letsencrypt/renewal/{site}.conf").content_string
    res = curl(host, f"https://{name}/hello")
    assert res.rc == 0, res.stderr
    seen = json.loads(res.stdout)
    assert seen["path"] == "/hello"
    assert seen["headers"]["Host"] == name
    assert seen["headers"]["X-Forwarded-Proto"] == "https"
    assert seen["headers"]["X-Forwarded-For"] == "127.0.0.1"
    issuer = host.check_output(f"openssl x509 -in /etc/letsencrypt/live/{site}/cert.pem -noout -issuer")
    assert "Pebble Intermediate CA" in issuer


def test_http_redirects_to_https_except_acme_challenges(host):
    res = curl(host, "-o /dev/null -w '%{http_code} %{redirect_url}' http://chat.example.test/c/1?x=2")
    assert res.stdout == "301 https://chat.example.test/c/1?x=2"
    host.run("echo token > /var/lib/ailab-ingress/acme/.well-known/acme-challenge/probe")
    assert curl(host, "http://chat.example.test/.well-known/acme-challenge/probe").stdout.strip() == "token"


def test_tls_settings_and_headers(host):
    headers = curl(host, "-D - -o /dev/null https://chat.example.test/").stdout.lower()
    assert "strict-transport-security: max-age=63072000; includesubdomains" in headers
    assert "x-content-type-options: nosniff" in headers and "x-frame-options: sameorigin" in headers
    assert host.run("echo | openssl s_client -connect 127.0.0.1:443 -servername chat.example.test -tls1_1").rc != 0
    assert host.run("echo | openssl s_client -connect 127.0.0.1:443 -servername chat.example.test -tls1_2").rc == 0
    conf = host.file(SITES_CONF).content_string
    # pebble's certificates name no OCSP responder: no stapling.
    assert "ssl_stapling" not in conf
    for line in ("proxy_buffering off;", "proxy_read_timeout 900s;", "client_max_body_size 256m;"):
        assert line in conf


def test_websocket_upgrade_is_passed_on(host):
    res = curl(host, "-o /dev/null -w '%{http_code}' -H 'Connection: Upgrade' -H 'Upgrade: websocket' "
                     "-H 'Sec-WebSocket-Version: 13' -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' "
                     "--http1.1 'https://chat.example.test/ws/socket.io/?EIO=4&transport=websocket'")
    assert res.stdout == "101", res.stderr


def test_secrets_are_private(host):
    assert host.file("/etc/letsencrypt/ailab-rfc2136.ini").mode == 0o600
    assert host.file("/etc/letsencrypt/live/openwebui/privkey.pem").exists


def test_forced_renewal_is_served_without_restart(host):
    env = host.check_output("systemctl show -p Environment --value certbot.service")
    assert "REQUESTS_CA_BUNDLE=" in env
    assert host.service("certbot.timer").is_enabled
    before_serial, before_pid = served_serial(host, "chat.example.test"), master_pid(host)
    res = host.run(f"env {env} certbot renew --force-renewal --cert-name openwebui --non-interactive")
    assert res.rc == 0, res.stderr
    for _attempt in range(20):
        if served_serial(host, "chat.example.test") != before_serial:
            break
        time.sleep(0.5)
    assert served_serial(host, "chat.example.test") != before_serial
    assert master_pid(host) == before_pid


@pytest.mark.parametrize("extra,expect", [
    ({"ingress_acme_email": "not-an-email"},
     ["ingress_acme_email is \"not-an-email\"", "Fix: set ingress_acme_email"]),
    ({"ingress_acme_directory_url": "https://127.0.0.1:14999/dir", "__site": "new"},
     ["cannot reach the ACME server https://127.0.0.1:14999/dir", "nginx was not touched", "ingress_acme_directory_url"]),
    ({"__site": "refused"},
     ["refused the certificate of site refused (refused.example.test)", "nginx was not touched",
      "check the names in ingress_sites / ingress_host"]),
], ids=["bad-email", "unreachable-acme", "refused-name"])
def test_refusals_leave_nginx_serving(host, extra, expect):
    site = extra.pop("__site", None)
    if site:
        extra["ingress_sites"] = [{"name": site, "host": f"{site}.example.test", "upstream": "http://127.0.0.1:8080"}]
    before_conf, before_pid = host.file(SITES_CONF).sha256sum, master_pid(host)
    res = run_stage(extra, tags="ingress_certificates")
    out = res.stdout + res.stderr
    assert res.returncode == 2, out[-3000:]
    for text in expect:
        assert text in out, out[-3000:]
    assert "ingress-bookworm" in out
    assert host.file(SITES_CONF).sha256sum == before_conf
    assert master_pid(host) == before_pid
    assert curl(host, "-o /dev/null -w '%{http_code}' https://chat.example.test/").stdout == "200"


def test_provided_certificate_replaces_acme(host):
    """Last: switches the sites to an operator-provided certificate (made here by openssl)."""
    host.run_test("openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj /CN=chat.example.test "
                  "-addext subjectAltName=DNS:chat.example.test,DNS:dns.example.test "
                  "-keyout /tmp/provided.key -out /tmp/provided.pem 2>/dev/null")
    cert, key = host.file("/tmp/provided.pem").content_string, host.file("/tmp/provided.key").content_string
    res = run_stage({"ingress_certificate_source": "provided", "ingress_certificate_pem": cert,
                     "ingress_certificate_key_pem": key, "verify_tls_ca_path": "/tmp/provided.pem"})
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    assert "BEGIN PRIVATE KEY" not in out
    assert host.file("/etc/nginx/ailab-tls/openwebui/privkey.pem").mode == 0o600
    served = host.check_output("echo | openssl s_client -connect 127.0.0.1:443 -servername chat.example.test "
                               "2>/dev/null | openssl x509 -noout -subject")
    assert "chat.example.test" in served
    res = curl(host, "--cacert /tmp/provided.pem -o /dev/null -w '%{http_code}' https://dns.example.test/")
    assert res.stdout == "200"
