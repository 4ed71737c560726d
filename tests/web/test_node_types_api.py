from __future__ import annotations

from rest_framework.test import APIClient

from runtime.nodes.registry import default_registry


def test_it_serves_the_engines_catalogue(alice_client: APIClient) -> None:
    response = alice_client.get("/api/node-types/")
    assert response.status_code == 200
    assert response.json() == default_registry.catalogue()


def test_each_type_has_handles_and_a_settings_schema(alice_client: APIClient) -> None:
    types = {entry["type"]: entry for entry in alice_client.get("/api/node-types/").json()}
    assert {"input", "output", "transform", "worker", "router"} <= set(types)
    assert types["input"]["inputs"] == []
    assert types["output"]["outputs"] == []
    transform = types["transform"]
    assert transform["config_schema"]["type"] == "object"
    assert "template" in transform["config_schema"]["properties"]
    assert transform["config_schema"]["required"] == ["template"]
