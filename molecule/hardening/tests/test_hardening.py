"""Behaviour of ailab.stack.hardening: a k3s server (Debian 12, also db_servers), a k3s agent
(Debian 13) and a second agent (Debian 13) with the nftables backend and the other controls
switched off, on one podman network. The test process runs on the podman host, which is on that
network but is no member of the platform: it stands for "the internet"."""
import re
import socket
import subprocess
import time

import pytest
from conftest import container_ip

SERVER, AGENT, NFT = "hardening-bookworm", "hardening-trixie", "hardening-nftables"
PEER = {SERVER: AGENT, AGENT: SERVER, NFT: SERVER}
SSH = ("ssh -i /root/.ssh/ailab_test_key -o BatchMode=yes -o StrictHostKeyChecking=no "
       "-o UserKnownHostsFile=/dev/null -o ConnectTimeout=5 -o LogLevel=ERROR")
CONNECT = "python3 -c \"import socket; socket.create_connection(('{}', {}), timeout=3).close()\""
DENIED_ALL_BUT_KEYS = "Permission denied (publickey)."
CONTROLLER = "192.0.2.10"   # the controller's address converge.yml gives the role (SSH_CONNECTION)


def name_of(host):
    return host.backend.name


def skip_if_switched_off(host):
    if name_of(host) == NFT:
        pytest.skip("control switched off on this host (see test_switched_off_controls_leave_no_trace)")


def skip_unless_ufw(host):
    if name_of(host) == NFT:
        pytest.skip("nftables backend on this host (see the nftables tests)")


@pytest.fixture(scope="module")
def peer(host, instance):
    return instance(PEER[name_of(host)])


@pytest.fixture(scope="module", autouse=True)
def no_bans(instance):
    """Earlier runs of this module may have left fail2ban bans behind."""
    for name in (SERVER, AGENT):
        instance(name).run("fail2ban-client unban --all")


def member_ips(instance):
    return [container_ip(instance(name)) for name in (SERVER, AGENT, NFT)]


UFW_ROW = re.compile(r"^(?P<to>.+?)\s+ALLOW(?: IN)?\s+(?P<source>.+?)(?:\s+(?P<comment># .*))?$")


def ufw_rows(host):
    """`ufw status` rows as (to, source, comment). ufw 0.36.2 (Debian 13) prints ALLOW where 0.36.1
    prints ALLOW IN. Rows for IPv6 (only where ip6tables works) must mirror an IPv4 "Anywhere" row."""
    status = host.check_output("ufw status")
    assert "Status: active" in status
    rows, v6_rows = [], []
    for line in status.split("--\n")[-1].splitlines():
        if line.strip():
            match = UFW_ROW.match(line.strip())
            assert match, f"not an allow rule: {line}"
            row = (match["to"], match["source"], match["comment"] or "")
            (v6_rows if "(v6)" in row[0] else rows).append(row)
    for to, source, comment in v6_rows:
        assert (to.replace(" (v6)", ""), source.replace(" (v6)", ""), comment) in rows, (to, source)
    return rows


class Listener:
    """A throw-away TCP listener on a port of a container (a transient systemd unit)."""

    def __init__(self, host, port):
        self.host, self.port, self.unit = host, port, f"probe{port}"

    def __enter__(self):
        self.host.run(f"systemctl stop {self.unit}")
        self.host.check_output(f"systemd-run --unit={self.unit} python3 -m http.server {self.port}")
        self.host.check_output(
            f"for i in $(seq 50); do ss -ltn | grep -q ':{self.port} ' && exit 0; sleep 0.1; done; exit 1")
        return self

    def __exit__(self, *exc):
        self.host.run(f"systemctl stop {self.unit}")


def reachable_from_outside(ip, port):
    with socket.socket() as sock:
        sock.settimeout(3)
        return sock.connect_ex((ip, port)) == 0


# --- SSH -------------------------------------------------------------------------------------

