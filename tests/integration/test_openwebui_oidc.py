"""Single sign-on in a real browser: headless chromium (molecule/e2e/tests/owui_browser.py) signs
people in to a real Open WebUI 0.12.4 (health_servers.start_openwebui, database in the session's
PostgreSQL, the session's Ollama) through a real OpenID Connect provider on loopback
(oidc_provider.py, pyop over HTTPS with a certificate of the test's own CA).

Open WebUI gets the single sign-on settings of the environment file the openwebui role renders
for Seed 003's shape (helpers/openwebui_env.py): groups in the ID token under `cognito:groups`,
Admins -> admin, Users -> user, password sign-in off. So: the sign-in page offers only the SSO
button and the password API refuses the local admin; an Admins member lands signed in as admin, a
Users member as user; a member of Other only is refused with a visible message (after signing in
at the provider: Open WebUI refuses, not the provider).

One Open WebUI start for the module (about a minute on 2 cores; the module takes about 2 minutes,
docs/development.md). On failure the screenshot, the browser's console log and the page source are
written to tests/output/browser/<test>-<time>.{png,console.log,html} (the path is printed).
"""
from __future__ import annotations

import base64
import datetime
import hashlib
import os
import re
import shutil
import sys
import tempfile
import time
import urllib.error

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC

import health_servers
import services
from helpers.openwebui_env import parse_env_file, render_env_file
from oidc_provider import OidcProvider, IdpUser

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "molecule", "e2e", "tests"))
import owui_browser as ui  # noqa: E402  (the e2e scenario's browser steps, shared)

ARTIFACTS = os.environ.get("AILAB_BROWSER_ARTIFACTS", os.path.join(ROOT, "tests", "output", "browser"))
CLIENT_ID = "ai-chat"
CLIENT_SECRET = "oidc-test-client-secret-0123456789"
PROVIDER_NAME = "Test IdP"
USERS = {
    "alice": IdpUser("alice", "alice-pw", "alice@example.org", ["Admins"]),
    "bob": IdpUser("bob", "bob-pw", "bob@example.org", ["Users"]),
    "carol": IdpUser("carol", "carol-pw", "carol@example.org", ["Other"]),
}
REFUSED = "You do not have permission to access this resource"
# What the role renders for these settings and Open WebUI reads for signing in.
SIGN_IN_ENV = re.compile(r"^(OAUTH_|OPENID_|ENABLE_OAUTH_|ENABLE_LOGIN_FORM$|ENABLE_PASSWORD_AUTH$|ENABLE_SIGNUP$|"
                         r"DEFAULT_USER_ROLE$|WEBUI_URL$)")


def spki_pin(cert_pem: str) -> str:
    """chromium's --ignore-certificate-errors-spki-list value for one certificate (its key's SHA-256)."""
    with open(cert_pem, "rb") as f:
        cert = x509.load_pem_x509_certificate(f.read())
    spki = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    """The test CA, the provider's certificate for localhost, and a CA bundle (system + test CA)."""
    d = str(tmp_path_factory.mktemp("oidc-pki"))
    pki = health_servers.make_ca(d, org="ailab OIDC test CA")
    now = datetime.datetime.now(datetime.timezone.utc)
    cert, key = pki.issue("op", ["localhost"], now - datetime.timedelta(days=1), now + datetime.timedelta(days=2))
    bundle = os.path.join(d, "bundle.pem")
    with open(bundle, "w", encoding="utf-8") as out:
        for path in ("/etc/ssl/certs/ca-certificates.crt", pki.ca_pem):
            with open(path, encoding="utf-8") as f:
                out.write(f.read())
    return {"cert": cert, "key": key, "bundle": bundle}


@pytest.fixture(scope="module")
def owui_port():
    return services.free_port()


@pytest.fixture(scope="module")
def provider(tls, owui_port):
    op = OidcProvider(tls["cert"], tls["key"], CLIENT_ID, CLIENT_SECRET,
                      [f"http://127.0.0.1:{owui_port}/oauth/oidc/callback"], list(USERS.values()),
                      groups_claim="cognito:groups")
    yield op
    op.close()


@pytest.fixture(scope="module")
def role_env(provider, owui_port, tmp_path_factory):
    """The environment file the openwebui role renders for single sign-on only, with group roles."""
    dest = str(tmp_path_factory.mktemp("oidc-env") / "open-webui.env")
    proc = render_env_file(dest, {
        "openwebui_admin_email": health_servers.OpenWebUI.email,
        "openwebui_admin_password": health_servers.OpenWebUI.password,
        "openwebui_db_password": "unused-here",
        "openwebui_url": f"http://127.0.0.1:{owui_port}",
        "openwebui_oauth_provider": "oidc",
        "openwebui_oauth_client_id": CLIENT_ID,
        "openwebui_oauth_client_secret": CLIENT_SECRET,
        "openwebui_oauth_discovery_url": provider.discovery_url,
        "openwebui_oauth_provider_name": PROVIDER_NAME,
        "openwebui_oauth_groups_claim": "cognito:groups",
        "openwebui_oauth_admin_groups": ["Admins"],
        "openwebui_oauth_user_groups": ["Users"],
        "openwebui_oauth_redirect_uri": f"http://127.0.0.1:{owui_port}/oauth/oidc/callback",
        "openwebui_password_login": False,
    })
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert CLIENT_SECRET not in proc.stdout + proc.stderr
    return parse_env_file(dest)


