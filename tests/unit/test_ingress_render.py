"""The ingress role's kubernetes runtime, rendered offline (ailab_kubernetes_apply: false): for every
Kubernetes reference inventory and for the variants an inventory can choose (DNS-01 providers, a private
ACME CA with its CA bundle, a provided certificate, an existing controller), every object validates
against the strict schemas (tests/k8s-schemas, scripts/gen-ingress-schemas), the Traefik values (k3s's
HelmChartConfig valuesContent, the MicroK8s chart's values file) validate against the values schema of
the Traefik chart k3s bundles, and bad settings stop the run before anything is rendered."""
from __future__ import annotations

import base64
import concurrent.futures
import json
import os
import re
import sys

import jsonschema
import pytest

import yaml

from helpers.playbook import ROOT, by_kind, load_manifests, run_playbook, secret_data, validate_manifests

K8S_INVENTORIES = ["single-gpu", "microk8s", "ha", "multitenant"]
TSIG = "tsig-secret-value-from-vault"
SECRETS = {"ingress_acme_rfc2136_key_secret": TSIG}
PEM = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n"
KEY = "-----BEGIN PRIVATE KEY-----\nMIIEfakekey\n-----END PRIVATE KEY-----\n"
CA_BUNDLE = "-----BEGIN CERTIFICATE-----\nMIIBprivateca\n-----END CERTIFICATE-----\n"
# name -> (inventory, extra variables): the reference inventories as they are, then variants
VARIANTS = {
    "cloudflare-private-ca": ("single-gpu", {
        "ingress_acme_challenge": "dns-01", "ingress_acme_dns_provider": "cloudflare",
        "ingress_acme_cloudflare_api_token": "cf-token-from-vault", "ingress_hsts_max_age": 0,
        "ingress_acme_directory_url": "https://ca.internal.example:9000/acme/acme/directory", "ailab_ingress_cluster_issuer": "acme"}),
    "existing-nginx": ("single-gpu", {"ingress_controller": "existing", "ailab_ingress_class_name": "nginx",
                                      "ingress_cert_manager_install": False}),
    "route53": ("microk8s", {"ingress_acme_challenge": "dns-01", "ingress_acme_dns_provider": "route53",
                             "ingress_acme_route53_region": "eu-west-1", "ingress_acme_route53_access_key_id": "AKIAEXAMPLE",
                             "ingress_acme_route53_secret_access_key": "aws-secret-from-vault"}),
    # Gateway API instead of Ingress: the platform's Open WebUI (openwebui role) gets an HTTPRoute; a provided certificate
    "gateway": ("multitenant", {"ailab_ingress_gateway": "ailab", "openwebui_admin_email": "admin@example.org",
                                "openwebui_admin_password": "inv-admin-password", "postgres_openwebui_password": "inv-db"}),
    "gateway-provided": ("ha", {"ailab_ingress_gateway": "ailab", "ingress_certificate_source": "provided",
                                "ailab_ingress_cluster_issuer": "", "ingress_certificate_pem": PEM, "ingress_certificate_key_pem": KEY}),
    "provided": ("multitenant", {"ingress_certificate_source": "provided", "ailab_ingress_cluster_issuer": "",
                                 "ingress_certificate_pem": PEM, "ingress_certificate_key_pem": KEY}),
}
RENDERS = {**{name: (name, {}) for name in K8S_INVENTORIES}, **VARIANTS}
# settings the role refuses before rendering anything: name -> (inventory, extra variables)
BAD = {
    "no-email": ("single-gpu", {"ingress_acme_email": ""}),
    "unknown-issuer": ("single-gpu", {"ailab_ingress_cluster_issuer": "letsencrypt"}),
    "existing-no-class": ("single-gpu", {"ingress_controller": "existing"}),
    "rfc2136-no-key": ("ha", {"ingress_acme_rfc2136_key_secret": ""}),
    "provided-no-key": ("multitenant", {"ingress_certificate_source": "provided", "ailab_ingress_cluster_issuer": "",
                                        "ingress_certificate_pem": PEM}),
}
VALUES_SCHEMAS = os.path.join(ROOT, "tests", "k8s-schemas", "traefik-chart")


