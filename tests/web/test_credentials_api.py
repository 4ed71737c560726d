"""/api/workspaces/<id>/credentials/: write-only values, per-kind config, roles, audit, rotation."""

from __future__ import annotations

import json
from io import StringIO
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from editor import secret_box
from editor.models import AuditEntry, Credential, Membership, Workspace

VALUE = "sk-test-0123456789-distinctive-a1b2"


def url(workspace: Workspace, name: str | None = None) -> str:
    base = f"/api/workspaces/{workspace.pk}/credentials/"
    return f"{base}{name}/" if name else base


def create(client: APIClient, workspace: Workspace, **body: Any) -> Any:
    payload = {"name": "openai-prod", "kind": "openai", "value": VALUE, **body}
    return client.post(url(workspace), payload, format="json")


def test_create_answers_name_kind_hint_and_config_never_the_value(
    alice_client: APIClient, alice_workspace: Workspace
) -> None:
    response = create(alice_client, alice_workspace, config={"base_url": "https://llm.example/v1/"})
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {"name", "kind", "hint", "config", "created_by", "created_at", "updated_at"}
    assert body["name"] == "openai-prod"
    assert body["kind"] == "openai"
    assert body["hint"] == "…a1b2"
    assert body["config"] == {"base_url": "https://llm.example/v1"}
    assert body["created_by"] == "alice"
    assert VALUE not in response.content.decode()

    row = Credential.objects.get(workspace=alice_workspace, name="openai-prod")
    assert VALUE not in row.ciphertext
    assert secret_box.decrypt(row.ciphertext) == VALUE

    listed = alice_client.get(url(alice_workspace))
    assert listed.status_code == 200
    assert [c["name"] for c in listed.json()] == ["openai-prod"]
    detail = alice_client.get(url(alice_workspace, "openai-prod"))
    assert detail.status_code == 200
    for answer in (listed, detail):
        text = answer.content.decode()
        assert VALUE not in text and row.ciphertext not in text