def test_sshd_effective_settings(host):
    settings = dict(line.split(" ", 1) for line in host.check_output("sshd -T").splitlines())
    assert settings["passwordauthentication"] == "no"
    assert settings["kbdinteractiveauthentication"] == "no"
    assert settings["permitrootlogin"] == "no"
    assert settings["pubkeyauthentication"] == "yes"
    assert settings["maxauthtries"] == "3"
    assert settings["allowgroups"] == "sudo"
    assert settings["allowtcpforwarding"] == "no"
    assert settings["x11forwarding"] == "no"
    assert settings["ciphers"] == ("chacha20-poly1305@openssh.com,aes256-gcm@openssh.com,aes128-gcm@openssh.com,"
                                   "aes256-ctr,aes192-ctr,aes128-ctr")
    assert settings["macs"] == "hmac-sha2-512-etm@openssh.com,hmac-sha2-256-etm@openssh.com,umac-128-etm@openssh.com"
    trixie = host.system_info.codename == "trixie"   # OpenSSH 10 knows ML-KEM
    first_kex = "mlkem768x25519-sha256" if trixie else "sntrup761x25519-sha512@openssh.com"
    assert settings["kexalgorithms"].split(",")[0] == first_kex
    assert "diffie-hellman-group14-sha1" not in settings["kexalgorithms"]


def test_password_login_is_refused(host, peer):
    # ailab-admin has a real password; the server must not even offer password authentication.
    result = peer.run(f"{SSH} -o PubkeyAuthentication=no -o PreferredAuthentications=password,keyboard-interactive "
                      f"ailab-admin@{container_ip(host)} true")
    assert result.rc == 255
    assert DENIED_ALL_BUT_KEYS in result.stderr


def test_key_login_works_and_core_dumps_are_off(host, peer):
    result = peer.check_output(f"{SSH} ailab-admin@{container_ip(host)} 'id -un; ulimit -Hc'")
    assert result.split() == ["ailab-admin", "unlimited" if name_of(host) == NFT else "0"]


def test_user_outside_allow_groups_is_refused_despite_a_key(host, peer):
    result = peer.run(f"{SSH} ailab-outsider@{container_ip(host)} true")
    assert result.rc == 255
    assert "Permission denied" in result.stderr


def test_root_is_refused_despite_a_key(host, peer):
    result = peer.run(f"{SSH} root@{container_ip(host)} true")
    assert result.rc == 255
    assert "Permission denied" in result.stderr


# --- firewall --------------------------------------------------------------------------------

def expected_rules(host, instance):
    members = member_ips(instance)
    server = members[0]
    rules = {
        ("Anywhere", "10.42.0.0/16", "k8s-pods"), ("Anywhere", "10.43.0.0/16", "k8s-pods"),
        ("Anywhere on tailscale0", "Anywhere", "tailscale"),
        ("22/tcp", "Anywhere", "ssh"), ("80/tcp", "Anywhere", "http"), ("443/tcp", "Anywhere", "https"),
    }
    both = [("10250/tcp", "kubelet"), ("8472/udp", "flannel-vxlan"), ("51820:51821/udp", "flannel-wireguard"),
            ("5001/tcp", "spegel"), ("9100/tcp", "node-exporter")]
    if name_of(host) == SERVER:
        both += [("6443/tcp", "k8s-api"), ("5432/tcp", "postgresql")]
        rules.add(("2379:2380/tcp", server, "etcd"))
        # The controller (SSH_CONNECTION 192.0.2.10 in converge.yml) keeps reaching the API.
        rules.add(("6443/tcp", CONTROLLER, "k8s-api"))
    rules |= {(port, source, name) for port, name in both for source in members}
    return {(to, source, f"# ailab-hardening {name}") for to, source, name in rules} | {
        ("9999/tcp", "Anywhere", "# other-role")}


def test_ufw_has_exactly_the_expected_rules(host, instance):
    skip_unless_ufw(host)
    rows = ufw_rows(host)
    assert len(rows) == len(set(rows)), "duplicate rules"
    assert set(rows) == expected_rules(host, instance)
    assert "Default: deny (incoming)" in host.check_output("ufw status verbose")
    assert host.service("ufw").is_enabled


def test_rule_of_another_role_survives_the_second_converge(host):
    skip_unless_ufw(host)
    # converge.yml adds it after the role; molecule's idempotence step ran the role again.
    assert "ufw allow 9999/tcp comment 'other-role'" in host.check_output("ufw show added")


def test_cluster_api_open_to_members_only(instance):
    server, agent = instance(SERVER), instance(AGENT)
    with Listener(server, 6443):
        assert agent.run(CONNECT.format(container_ip(server), 6443)).rc == 0, "agent must reach the API"
        assert not reachable_from_outside(container_ip(server), 6443), "6443 must be filtered for non-members"