@pytest.fixture(scope="module")
def openwebui(ollama_server, postgres_server, role_env, tls, owui_port):
    reason = health_servers.openwebui_available()
    if reason:
        pytest.skip(reason)
    postgres_server.psql("DROP DATABASE IF EXISTS openwebui_oidc")
    postgres_server.psql("CREATE DATABASE openwebui_oidc")
    env = {k: v for k, v in role_env.items() if SIGN_IN_ENV.match(k)}
    # The role trusts extra CAs through the system store (openwebui_ca_certificates); here, a bundle.
    env.update(SSL_CERT_FILE=tls["bundle"], REQUESTS_CA_BUNDLE=tls["bundle"])
    workdir = tempfile.mkdtemp(prefix="ailab-owui-oidc-")
    started = time.monotonic()
    svc = health_servers.start_openwebui(workdir, ollama_server.url, postgres_server.dsn("openwebui_oidc"),
                                         port=owui_port, extra_env=env)
    print(f"Open WebUI with single sign-on ready in {time.monotonic() - started:.0f} s")
    yield svc
    svc.close()
    shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def browser(tls):
    driver = ui.start(extra_args=(f"--ignore-certificate-errors-spki-list={spki_pin(tls['cert'])}",))
    yield driver
    driver.quit()


@pytest.fixture(autouse=True)
def _artifacts_on_failure(request, browser):
    failed_before = request.session.testsfailed
    yield
    if request.session.testsfailed > failed_before:
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name).strip("_")
        prefix = ui.save_artifacts(browser, ARTIFACTS, f"{name}-{time.strftime('%Y%m%dT%H%M%S')}")
        line = f"browser artifacts of {request.node.name}: {prefix}.png, {prefix}.console.log, {prefix}.html"
        reporter = request.config.pluginmanager.get_plugin("terminalreporter")
        if reporter:
            reporter.write_line(line)
        else:
            print(line)


def sso_sign_in(driver, base, user):
    """What a person does: the SSO button, the provider's page, name and password, Sign in."""
    ui.sign_out(driver, base)
    ui.sso_button(driver, base, PROVIDER_NAME).click()
    name = ui.wait(driver).until(EC.visibility_of_element_located((By.ID, "username")))
    name.send_keys(user.name)
    driver.find_element(By.ID, "password").send_keys(user.password)
    driver.find_element(By.ID, "sign-in").click()


def signed_in_as(driver, base, user):
    """Waits for the chat page after the provider sent the person back; returns /api/v1/auths/."""
    ui.wait(driver, 60).until(EC.visibility_of_element_located((By.ID, "chat-input")))
    me = ui.api(base, "/api/v1/auths/", ui.token(driver))
    assert me["email"] == user.email, me
    return me


def test_the_role_rendered_the_sign_in_settings(role_env, provider):
    assert role_env["ENABLE_PASSWORD_AUTH"] == "false" and role_env["ENABLE_LOGIN_FORM"] == "false"
    assert role_env["ENABLE_OAUTH_ROLE_MANAGEMENT"] == "true"
    assert (role_env["OAUTH_ROLES_CLAIM"], role_env["OAUTH_ADMIN_ROLES"], role_env["OAUTH_ALLOWED_ROLES"]) == (
        "cognito:groups", "Admins", "Users")
    assert role_env["OPENID_PROVIDER_URL"] == provider.discovery_url
    assert role_env["OAUTH_CLIENT_SECRET"] == CLIENT_SECRET


def test_the_sign_in_page_offers_only_sso(browser, openwebui):
    button = ui.sso_button(browser, openwebui.url, PROVIDER_NAME)
    assert button.is_displayed()
    assert not browser.find_elements(By.ID, "email") and not browser.find_elements(By.ID, "password")
    # and the local admin's password no longer opens a session through the API either
    with pytest.raises(urllib.error.HTTPError) as exc:
        ui.api_post(openwebui.url, "/api/v1/auths/signin", "", {"email": openwebui.email, "password": openwebui.password})
    assert exc.value.code == 403


def test_an_admins_member_lands_signed_in_as_admin(browser, openwebui, provider):
    sso_sign_in(browser, openwebui.url, USERS["alice"])
    me = signed_in_as(browser, openwebui.url, USERS["alice"])
    assert me["role"] == "admin", me
    assert provider.sign_ins[-1] == "alice"


def test_a_users_member_lands_signed_in_as_user(browser, openwebui):
    sso_sign_in(browser, openwebui.url, USERS["bob"])
    me = signed_in_as(browser, openwebui.url, USERS["bob"])
    assert me["role"] == "user", me


def test_a_member_of_other_groups_is_refused_with_a_message(browser, openwebui, provider):
    sso_sign_in(browser, openwebui.url, USERS["carol"])
    message = ui.sign_in_error(browser, timeout=60)
    assert REFUSED in message, f"no refusal shown (toast: {message!r}, page {browser.current_url})"
    assert provider.sign_ins[-1] == "carol"   # the provider signed her in; Open WebUI refused her groups
    assert "/auth" in browser.current_url and not ui.token(browser)
    assert not browser.find_elements(By.ID, "chat-input")
