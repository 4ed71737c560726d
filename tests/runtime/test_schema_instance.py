"""``instance_for``: a JSON Schema instance generator, checked with jsonschema on hand-picked
schemas and on random ones from hypothesis."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft7Validator, Draft202012Validator

from runtime.schema_instance import InstanceGenerator, instance_for


def assert_valid(schema: dict[str, Any], instance: Any) -> None:
    errors = [e.message for e in Draft202012Validator(schema).iter_errors(instance)]
    assert not errors, (schema, instance, errors)


# -- instance_for ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"type": "string"}, "hint"),
        ({"type": "string", "minLength": 6}, "hint.."),
        ({"type": "string", "maxLength": 2}, "hi"),
        ({"type": "string", "format": "date-time"}, "2024-01-01T00:00:00Z"),
        ({"type": "integer"}, 0),
        ({"type": "integer", "minimum": 3, "multipleOf": 5}, 5),
        ({"type": "integer", "exclusiveMaximum": -2}, -3),
        ({"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 0.5}, 0.25),
        ({"type": "boolean"}, False),
        ({"type": "null"}, None),
        ({"enum": ["b", "a"]}, "b"),
        ({"const": {"x": 1}}, {"x": 1}),
        ({"type": ["null", "integer"]}, 0),
        ({"type": "array", "items": {"type": "integer"}}, [0]),
        ({"type": "array", "maxItems": 0}, []),
        ({"type": "array", "prefixItems": [{"const": 1}, {"type": "string"}]}, [1, "hint"]),
        (
            {"allOf": [{"properties": {"a": {"type": "integer"}}}, {"required": ["b"]}]},
            {
                "a": 0,
                "b": "hint",
            },
        ),
        ({"anyOf": [{"type": "null"}, {"type": "string", "maxLength": 1}]}, "h"),
        ({}, "hint"),
    ],
)
def test_instance_for_simple_schemas(schema: dict[str, Any], expected: Any) -> None:
    value = instance_for(schema, "hint")

    assert value == expected
    assert_valid(schema, value)


def test_instance_for_follows_refs_and_ends_on_recursive_schemas() -> None:
    schema = {
        "$defs": {
            "Node": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}},
                },
                "required": ["name"],
            }
        },
        "$ref": "#/$defs/Node",
    }

    value = instance_for(schema, "n")

    assert value["name"] == "n"
    assert_valid(schema, value)


def test_instance_for_understands_draft_7_definitions() -> None:
    schema = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "definitions": {"Id": {"type": "integer", "minimum": 10, "exclusiveMaximum": 11}},
        "type": "object",
        "properties": {"id": {"$ref": "#/definitions/Id"}},
        "required": ["id"],
    }

    value = instance_for(schema, "")

    assert value == {"id": 10}
    assert Draft7Validator(schema).is_valid(value)


# -- instance_for over random schemas --------------------------------------------------------------

_scalars = st.one_of(st.none(), st.booleans(), st.integers(-100, 100), st.text(max_size=5))


@st.composite
def _strings(draw: st.DrawFn) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    low = draw(st.none() | st.integers(0, 12))
    high = draw(st.none() | st.integers(low or 0, 20))
    if low is not None:
        schema["minLength"] = low
    if high is not None:
        schema["maxLength"] = high
    return schema


@st.composite
def _numbers(draw: st.DrawFn) -> dict[str, Any]:
    # Built around a witness value, so every schema has at least one instance.
    kind = draw(st.sampled_from(["integer", "number"]))
    step = draw(st.none() | st.integers(1, 7))
    witness = draw(st.integers(-50, 50)) * (step or 1)
    schema: dict[str, Any] = {"type": kind}
    if step is not None:
        schema["multipleOf"] = step
    below = draw(st.none() | st.integers(0, 20))
    if below is not None:
        if draw(st.booleans()):
            schema["minimum"] = witness - below
        else:
            schema["exclusiveMinimum"] = witness - below - draw(st.sampled_from([1, 0.5]))
    above = draw(st.none() | st.integers(0, 20))
    if above is not None:
        if draw(st.booleans()):
            schema["maximum"] = witness + above
        else:
            schema["exclusiveMaximum"] = witness + above + draw(st.sampled_from([1, 0.5]))
    return schema


_leaves = st.one_of(
    _strings(),
    _numbers(),
    st.just({"type": "boolean"}),
    st.just({"type": "null"}),
    st.just({}),
    st.builds(lambda v: {"const": v}, _scalars),
    st.lists(_scalars, min_size=1, max_size=4, unique_by=json.dumps).map(lambda v: {"enum": v}),
    st.sampled_from([{"type": ["string", "null"]}, {"type": ["null", "integer"]}]),
)


@st.composite
def _arrays(draw: st.DrawFn, children: st.SearchStrategy[dict[str, Any]]) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "array", "items": draw(children)}
    low = draw(st.none() | st.integers(0, 3))
    high = draw(st.none() | st.integers(low or 0, 4))
    if low is not None:
        schema["minItems"] = low
    if high is not None:
        schema["maxItems"] = high
    return schema


@st.composite
def _objects(draw: st.DrawFn, children: st.SearchStrategy[dict[str, Any]]) -> dict[str, Any]:
    properties = draw(st.dictionaries(st.text(min_size=1, max_size=6), children, max_size=4))
    required = (
        draw(st.lists(st.sampled_from(sorted(properties)), unique=True)) if properties else []
    )
    schema: dict[str, Any] = {"type": "object", "properties": properties, "required": required}
    if draw(st.booleans()):
        schema["additionalProperties"] = False
    return schema


def _extend(children: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of(
        _arrays(children),
        _objects(children),
        st.lists(children, min_size=1, max_size=3).map(lambda options: {"anyOf": options}),
    )


_schemas = st.recursive(_leaves, _extend, max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(_schemas, st.text(max_size=30))
def test_instance_for_is_valid_for_random_simple_schemas(schema: dict[str, Any], hint: str) -> None:
    value = instance_for(schema, hint)

    assert_valid(schema, value)
    assert instance_for(schema, hint) == value  # deterministic


# -- the generator's helpers -----------------------------------------------------------------------


def test_resolve_follows_local_refs_and_keeps_their_siblings() -> None:
    schema = {"$defs": {"Name": {"type": "string", "minLength": 2}}, "$ref": "#/$defs/Name"}
    generator = InstanceGenerator(schema)

    assert generator.resolve(schema) == {"type": "string", "minLength": 2, "$defs": schema["$defs"]}
    assert generator.resolve({"$ref": "#/$defs/Name", "maxLength": 4}) == {
        "type": "string",
        "minLength": 2,
        "maxLength": 4,
    }
    # A ref that leads nowhere is dropped rather than failing generation.
    assert generator.resolve({"$ref": "#/$defs/Missing", "type": "integer"}) == {"type": "integer"}


@pytest.mark.parametrize(
    ("schema", "kind"),
    [
        ({"type": ["null", "integer"]}, "integer"),
        ({"type": ["null"]}, "null"),
        ({"required": ["a"]}, "object"),
        ({"minItems": 1}, "array"),
        ({"multipleOf": 2}, "number"),
        ({"format": "email"}, "string"),
        (True, "any"),
    ],
)
def test_type_of_reads_the_declared_type_or_the_keywords(schema: Any, kind: str) -> None:
    assert InstanceGenerator({}).type_of(schema) == kind


def test_a_broken_schema_still_gets_an_instance_and_nothing_is_checked() -> None:
    broken = {"type": "string", "minLength": "three"}
    generator = InstanceGenerator(broken)

    assert generator.valid(42, broken)  # no validator for an invalid schema
    assert instance_for(broken, "hint") == "hint"