def test_cluster_api_open_to_the_controller_only_on_the_server(instance):
    # molecule.yml writes hardening_firewall_ssh_admin_only as the string "false": SSH stays open to
    # all (a truthy string would have dropped every SSH rule), checked by the exact rule sets.
    server, agent = instance(SERVER), instance(AGENT)
    assert f"ufw allow from {CONTROLLER} to any port 6443 proto tcp comment 'ailab-hardening k8s-api'" in \
        server.check_output("ufw show added")
    assert CONTROLLER not in agent.check_output("ufw show added")
    assert CONTROLLER not in instance(NFT).check_output("nft list table inet ailab")


def test_port_not_allowed_is_unreachable_from_a_member(instance):
    server, agent = instance(SERVER), instance(AGENT)
    with Listener(server, 8081):
        assert server.run(CONNECT.format("127.0.0.1", 8081)).rc == 0, "listener must work locally"
        assert agent.run(CONNECT.format(container_ip(server), 8081)).rc != 0, "8081 must be filtered"


def test_agent_has_no_etcd_port(instance):
    server, agent = instance(SERVER), instance(AGENT)
    with Listener(agent, 2379):
        assert server.run(CONNECT.format(container_ip(agent), 2379)).rc != 0, "etcd is for servers only"


def test_ingress_open_to_everyone(instance):
    agent = instance(AGENT)
    with Listener(agent, 443):
        assert reachable_from_outside(container_ip(agent), 443)


def expected_nft_statements(instance):
    statements = {
        'ip saddr 10.42.0.0/16 accept comment "ailab-hardening k8s-pods"',
        'ip saddr 10.43.0.0/16 accept comment "ailab-hardening k8s-pods"',
        'iifname "tailscale0" accept comment "ailab-hardening tailscale"',
        'tcp dport 22 accept comment "ailab-hardening ssh"',
        'tcp dport 80 accept comment "ailab-hardening http"',
        'tcp dport 443 accept comment "ailab-hardening https"',
    }
    for ip in member_ips(instance):
        statements |= {f'ip saddr {ip} {match} accept comment "ailab-hardening {name}"' for match, name in (
            ("tcp dport 10250", "kubelet"), ("udp dport 8472", "flannel-vxlan"),
            ("udp dport 51820-51821", "flannel-wireguard"), ("tcp dport 5001", "spegel"),
            ("tcp dport 9100", "node-exporter"))}
    return statements


def nft_statements(host):
    chain = host.check_output("nft list chain inet ailab input")
    assert "policy drop;" in chain
    return [line.strip() for line in chain.splitlines() if 'comment "ailab-hardening' in line]


def test_nftables_table_has_exactly_the_expected_rules(instance):
    statements = nft_statements(instance(NFT))
    assert len(statements) == len(set(statements)), "duplicate rules"
    assert set(statements) == expected_nft_statements(instance)


def test_nftables_reload_keeps_other_tables(instance):
    nft = instance(NFT)
    assert nft.service("ailab-nftables").is_enabled
    nft.check_output("systemctl restart ailab-nftables")
    assert 'tcp dport 9999 accept comment "other-role"' in nft.check_output("nft list table inet other_role")
    assert set(nft_statements(nft)) == expected_nft_statements(instance)


def test_nftables_filters_what_is_not_allowed(instance):
    nft, server = instance(NFT), instance(SERVER)
    with Listener(nft, 10250):
        assert server.run(CONNECT.format(container_ip(nft), 10250)).rc == 0, "kubelet open to members"
        assert not reachable_from_outside(container_ip(nft), 10250), "kubelet closed to non-members"
    with Listener(nft, 8081):
        assert server.run(CONNECT.format(container_ip(nft), 8081)).rc != 0, "8081 must be filtered"


def test_switched_off_controls_leave_no_trace(instance):
    nft = instance(NFT)
    for package in ("ufw", "fail2ban", "auditd", "chrony", "unattended-upgrades"):
        assert not nft.package(package).is_installed, package
    for path in ("/etc/systemd/journald.conf.d/90-ailab-hardening.conf", "/etc/apt/apt.conf.d/52ailab-unattended-upgrades",
                 "/etc/modprobe.d/ailab-hardening-blacklist.conf", "/etc/security/limits.d/90-ailab-no-core-dumps.conf"):
        assert not nft.file(path).exists, path


# --- kernel ----------------------------------------------------------------------------------

