"""What docs/runbooks/awx.md promises of the pinned awx.awx (24.6.1 in ansible 12.3.0), read from
its own code and confirmed here on the modules themselves, with the HTTP layer replaced by canned
API answers (ControllerAPIModule.make_request patched: no request leaves the test, no server, no AWX stand-in; the answers are
the few JSON objects each test names):

- check mode reads and never writes: a missing or differing object is `changed` and no POST, PATCH
  or DELETE is made (post/patch/delete_endpoint exit first);
- with update_secrets false a credential whose secret AWX hides as $encrypted$ is left alone
  (`changed` false), with true it is rewritten: how the vault credential is rotated.
"""
from __future__ import annotations

import pytest

from ansible_collections.awx.awx.plugins.module_utils.controller_api import ControllerAPIModule
from ansible_collections.awx.awx.plugins.modules import credential, organization
from plugins.modules.utils import AnsibleExitJson, patch_exit_fail, set_module_args

# the host is only resolved (awx.awx checks it at start), never contacted
CONN = {"controller_host": "https://127.0.0.1", "controller_oauthtoken": "t"}
ORG = {"id": 1, "type": "organization", "name": "ailab", "description": "ailab.stack platform",
       "url": "/api/v2/organizations/1/", "related": {}}
VAULT = {"id": 3, "type": "credential_type", "name": "Vault", "url": "/api/v2/credential_types/3/", "related": {}}
CRED = {"id": 5, "type": "credential", "name": "ailab-vault", "credential_type": 3, "organization": 1,
        "inputs": {"vault_password": "$encrypted$"}, "url": "/api/v2/credentials/5/", "related": {}}


def run(module, args: dict, objects: dict[str, list], check: bool, monkeypatch) -> tuple[dict, list[str]]:
    """Run an awx.awx module; GETs of an endpoint answer `objects[endpoint]`, writes are recorded."""
    writes = []

    def make_request(self, method, endpoint, *a, **kw):
        if method != "GET":
            writes.append(f"{method} {endpoint}")
            return {"status_code": 200 if method == "PATCH" else 201, "json": {"id": 9, "url": "/x/9/", "type": "x", "related": {}}}
        results = objects.get(endpoint.strip("/").split("/")[-1], [])
        return {"status_code": 200, "json": {"count": len(results), "results": results, "next": None}}

    patch_exit_fail(monkeypatch)
    monkeypatch.setattr(ControllerAPIModule, "make_request", make_request)
    with set_module_args({**CONN, **args, "_ansible_check_mode": check}):
        with pytest.raises(AnsibleExitJson) as exc:
            module.main()
    return exc.value.args[0], writes


@pytest.mark.parametrize("existing, changed", [([], True), ([{**ORG, "description": "old"}], True), ([ORG], False)])
def test_check_mode_reports_drift_and_writes_nothing(existing, changed, monkeypatch):
    result, writes = run(organization, {"name": "ailab", "description": "ailab.stack platform"},
                         {"organizations": existing}, True, monkeypatch)
    assert (result["changed"], writes) == (changed, [])


def test_without_check_mode_the_same_drift_is_written(monkeypatch):
    result, writes = run(organization, {"name": "ailab", "description": "ailab.stack platform"},
                         {"organizations": [{**ORG, "description": "old"}]}, False, monkeypatch)
    assert result["changed"] and writes == ["PATCH /api/v2/organizations/1/"]


@pytest.mark.parametrize("update_secrets, changed", [(False, False), (True, True)])
def test_hidden_secrets_are_kept_unless_update_secrets(update_secrets, changed, monkeypatch):
    args = {"name": "ailab-vault", "organization": "ailab", "credential_type": "Vault",
            "inputs": {"vault_password": "new"}, "update_secrets": update_secrets}
    objects = {"organizations": [ORG], "credential_types": [VAULT], "credentials": [CRED]}
    result, writes = run(credential, args, objects, False, monkeypatch)
    assert result["changed"] is changed
    assert writes == (["PATCH /api/v2/credentials/5/"] if changed else [])