def _play(name, extra, base, refused=False):
    """One configuration as one play (play vars: above the inventory's group_vars); a refused one rescued
    with a marker line, so that one ansible-playbook run holds good and bad configurations."""
    ca = base / f"{name}-ca.pem"
    ca.write_text(CA_BUNDLE)
    roles = ["ingress", "openwebui"] if name == "gateway" else ["ingress"]
    role = [{"name": f"Render {name} {r}", "ansible.builtin.include_role": {"name": f"ailab.stack.{r}"}} for r in roles]
    return {"name": name, "hosts": "k8s_servers[0]", "gather_facts": False,
            "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable, "ailab_kubernetes_apply": False,
                     "ailab_manifest_dir": str(base / name / "manifests"), "ingress_acme_ca_bundle": str(ca), **SECRETS, **extra},
            "roles": [{"role": "ailab.stack.ailab"}],
            "tasks": [{"block": role, "rescue": [{"name": "Refused", "ansible.builtin.debug": {"msg": f"REFUSED {name}"}}]}]
            if refused else role}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """{name: the state directory of its render (manifests/, helm-values/)} and the runs' output: one
    ansible-playbook per inventory (every configuration of it, the refused ones too), two at a time (2 cores)."""
    base = tmp_path_factory.mktemp("ingress")
    runs: dict[str, list] = {}
    for refused, table in ((False, RENDERS), (True, BAD)):
        for name, (inventory, extra) in table.items():
            runs.setdefault(inventory, []).append(_play(name, extra, base, refused))

    def run(inventory):
        return inventory, run_playbook(runs[inventory], inventory=os.path.join(ROOT, "inventories", inventory))
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        results = list(pool.map(run, runs))
    output = ""
    for inventory, proc in results:
        assert proc.returncode == 0, f"{inventory}:\n" + proc.stdout[-4000:] + proc.stderr[-2000:]
        output += proc.stdout + proc.stderr
    for secret in [TSIG, KEY, "cf-token-from-vault", "aws-secret-from-vault", "inv-admin-password"]:
        assert secret not in output
    return {"output": output, **{name: base / name for name in list(RENDERS) + list(BAD)}}


def objects(rendered, name):
    return load_manifests(rendered[name] / "manifests" / "ingress")


def traefik_values_validator():
    (path,) = [os.path.join(VALUES_SCHEMAS, f) for f in os.listdir(VALUES_SCHEMAS)]
    with open(path) as f:
        return jsonschema.Draft202012Validator(json.load(f))


def traefik_values(rendered, name) -> dict:
    """The Traefik values of a render: k3s's HelmChartConfig valuesContent, or the MicroK8s chart's values file."""
    hcc = by_kind(objects(rendered, name), "HelmChartConfig", "traefik")
    if hcc:
        return yaml.safe_load(hcc[0]["spec"]["valuesContent"])
    with open(rendered[name] / "helm-values" / "ingress" / "traefik-values.yaml") as f:
        return yaml.safe_load(f)


@pytest.mark.parametrize("name", list(RENDERS))
def test_every_object_validates(rendered, name):
    res = validate_manifests(str(rendered[name] / "manifests"))
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.mark.parametrize("name", [n for n in RENDERS if n != "existing-nginx"])
def test_traefik_values_match_the_chart_schema(rendered, name):
    values = traefik_values(rendered, name)
    errors = [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in traefik_values_validator().iter_errors(values)]
    assert not errors, errors
    for port in ("web", "websecure"):   # Traefik v3 cuts at 60 s: the role's 900 s on both entry points
        assert values["ports"][port]["transport"]["respondingTimeouts"] == {
            "readTimeout": "900s", "writeTimeout": "900s", "idleTimeout": "900s"}
    assert values["ports"]["web"]["http"]["redirections"]["entryPoint"] == {"to": "websecure", "scheme": "https", "permanent": True}


def test_values_schema_catches_a_typo():
    bad = {"ports": {"websecure": {"transport": {"respondingTimeout": {"readTimeout": "900s"}}}}, "ingresClass": {}}
    assert len(list(traefik_values_validator().iter_errors(bad))) >= 1


def test_versions_agree_with_the_schema_generator():
    """scripts/gen-ingress-schemas generates the schemas of the versions the role installs."""
    with open(os.path.join(ROOT, "roles", "ingress", "defaults", "main.yml")) as f:
        defaults = yaml.safe_load(f)
    with open(os.path.join(ROOT, "scripts", "gen-ingress-schemas")) as f:
        script = dict(re.findall(r"^([A-Z_]+_VERSION)=(\S+)", f.read(), re.M))
    assert script["TRAEFIK_CHART_VERSION"] == "v" + defaults["ingress_traefik_chart_version"]
    assert script["CERT_MANAGER_VERSION"] == defaults["ingress_cert_manager_chart_version"]
    assert os.listdir(VALUES_SCHEMAS) == [f"values_{defaults['ingress_traefik_chart_version']}.json"]


