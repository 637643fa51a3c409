"""End to end on the converged server: a user's chat goes through Open WebUI to Ollama, lands in
PostgreSQL, is in the next backup, and the platform's own health gate passes from a fresh run over
SSH (molecule's inventory, as the converge), with the operator's address not banned by fail2ban."""
import json
import os
import re
import shlex
import socket
import subprocess

import pytest

from conftest import container_ip

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
ADMIN = {"email": "admin@e2e.test", "password": "e2e-admin-password"}


CLIENT = """
import json, sys, urllib.request
method, path, token, body = sys.argv[1], sys.argv[2], sys.argv[3], sys.stdin.read().strip()
req = urllib.request.Request("http://127.0.0.1:8080" + path, method=method, data=body.encode() if body else None,
                             headers={"Content-Type": "application/json", **({"Authorization": "Bearer " + token} if token else {})})
print(urllib.request.urlopen(req, timeout=120).read().decode())
"""


def api(host, method, path, body=None, token=None):
    """A request from inside the server: Open WebUI listens there; the firewall keeps it from this host."""
    out = host.run(f"python3 -c {shlex.quote(CLIENT)} {method} {path} '{token or ''}' <<'EOF'\n{json.dumps(body) if body is not None else ''}\nEOF")
    assert out.rc == 0, out.stderr
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def token(host):
    return api(host, "POST", "/api/v1/auths/signin", ADMIN)["token"]


def test_chat_through_openwebui_reaches_ollama(host, token):
    answer = api(host, "POST", "/api/chat/completions",
                 {"model": "tiny:latest", "stream": False, "max_tokens": 16, "temperature": 0,
                  "messages": [{"role": "user", "content": "Say hello."}]}, token)
    assert answer["choices"][0]["message"]["content"].strip()


def test_chat_history_is_in_postgres_and_in_the_backup(host, token):
    chat = api(host, "POST", "/api/v1/chats/new", {"chat": {"title": "e2e-backup-probe", "messages": []}}, token)
    assert chat["id"]
    rows = host.check_output("runuser -u postgres -- psql -At -d openwebui -c \"select count(*) from chat where title = 'e2e-backup-probe'\"")
    assert rows == "1"
    host.check_output("systemctl start ailab-pg-backup.service")  # oneshot: returns when done
    newest = host.check_output("ls -1 /var/backups/postgresql/openwebui/openwebui-*Z.dump | tail -n 1")
    listing = host.check_output(f"pg_restore --list {newest}")
    assert "TABLE DATA public chat" in listing


def run_playbook(name, db_password="e2e-db-password"):
    """ansible-playbook playbooks/<name> over SSH with molecule's inventory, as the converge ran."""
    inventory = os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "inventory")
    hostvars = json.loads(subprocess.run(["ansible-inventory", "-i", inventory, "--host", "e2e-bookworm"],
                                         capture_output=True, text=True, timeout=120, check=True).stdout)
    assert (hostvars["ansible_connection"], hostvars["ansible_user"]) == ("ssh", "admin"), "the runs must go over SSH"
    res = subprocess.run(
        ["ansible-playbook", "-i", inventory, os.path.join(ROOT, "playbooks", name),
         "-e", "openwebui_admin_email=admin@e2e.test", "-e", "openwebui_admin_password=e2e-admin-password",
         "-e", f"postgres_openwebui_password={db_password}"],
        capture_output=True, text=True, timeout=900, check=False)
    assert res.returncode == 0, res.stdout[-4000:]
    assert "failed=0" in res.stdout
    return res.stdout


def wait_database_ok(host, timeout=300):
    """Open WebUI's /health/db from inside the server, until it answers 200 or `timeout` s pass."""
    probe = ("import time, urllib.request\n"
             f"end = time.time() + {timeout}\n"
             "while True:\n"
             "    try:\n"
             "        urllib.request.urlopen('http://127.0.0.1:8080/health/db', timeout=10); break\n"
             "    except Exception:\n"
             "        if time.time() > end: raise\n"
             "        time.sleep(3)\n")
    out = host.run(f"python3 -c {shlex.quote(probe)}")
    assert out.rc == 0, f"Open WebUI does not reach its database: {out.stderr[-2000:]}"


def test_health_gate_passes_from_a_fresh_run():
    run_playbook("verify.yml")


def test_a_rotated_database_password_reaches_open_webui_in_the_postgres_stage(host):
    """The postgres stage alone changes the Open WebUI role's password: Open WebUI gets the new one in
    that stage, so its next restart still reaches the database (before, it kept the old password
    until the openwebui stage, and a run stopping in between left it unable to restart). Then back."""
    for password in ("e2e-db-password-rotated", "e2e-db-password"):
        out = run_playbook("postgres.yml", db_password=password)
        assert re.search(r"RUNNING HANDLER \[[^\]]*openwebui : Restart open-webui\]", out), out[-4000:]
        host.check_output("systemctl restart open-webui")
        wait_database_ok(host)
        assert api(host, "POST", "/api/v1/auths/signin", ADMIN)["token"]


def test_platform_ports_are_closed_to_strangers(host):
    """This test process is not a platform host: the firewall must drop Open WebUI (behind the ingress
    it is reached through nginx only), Ollama, PostgreSQL, and let anyone reach nginx on 80 and 443."""
    ip = container_ip(host)
    for port, is_open in ((80, True), (443, True), (8080, False), (11434, False), (5432, False)):
        with socket.socket() as s:
            s.settimeout(3)
            reached = s.connect_ex((ip, port)) == 0
        assert reached == is_open, f"port {port} is {'reachable' if reached else 'closed'} from outside the platform"


def test_the_operator_is_not_banned(host):
    """fail2ban watches the SSH logins the runs made: key logins as the operator must not count as failures."""
    status = host.check_output("fail2ban-client status sshd")
    assert re.search(r"Total banned:\s+0$", status, re.M), status
