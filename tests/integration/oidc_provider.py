"""A real OpenID Connect provider on loopback for the single sign-on tests, built on pyop (PyPI,
the provider library SATOSA uses; requirements.txt): discovery, JWKS, the authorization endpoint
with a sign-in page, the token endpoint (client_secret_basic / _post) and userinfo are pyop's
protocol handling; this file only puts them behind http.server over HTTPS (pyop, like the OpenID
specification, refuses an issuer that is not https://) with a certificate from the test's own CA.

Users sign in with a name and a password on the provider's page; their groups go into the ID
token under a claim the test chooses (as Cognito's `cognito:groups`), and e-mail and name come
from userinfo.
"""
from __future__ import annotations

import html
import json
import ssl
import threading
import urllib.parse
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from Cryptodome.PublicKey import RSA
from jwkest.jwk import RSAKey
from pyop.authz_state import AuthorizationState
from pyop.exceptions import BearerTokenError, InvalidAuthenticationRequest, OAuthError
from pyop.provider import Provider
from pyop.subject_identifier import HashBasedSubjectIdentifierFactory
from pyop.userinfo import Userinfo

LOGIN_FORM = """<!doctype html><html><head><title>Test identity provider</title></head><body>
<h1>Sign in to the test identity provider</h1>
<form method="post" action="/login">
<input type="hidden" name="request" value="{request}">
<label>User name <input id="username" name="username" autocomplete="off"></label>
<label>Password <input id="password" name="password" type="password"></label>
<button id="sign-in" type="submit">Sign in</button>
</form><p id="error">{error}</p></body></html>"""


@dataclass
class IdpUser:
    name: str           # what the person types on the provider's page
    password: str
    email: str
    groups: list


class OidcProvider:
    """pyop's Provider behind a threaded HTTPS server on 127.0.0.1 (https://localhost:<port>)."""

    def __init__(self, cert: str, key: str, client_id: str, client_secret: str, redirect_uris: list,
                 users: list, groups_claim: str = "groups") -> None:
        self.users = {u.name: u for u in users}
        self.groups_claim = groups_claim
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.port = self.httpd.server_address[1]
        self.issuer = f"https://localhost:{self.port}"
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.discovery_url = self.issuer + "/.well-known/openid-configuration"
        self.sign_ins: list = []   # names of the users the provider signed in, in order
        configuration = {
            "issuer": self.issuer,
            "authorization_endpoint": self.issuer + "/authorize",
            "token_endpoint": self.issuer + "/token",
            "userinfo_endpoint": self.issuer + "/userinfo",
            "jwks_uri": self.issuer + "/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "scopes_supported": ["openid", "email", "profile"],
            "claims_supported": ["sub", "email", "email_verified", "name", groups_claim],
        }
        clients = {client_id: {"client_secret": client_secret, "redirect_uris": redirect_uris,
                               "response_types": ["code"], "token_endpoint_auth_method": "client_secret_basic"}}
        userinfo = Userinfo({u.name: {"sub": f"sub-{u.name}", "email": u.email, "email_verified": True,
                                      "name": u.name.capitalize()} for u in users})
        signing_key = RSAKey(key=RSA.generate(2048), alg="RS256", kid="test-signing-key")
        self.provider = Provider(signing_key, configuration,
                                 AuthorizationState(HashBasedSubjectIdentifierFactory("test-salt")),
                                 clients, userinfo)
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def _groups(self, user_id: str, _client_id: str) -> dict:
        groups = self.users[user_id].groups
        return {self.groups_claim: groups} if groups else {}   # Cognito omits the claim for no group

    def _handler(self):
        op = self

        class Handler(BaseHTTPRequestHandler):
            def _send(self, status, body, content_type="application/json", headers=None):
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def _body(self):
                return self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()

            def do_GET(self):   # noqa: N802 - http.server's name
                path, _sep, query = self.path.partition("?")
                if path == "/.well-known/openid-configuration":
                    return self._send(200, op.provider.provider_configuration.to_json())
                if path == "/jwks":
                    return self._send(200, json.dumps(op.provider.jwks))
                if path == "/authorize":
                    try:
                        op.provider.parse_authentication_request(query)
                    except InvalidAuthenticationRequest as e:
                        return self._send(400, f"invalid authentication request: {e}", "text/plain")
                    return self._send(200, LOGIN_FORM.format(request=html.escape(query), error=""), "text/html")
                if path == "/userinfo":
                    return self._userinfo(query)
                return self._send(404, '{"error": "not found"}')

            def do_POST(self):  # noqa: N802
                body = self._body()
                if self.path == "/login":
                    return self._login(dict(urllib.parse.parse_qsl(body)))
                if self.path == "/token":
                    try:
                        resp = op.provider.handle_token_request(body, dict(self.headers), op._groups)
                    except OAuthError as e:
                        return self._send(400, json.dumps({"error": e.oauth_error, "error_description": str(e)}))
                    return self._send(200, resp.to_json(), headers={"Cache-Control": "no-store"})
                if self.path == "/userinfo":
                    return self._userinfo(body)
                return self._send(404, '{"error": "not found"}')

            def _login(self, form):
                query = form.get("request", "")
                auth_req = op.provider.parse_authentication_request(query)
                user = op.users.get(form.get("username", ""))
                if user is None or form.get("password") != user.password:
                    page = LOGIN_FORM.format(request=html.escape(query), error="Wrong user name or password.")
                    return self._send(200, page, "text/html")
                op.sign_ins.append(user.name)
                resp = op.provider.authorize(auth_req, user.name)
                return self._send(302, "", "text/plain", {"Location": resp.request(auth_req["redirect_uri"])})

            def _userinfo(self, request):
                try:
                    resp = op.provider.handle_userinfo_request(request, dict(self.headers))
                except (OAuthError, BearerTokenError) as e:
                    return self._send(401, json.dumps({"error": getattr(e, "oauth_error", "invalid_token")}),
                                      headers={"WWW-Authenticate": "Bearer error=\"invalid_token\""})
                return self._send(200, resp.to_json())

            def log_message(self, *args):
                pass

        return Handler

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