def test_k3s_configures_its_bundled_traefik(rendered):
    objs = objects(rendered, "single-gpu")
    hcc = by_kind(objs, "HelmChartConfig", "traefik")[0]
    assert hcc["metadata"]["namespace"] == "kube-system"
    assert not (rendered["single-gpu"] / "helm-values" / "ingress" / "traefik-values.yaml").exists()
    headers = by_kind(objs, "Middleware", "ailab-security-headers")[0]
    assert headers["spec"]["headers"]["stsSeconds"] == 63072000   # ingress_hsts_max_age: two years
    assert traefik_values(rendered, "single-gpu")["ports"]["websecure"]["http"]["middlewares"] == [
        "kube-system-ailab-security-headers@kubernetescrd"]
    with open(rendered["single-gpu"] / "helm-values" / "ingress" / "cert-manager-values.yaml") as f:
        assert yaml.safe_load(f)["crds"]["enabled"] is True


def test_microk8s_installs_the_traefik_chart(rendered):
    assert not by_kind(objects(rendered, "microk8s"), "HelmChartConfig")
    values = traefik_values(rendered, "microk8s")
    assert values["ingressClass"] == {"enabled": True, "isDefaultClass": True, "name": "traefik"}
    assert values["ports"]["websecure"]["http"]["middlewares"] == ["traefik-ailab-security-headers@kubernetescrd"]
    assert by_kind(objects(rendered, "microk8s"), "Middleware")[0]["metadata"]["namespace"] == "traefik"


def test_issuers_and_http01(rendered):
    issuers = {o["metadata"]["name"]: o["spec"]["acme"] for o in by_kind(objects(rendered, "multitenant"), "ClusterIssuer")}
    assert {n: i["server"] for n, i in issuers.items()} == {
        "letsencrypt-staging": "https://acme-staging-v02.api.letsencrypt.org/directory",
        "letsencrypt-production": "https://acme-v02.api.letsencrypt.org/directory"}
    assert all(i["solvers"] == [{"http01": {"ingress": {"ingressClassName": "traefik"}}}] for i in issuers.values())
    assert all("caBundle" not in i for i in issuers.values())


def test_dns01_rfc2136_token_from_vault_in_a_secret(rendered):
    objs = objects(rendered, "ha")
    secret = by_kind(objs, "Secret", "ailab-acme-dns-rfc2136")[0]
    assert secret["metadata"]["namespace"] == "cert-manager" and secret_data(secret) == {"tsig-secret": TSIG}
    solver = by_kind(objs, "ClusterIssuer", "letsencrypt-production")[0]["spec"]["acme"]["solvers"][0]["dns01"]["rfc2136"]
    assert solver == {"nameserver": "192.0.2.53:53", "tsigKeyName": "acme-update", "tsigAlgorithm": "HMACSHA512",
                      "tsigSecretSecretRef": {"name": "ailab-acme-dns-rfc2136", "key": "tsig-secret"}}
    assert traefik_values(rendered, "ha")["ports"]["web"]["forwardedHeaders"] == {"trustedIPs": ["192.0.2.0/28"]}


def test_dns01_cloudflare_and_route53(rendered):
    cf = objects(rendered, "cloudflare-private-ca")
    assert secret_data(by_kind(cf, "Secret", "ailab-acme-dns-cloudflare")[0]) == {"api-token": "cf-token-from-vault"}
    assert by_kind(cf, "ClusterIssuer")[0]["spec"]["acme"]["solvers"][0]["dns01"] == {
        "cloudflare": {"apiTokenSecretRef": {"name": "ailab-acme-dns-cloudflare", "key": "api-token"}}}
    r53 = objects(rendered, "route53")
    assert by_kind(r53, "ClusterIssuer")[0]["spec"]["acme"]["solvers"][0]["dns01"]["route53"] == {
        "region": "eu-west-1", "accessKeyID": "AKIAEXAMPLE",
        "secretAccessKeySecretRef": {"name": "ailab-acme-dns-route53", "key": "secret-access-key"}}


