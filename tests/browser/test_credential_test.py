"""A credential's Test in the browser, on the real stack: the settings page asks Daphne, Daphne asks
a real OpenAI-compatible server on loopback (one that refuses what llama-cpp-python refuses) and
the page shows what that server can do; a credential whose server is not there says so."""

from __future__ import annotations

import uuid

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from editor.models import AuditEntry
from tests.support.server_refusals import (
    LLAMA_CPP_PYTHON_SCHEMA_REFUSAL,
    STREAM_OPTIONS_REFUSAL,
    calling_offered_tools,
    refusing_each,
)
from tests.support.vendor_server import VendorServer, unused_port_url

pytestmark = [pytest.mark.browser, pytest.mark.stack, pytest.mark.django_db(transaction=True)]


def add_credential(page: Page, name: str, value: str, base_url: str) -> None:
    form = page.get_by_test_id("credential-form")
    form.get_by_label("Kind").select_option("openai")
    form.get_by_label("Name").fill(name)
    form.get_by_label("Value").fill(value)
    form.get_by_label("Base URL").fill(base_url)
    form.get_by_test_id("credential-submit").click()
    expect(page.get_by_test_id(f"credential-{name}")).to_be_visible()


def test_the_test_button_shows_what_the_server_can_do_or_that_it_is_not_there(
    app: Page, alice: User
) -> None:
    value = f"sk-test-{uuid.uuid4().hex}"
    with VendorServer() as server:
        server.respond_with(
            calling_offered_tools(
                refusing_each(
                    {
                        "json_schema": LLAMA_CPP_PYTHON_SCHEMA_REFUSAL,
                        "stream_options": STREAM_OPTIONS_REFUSAL,
                    }
                )
            )
        )
        app.goto("/settings/credentials")
        add_credential(app, "local", value, server.url)
        add_credential(app, "gone", value, unused_port_url())

        app.get_by_test_id("credential-test-button-local").click()
        form = app.get_by_test_id("credential-test-form-local")
        form.get_by_label("Model to ask through local").fill("openai/small")
        form.get_by_test_id("credential-test-run").click()

        result = form.get_by_test_id("credential-test-result")
        expect(result).to_have_attribute("data-ok", "true")
        expect(result).to_contain_text("The key works: 127.0.0.1 answered with openai/small.")
        output = result.get_by_test_id("credential-test-structured_output")
        expect(output).to_have_attribute("data-value", "json_object")
        expect(output).to_contain_text("found out now")
        expect(result.get_by_test_id("credential-test-stream_usage")).to_have_attribute(
            "data-value", "counted"
        )
        expect(result.get_by_test_id("credential-test-tools")).to_have_attribute(
            "data-value", "native"
        )
        # The key went to the server, and never back to the page.
        assert {r.headers["authorization"] for r in server.requests} == {f"Bearer {value}"}
        assert value not in app.content()

    app.get_by_test_id("credential-test-button-gone").click()
    gone = app.get_by_test_id("credential-test-form-gone")
    gone.get_by_label("Model to ask through gone").fill("openai/small")
    gone.get_by_test_id("credential-test-run").click()
    failed = gone.get_by_test_id("credential-test-result")
    expect(failed).to_have_attribute("data-problem", "unreachable")
    expect(failed).to_contain_text("Server unreachable")
    expect(failed).to_contain_text("Could not reach 127.0.0.1: is the server running")

    tested = AuditEntry.objects.filter(action="credential.tested").order_by("created_at")
    assert [(e.target_label, e.detail["ok"]) for e in tested] == [("local", True), ("gone", False)]
