"""molecule/ingress: nginx in front of an upstream with certificates from a real ACME CA (pebble).

The upstream on 127.0.0.1:8080 is a small echo service standing in for Open WebUI, for the proxy
mechanics only (forwarded headers, WebSocket upgrade, redirect, TLS); the real Open WebUI behind
nginx is tested by the e2e scenario. The refusals run
as one ansible-playbook run of refusals.yml (one play per case), the switch to a provided
certificate as a run of the stage playbook, both against the container as an operator does.
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


def run_playbook(playbook, extra_vars, *args):
    """ansible-playbook against the container with molecule's inventory plus extra_vars, as an operator runs it."""
    inventory = os.environ.get("MOLECULE_INVENTORY_FILE", os.path.join(EPHEMERAL, "inventory", "ansible_inventory.yml"))
    case = os.path.join(EPHEMERAL, "ingress-case.yml")
    with open(case, "w") as f:
        yaml.safe_dump(extra_vars, f)
    return subprocess.run(["ansible-playbook", "-i", inventory, "-e", f"@{case}", *args, playbook],
                          capture_output=True, text=True, timeout=1200, check=False)  # a hang guard, not a speed check


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
    # As certbot.service runs it (--no-random-sleep-on-renew: the timer spreads the runs; without it a
    # renewal outside a terminal first sleeps up to 8 minutes).
    res = host.run(f"env {env} certbot renew --force-renewal --no-random-sleep-on-renew --cert-name openwebui --non-interactive")
    assert res.rc == 0, res.stderr
    for _attempt in range(20):
        if served_serial(host, "chat.example.test") != before_serial:
            break
        time.sleep(0.5)
    assert served_serial(host, "chat.example.test") != before_serial
    assert master_pid(host) == before_pid


REFUSALS = {
    "bad-email": ['ingress_acme_email is "not-an-email"', "Fix: set ingress_acme_email"],
    "unreachable-acme": ["cannot reach the ACME server https://127.0.0.1:14999/dir", "nginx was not touched",
                         "ingress_acme_directory_url"],
    "refused-name": ["refused the certificate of site refused (refused.example.test)", "nginx was not touched",
                     "check the names in ingress_sites / ingress_host"],
}


@pytest.fixture(scope="module")
def refusals(host):
    """molecule/ingress/refusals.yml once: every case's message, and nginx's file and PID before and after."""
    before = host.file(SITES_CONF).sha256sum, master_pid(host)
    messages = os.path.join(EPHEMERAL, "ingress-refusals.json")
    if os.path.exists(messages):
        os.remove(messages)
    res = run_playbook(os.path.join(HERE, "..", "refusals.yml"), {"ingress_refusals_file": messages},
                       "--tags", "ingress_certificates")
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
    with open(messages) as f:
        return {"messages": json.load(f), "before": before, "after": (host.file(SITES_CONF).sha256sum, master_pid(host))}


@pytest.mark.parametrize("case", REFUSALS)
def test_refusal_names_host_variable_and_fix(refusals, case):
    message = refusals["messages"].get(case)
    assert message is not None, f"{case}: the role did not refuse ({refusals['messages']})"
    for text in REFUSALS[case] + ["ingress-bookworm"]:
        assert text in message, message


def test_refusals_leave_nginx_serving(host, refusals):
    assert refusals["after"] == refusals["before"]
    assert curl(host, "-o /dev/null -w '%{http_code}' https://chat.example.test/").stdout == "200"


def test_provided_certificate_replaces_acme(host):
    """Last: switches the sites to an operator-provided certificate (made here by openssl)."""
    host.run_test("openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj /CN=chat.example.test "
                  "-addext subjectAltName=DNS:chat.example.test,DNS:dns.example.test "
                  "-keyout /tmp/provided.key -out /tmp/provided.pem 2>/dev/null")
    cert, key = host.file("/tmp/provided.pem").content_string, host.file("/tmp/provided.key").content_string
    res = run_playbook(os.path.join(ROOT, "playbooks", "ingress.yml"),
                       {"ingress_certificate_source": "provided", "ingress_certificate_pem": cert,
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