def test_kubernetes_sysctl_profile_is_configured(host):
    lines = set(host.file("/etc/sysctl.d/90-ailab-hardening.conf").content_string.splitlines())
    for line in ("net.ipv4.ip_forward = 1", "net.bridge.bridge-nf-call-iptables = 1",
                 "net.ipv4.conf.all.rp_filter = 2", "kernel.kptr_restrict = 2",
                 "net.ipv4.conf.all.accept_redirects = 0", "kernel.panic_on_oops = 1"):
        assert line in lines
    # hardening_disable_core_dumps is switched off on the nftables host
    assert ("fs.suid_dumpable = 0" in lines) == (name_of(host) != NFT)
    assert "br_netfilter" in host.file("/etc/modules-load.d/ailab-kubernetes.conf").content_string


def test_live_sysctls(host):
    if host.run("systemd-detect-virt --container").rc == 0:
        pytest.skip("container: sysctls are the host kernel's (read-only /proc/sys); only the file is checked")
    assert host.sysctl("net.ipv4.ip_forward") == 1
    assert host.sysctl("kernel.kptr_restrict") == 2


def test_blacklisted_module_cannot_be_loaded(host):
    skip_if_switched_off(host)
    assert "install /bin/false" in host.check_output("modprobe -n -v cramfs")


# --- services --------------------------------------------------------------------------------

def test_audit_rules_are_compiled(host):
    skip_if_switched_off(host)
    assert "No change" in host.check_output("augenrules --check")
    rules = host.file("/etc/audit/audit.rules").content_string
    for line in ("-w /etc/passwd -p wa -k identity", "-w /etc/sudoers -p wa -k sudoers",
                 "-w /etc/ssh/sshd_config -p wa -k sshd"):
        assert line in rules
    assert ("-w /etc/rancher/k3s/ -p wa -k k8s" in rules) == (name_of(host) == SERVER)


def test_audit_rules_are_loaded(host):
    skip_if_switched_off(host)
    if host.run("auditctl -s").rc != 0:
        pytest.skip("the kernel refuses audit netlink requests from this container (shared host audit); "
                    "rules are only compiled, see test_audit_rules_are_compiled")
    assert "-k identity" in host.check_output("auditctl -l")


def test_chrony_runs_with_our_pool(host):
    skip_if_switched_off(host)
    assert host.service("chrony").is_running
    assert "pool 2.debian.pool.ntp.org iburst" in host.check_output("chronyd -p")
    assert host.run("chronyc -n sources").rc == 0
    if host.run("systemd-detect-virt --container").rc == 0:
        assert " -x " in host.check_output("systemctl show -p ExecStart chrony")


def test_journal_is_persistent(host):
    skip_if_switched_off(host)
    host.check_output("logger -t ailab-hardening-test persistent-journal-probe && journalctl --flush")
    found = host.check_output("journalctl -D /var/log/journal -t ailab-hardening-test -o cat")
    assert "persistent-journal-probe" in found


def test_unattended_security_upgrades(host):
    skip_if_switched_off(host)
    config = host.check_output("apt-config dump")
    assert 'APT::Periodic::Unattended-Upgrade "1";' in config
    origins = re.findall(r'^Unattended-Upgrade::Origins-Pattern:: "(.*)";$', config, re.M)
    assert origins and all("label=Debian-Security" in origin for origin in origins), origins


def test_fail2ban_bans_repeated_ssh_failures(host):
    """Fail to log in from the podman host until the sshd jail bans it (ssh port only), then unban."""
    skip_if_switched_off(host)
    attacker = host.check_output("ip route | awk '/^default/ {print $3}'")
    target = container_ip(host)
    try:
        for _attempt in range(6):
            try:
                subprocess.run(["ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
                                "-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=3",
                                "-o", "ServerAliveInterval=2", "-o", "ServerAliveCountMax=2",
                                f"no-such-user@{target}", "true"], capture_output=True, timeout=15, check=False)
            except subprocess.TimeoutExpired:
                pass  # the ban landed while this connection was open: its packets are dropped now
            if attacker in host.check_output("fail2ban-client status sshd"):
                break
        for _attempt in range(30):
            if attacker in host.check_output("fail2ban-client status sshd"):
                break
            time.sleep(0.5)
        assert attacker in host.check_output("fail2ban-client status sshd")
        assert not reachable_from_outside(target, 22), "a banned address must not reach sshd"
    finally:
        host.run(f"fail2ban-client set sshd unbanip {attacker}")