def test_private_acme_ca_with_its_ca_bundle(rendered):
    objs = objects(rendered, "cloudflare-private-ca")
    custom = by_kind(objs, "ClusterIssuer", "acme")[0]["spec"]["acme"]
    assert custom["server"] == "https://ca.internal.example:9000/acme/acme/directory"
    assert base64.b64decode(custom["caBundle"]).decode() == CA_BUNDLE.strip()
    assert "stsSeconds" not in by_kind(objs, "Middleware")[0]["spec"]["headers"]


def test_provided_certificate_for_every_ingress(rendered):
    objs = objects(rendered, "provided")
    assert not by_kind(objs, "ClusterIssuer")
    tls = {(o["metadata"]["namespace"], o["metadata"]["name"]): o for o in by_kind(objs, "Secret")}
    assert set(tls) == {("ailab", "openwebui-tls"), ("ai-research", "openwebui-research-tls"), ("ai-support", "openwebui-support-tls")}
    assert all(o["type"] == "kubernetes.io/tls" and secret_data(o) == {"tls.crt": PEM, "tls.key": KEY} for o in tls.values())
    assert not (rendered["provided"] / "helm-values" / "ingress" / "cert-manager-values.yaml").exists()


def test_existing_controller_is_only_named(rendered):
    objs = objects(rendered, "existing-nginx")
    assert {o["kind"] for o in objs} == {"ClusterIssuer"}
    assert all(o["spec"]["acme"]["solvers"] == [{"http01": {"ingress": {"ingressClassName": "nginx"}}}] for o in objs)
    assert not list((rendered["existing-nginx"] / "helm-values" / "ingress").iterdir())


# what each refusal says: the preflight's own message where it checks the setting on every runtime,
# the Kubernetes render's check otherwise
REFUSAL = {
    "no-email": 'ingress_acme_email is ""',
    "unknown-issuer": "ailab_ingress_cluster_issuer must name a rendered ClusterIssuer",
    "existing-no-class": "ingress_controller existing needs",
    "rfc2136-no-key": "dns-01 needs the provider's server/key",
    "provided-no-key": "ingress_certificate_key_pem is not a PEM private key",
}


@pytest.mark.parametrize("name", list(BAD))
def test_bad_settings_stop_before_rendering(rendered, name):
    play = rendered["output"].split(f"PLAY [{name}] ", 1)[1].split("\nPLAY [", 1)[0]
    assert f"REFUSED {name}" in play
    assert REFUSAL[name] in " ".join(play.split())   # the message, unfolded
    assert not (rendered[name] / "manifests" / "ingress").exists()
    assert not (rendered[name] / "helm-values").exists()


def test_gateway_api_instead_of_ingress(rendered):
    objs = objects(rendered, "gateway")
    gw = by_kind(objs, "Gateway", "ailab")[0]
    assert gw["metadata"] == {"name": "ailab", "namespace": "kube-system",
                              "annotations": {"cert-manager.io/cluster-issuer": "letsencrypt-production"}}
    https = {lst["hostname"]: lst["tls"]["certificateRefs"][0]["name"] for lst in gw["spec"]["listeners"] if lst["protocol"] == "HTTPS"}
    assert https == {"chat.example.com": "openwebui-tls", "research.chat.example.com": "openwebui-research-tls",
                     "support.chat.example.com": "openwebui-support-tls"}
    assert by_kind(objs, "ClusterIssuer")[0]["spec"]["acme"]["solvers"] == [
        {"http01": {"gatewayHTTPRoute": {"parentRefs": [{"name": "ailab", "namespace": "kube-system", "kind": "Gateway"}]}}}]
    assert traefik_values(rendered, "gateway")["providers"]["kubernetesGateway"] == {"enabled": True}
    with open(rendered["gateway"] / "helm-values" / "ingress" / "cert-manager-values.yaml") as f:
        assert yaml.safe_load(f)["config"]["enableGatewayAPI"] is True
    web = load_manifests(rendered["gateway"] / "manifests" / "openwebui")
    assert not by_kind(web, "Ingress")
    route = by_kind(web, "HTTPRoute", "openwebui")[0]["spec"]
    assert route["parentRefs"] == [{"name": "ailab", "namespace": "kube-system"}] and route["hostnames"] == ["chat.example.com"]
    tls = by_kind(objects(rendered, "gateway-provided"), "Secret")
    assert [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in tls] == [("kube-system", "openwebui-tls")]