def test_a_short_value_gets_no_hint(alice_client: APIClient, alice_workspace: Workspace) -> None:
    response = create(alice_client, alice_workspace, value="abcd1234")
    assert response.status_code == 201
    assert response.json()["hint"] == ""


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "has spaces"}, "name"),
        ({"name": "ünïcode"}, "name"),
        ({"name": ""}, "name"),
        ({"value": ""}, "value"),
        ({"value": "x" * 8193}, "value"),
        ({"kind": "ftp"}, "kind"),
        ({"config": {"base_url": "ftp://example.org"}}, "config.base_url"),
        ({"config": {"base_url": "not a url"}}, "config.base_url"),
        ({"config": {"base_url": "https://user:pw@example.org"}}, "config.base_url"),
        ({"config": {"header": "X-Key"}}, "config.header"),
        ({"config": "https://example.org"}, "config"),
        ({"kind": "http_header", "config": {}}, "config.header"),
        ({"kind": "http_header", "config": {"header": "bad header"}}, "config.header"),
        ({"kind": "http_header", "config": {"header": "Host"}}, "config.header"),
        ({"kind": "http_bearer", "config": {"base_url": "https://x.org"}}, "config.base_url"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(
    alice_client: APIClient, alice_workspace: Workspace, body: dict[str, Any], field: str
) -> None:
    response = create(alice_client, alice_workspace, **body)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert field in error["fields"], error
    assert not Credential.objects.exists()
    assert VALUE not in response.content.decode()


def test_per_kind_config_is_kept(alice_client: APIClient, alice_workspace: Workspace) -> None:
    header = create(
        alice_client,
        alice_workspace,
        name="search-key",
        kind="http_header",
        config={"header": "X-Api-Key"},
    )
    assert header.status_code == 201, header.content
    assert header.json()["config"] == {"header": "X-Api-Key"}
    bearer = create(alice_client, alice_workspace, name="gh", kind="http_bearer")
    assert bearer.status_code == 201
    assert bearer.json()["config"] == {}


def test_a_name_is_unique_per_workspace_but_not_across(
    alice_client: APIClient, alice_workspace: Workspace, charlie: User, charlie_client: APIClient
) -> None:
    assert create(alice_client, alice_workspace).status_code == 201
    again = create(alice_client, alice_workspace, kind="anthropic")
    assert again.status_code == 409
    assert "name" in again.json()["error"]["fields"]
    charlie_workspace = Workspace.objects.get(memberships__user=charlie)
    assert create(charlie_client, charlie_workspace).status_code == 201


def test_replace_rename_and_delete_each_write_an_audit_entry_without_the_value(
    alice_client: APIClient, alice_workspace: Workspace
) -> None:
    create(alice_client, alice_workspace)
    before = Credential.objects.get(name="openai-prod").ciphertext
    new_value = "sk-replaced-9876543210-zz99"
    put = alice_client.put(
        url(alice_workspace, "openai-prod"),
        {"value": new_value, "config": {"base_url": "http://10.0.0.5:8000/v1"}},
        format="json",
    )
    assert put.status_code == 200, put.content
    assert put.json()["hint"] == "…zz99"
    assert put.json()["config"] == {"base_url": "http://10.0.0.5:8000/v1"}
    row = Credential.objects.get(name="openai-prod")
    assert row.ciphertext != before
    assert secret_box.decrypt(row.ciphertext) == new_value

    patch = alice_client.patch(
        url(alice_workspace, "openai-prod"), {"name": "openai-main"}, format="json"
    )
    assert patch.status_code == 200
    assert patch.json()["name"] == "openai-main"
    assert patch.json()["config"] == {"base_url": "http://10.0.0.5:8000/v1"}  # PATCH keeps it
    assert alice_client.get(url(alice_workspace, "openai-prod")).status_code == 404

    assert alice_client.delete(url(alice_workspace, "openai-main")).status_code == 204
    assert not Credential.objects.exists()

    entries = list(AuditEntry.objects.filter(workspace=alice_workspace).order_by("id"))
    actions = [e.action for e in entries if e.action.startswith("credential.")]
    assert actions == [
        "credential.created",
        "credential.updated",
        "credential.updated",
        "credential.deleted",
    ]
    updates = [e.detail for e in entries if e.action == "credential.updated"]
    assert updates[0]["changed"] == ["value", "config"]
    assert updates[1] == {"changed": ["name"], "from": "openai-prod"}
    dump = json.dumps([[e.detail, e.target_label] for e in entries])
    assert VALUE not in dump and new_value not in dump


def test_put_needs_a_value_and_a_kind_never_changes(
    alice_client: APIClient, alice_workspace: Workspace
) -> None:
    create(alice_client, alice_workspace)
    no_value = alice_client.put(url(alice_workspace, "openai-prod"), {}, format="json")
    assert no_value.status_code == 400
    assert "value" in no_value.json()["error"]["fields"]
    kind = alice_client.patch(
        url(alice_workspace, "openai-prod"), {"kind": "anthropic"}, format="json"
    )
    # The body is well formed; the credential's kind is what it conflicts with.
    assert kind.status_code == 409
    assert "kind" in kind.json()["error"]["fields"]


def test_renaming_onto_another_name_is_a_conflict(
    alice_client: APIClient, alice_workspace: Workspace
) -> None:
    create(alice_client, alice_workspace)
    create(alice_client, alice_workspace, name="other")
    response = alice_client.patch(
        url(alice_workspace, "other"), {"name": "openai-prod"}, format="json"
    )
    assert response.status_code == 409
    assert sorted(Credential.objects.values_list("name", flat=True)) == ["openai-prod", "other"]


@pytest.mark.parametrize("role", ["runner", "approver", "viewer"])
def test_members_who_cannot_edit_may_list_but_not_change(
    role: str, alice_client: APIClient, alice_workspace: Workspace
) -> None:
    create(alice_client, alice_workspace)
    user = User.objects.create_user(f"m-{role}", f"{role}@example.org", "pw")
    Membership.objects.create(user=user, workspace=alice_workspace, role=role)
    client = APIClient()
    client.force_login(user)
    assert [c["name"] for c in client.get(url(alice_workspace)).json()] == ["openai-prod"]
    assert client.get(url(alice_workspace, "openai-prod")).status_code == 200
    ciphertext = Credential.objects.get().ciphertext
    for response in (
        create(client, alice_workspace, name="mine"),
        client.put(url(alice_workspace, "openai-prod"), {"value": "x" * 20}, format="json"),
        client.patch(url(alice_workspace, "openai-prod"), {"name": "taken"}, format="json"),
        client.delete(url(alice_workspace, "openai-prod")),
    ):
        assert response.status_code == 403, response.content
        assert response.json()["error"]["code"] == "forbidden"
    assert list(Credential.objects.values_list("name", "ciphertext")) == [
        ("openai-prod", ciphertext)
    ]


def test_another_workspace_is_not_found(
    alice_client: APIClient, alice_workspace: Workspace, charlie_client: APIClient
) -> None:
    create(alice_client, alice_workspace)
    for response in (
        charlie_client.get(url(alice_workspace)),
        charlie_client.get(url(alice_workspace, "openai-prod")),
        create(charlie_client, alice_workspace, name="intruder"),
        charlie_client.patch(url(alice_workspace, "openai-prod"), {"name": "x"}, format="json"),
        charlie_client.delete(url(alice_workspace, "openai-prod")),
    ):
        assert response.status_code == 404, response.content
        assert response.json()["error"]["code"] == "not_found"
    assert list(Credential.objects.values_list("name", flat=True)) == ["openai-prod"]


def test_anonymous_is_refused(anon_client: APIClient, alice_workspace: Workspace) -> None:
    assert anon_client.get(url(alice_workspace)).status_code in (401, 403)


def test_the_schema_documents_the_endpoints_with_a_write_only_value(
    alice_client: APIClient,
) -> None:
    response = alice_client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    schema = response.json()
    paths = schema["paths"]
    listed = paths["/api/workspaces/{workspace_id}/credentials/"]
    detail = paths["/api/workspaces/{workspace_id}/credentials/{name}/"]
    assert set(listed) >= {"get", "post"}
    assert set(detail) >= {"get", "put", "patch", "delete"}
    answer = schema["components"]["schemas"]["Credential"]
    assert "value" not in answer["properties"]
    assert "ciphertext" not in answer["properties"]
    assert "value" in schema["components"]["schemas"]["CredentialCreateRequest"]["properties"]


# -- keys and rotation ----------------------------------------------------------------------------


def test_rotate_credentials_reencrypts_with_the_first_key(
    alice_client: APIClient, alice_workspace: Workspace, settings: Any
) -> None:
    old_key = Fernet.generate_key().decode()
    settings.CREDENTIALS_KEYS = [old_key]
    create(alice_client, alice_workspace)
    create(alice_client, alice_workspace, name="second", value="another-secret-value-0000")
    sealed = dict(Credential.objects.values_list("name", "ciphertext"))
    assert Fernet(old_key).decrypt(sealed["openai-prod"].encode()).decode() == VALUE

    new_key = Fernet.generate_key().decode()
    settings.CREDENTIALS_KEYS = [new_key, old_key]
    out = StringIO()
    call_command("rotate_credentials", stdout=out)
    assert "Re-encrypted 2 credential(s)" in out.getvalue()

    resealed = dict(Credential.objects.values_list("name", "ciphertext"))
    assert Fernet(new_key).decrypt(resealed["openai-prod"].encode()).decode() == VALUE
    assert Fernet(new_key).decrypt(resealed["second"].encode()).decode() == (
        "another-secret-value-0000"
    )
    # The old key can go now: the new one alone opens everything.
    settings.CREDENTIALS_KEYS = [new_key]
    assert secret_box.decrypt(resealed["openai-prod"]) == VALUE


def test_rotation_reports_values_no_key_opens(
    alice_client: APIClient, alice_workspace: Workspace, settings: Any
) -> None:
    settings.CREDENTIALS_KEYS = [Fernet.generate_key().decode()]
    create(alice_client, alice_workspace)
    settings.CREDENTIALS_KEYS = [Fernet.generate_key().decode()]  # the old key is lost
    with pytest.raises(CommandError, match="1 credential"):
        call_command("rotate_credentials", stdout=StringIO(), stderr=StringIO())


def test_values_saved_with_the_development_key_rotate_onto_a_real_key(
    alice_client: APIClient, alice_workspace: Workspace, settings: Any
) -> None:
    settings.CREDENTIALS_KEYS = []
    create(alice_client, alice_workspace)
    key = Fernet.generate_key().decode()
    settings.CREDENTIALS_KEYS = [key]
    call_command("rotate_credentials", stdout=StringIO())
    sealed = Credential.objects.get().ciphertext
    assert Fernet(key).decrypt(sealed.encode()).decode() == VALUE


def test_a_new_secret_key_with_the_old_one_as_fallback_keeps_and_rotates_derived_values(
    alice_client: APIClient, alice_workspace: Workspace, settings: Any
) -> None:
    settings.CREDENTIALS_KEYS = []
    create(alice_client, alice_workspace)  # encrypted with the key derived from SECRET_KEY
    old_secret = settings.SECRET_KEY
    settings.SECRET_KEY = "the-next-secret-key-" + "y" * 40
    settings.SECRET_KEY_FALLBACKS = []
    sealed = Credential.objects.get().ciphertext
    with pytest.raises(secret_box.SecretBoxError):
        secret_box.decrypt(sealed)  # without the fallback the value is lost
    settings.SECRET_KEY_FALLBACKS = [old_secret]
    assert secret_box.decrypt(sealed) == VALUE
    call_command("rotate_credentials", stdout=StringIO())
    resealed = Credential.objects.get().ciphertext
    settings.SECRET_KEY_FALLBACKS = []  # the old key can go now
    assert secret_box.decrypt(resealed) == VALUE


def test_a_malformed_key_stops_rotation_without_echoing_it(settings: Any, db: None) -> None:
    settings.CREDENTIALS_KEYS = ["not-a-fernet-key-but-secret"]
    with pytest.raises(CommandError) as caught:
        call_command("rotate_credentials", stdout=StringIO(), stderr=StringIO())
    assert "entry 1" in str(caught.value)
    assert "not-a-fernet-key-but-secret" not in str(caught.value)


def test_system_checks_warn_without_a_key_and_refuse_it_for_deploy(settings: Any) -> None:
    from orchestrator.checks import credentials_key_is_set, credentials_key_is_set_for_deploy

    settings.CREDENTIALS_KEYS = []
    settings.DEBUG = False
    assert [m.id for m in credentials_key_is_set(None)] == ["orchestrator.W002"]
    assert [m.id for m in credentials_key_is_set_for_deploy(None)] == ["orchestrator.E002"]
    settings.DEBUG = True
    assert credentials_key_is_set_for_deploy(None) == []
    settings.CREDENTIALS_KEYS = ["nope"]
    messages = credentials_key_is_set(None)
    assert [m.id for m in messages] == ["orchestrator.E003"]
    assert "nope" not in messages[0].msg
    settings.CREDENTIALS_KEYS = [Fernet.generate_key().decode()]
    assert credentials_key_is_set(None) == []
    assert credentials_key_is_set_for_deploy(None) == []
