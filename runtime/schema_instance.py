"""Make an instance of a JSON Schema: a small, deterministic value that validates against it.

The offline ``local`` provider answers structured-output requests and tool calls with these, so
flows with schemas run without a model; nothing here is specific to a provider.
"""

from __future__ import annotations

import math
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for

_FORMATS = {
    "date-time": "2024-01-01T00:00:00Z",
    "date": "2024-01-01",
    "time": "00:00:00Z",
    "duration": "P1D",
    "email": "someone@example.com",
    "idn-email": "someone@example.com",
    "hostname": "example.com",
    "idn-hostname": "example.com",
    "ipv4": "127.0.0.1",
    "ipv6": "::1",
    "uri": "https://example.com/",
    "iri": "https://example.com/",
    "uri-reference": "https://example.com/",
    "iri-reference": "https://example.com/",
    "url": "https://example.com/",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "json-pointer": "",
    "regex": ".*",
}

# Deeper than this a schema is recursive: stop adding optional parts so generation ends.
_MAX_DEPTH = 12


def instance_for(schema: Any, hint: str = "", *, root: Any = None) -> Any:
    """A small, deterministic instance of a JSON Schema; strings are ``hint``.

    Covers what structured-output and tool schemas use: ``type`` (or a list of types), objects
    (every declared property, required or not; required ones missing from ``properties`` from
    ``additionalProperties``), arrays (``minItems`` items, at least one, at most ``maxItems``;
    ``prefixItems``), strings (``minLength`` / ``maxLength``, common ``format`` values), numbers
    and integers (bounds, exclusive bounds, ``multipleOf``), booleans (false), null, ``enum``
    (the first value), ``const``, ``allOf`` / ``anyOf`` / ``oneOf`` (the first option that works,
    non-null first) and local ``$ref``s (``root``, the document refs resolve against, defaults
    to ``schema``). ``pattern`` and ``uniqueItems`` on several items are not honoured.

    The same schema and hint always give the same instance.
    """
    return InstanceGenerator(schema if root is None else root).make(schema, hint, 0)


class InstanceGenerator:
    """Makes instances of subschemas of one document (``root``, which ``$ref``s resolve
    against) and checks values against them."""

    def __init__(self, root: Any) -> None:
        self.root = root
        document: Any = root if isinstance(root, (dict, bool)) else {}
        cls = (
            validator_for(document, default=Draft202012Validator)
            if isinstance(document, dict)
            else Draft202012Validator
        )
        try:
            cls.check_schema(document)
            self._validator: Validator | None = cls(document)
        except SchemaError:
            self._validator = None  # a broken schema: generate anyway, check nothing

    def valid(self, instance: Any, schema: Any) -> bool:
        if self._validator is None:
            return True
        try:
            return bool(self._validator.evolve(schema=schema).is_valid(instance))
        except Exception:  # an unresolvable $ref and the like: nothing to check against
            return True

    def resolve(self, schema: Any, seen: int = 0) -> Any:
        """Follow a local ``$ref`` (``#/...``); siblings of the ``$ref`` are kept."""
        if not isinstance(schema, dict) or not isinstance(schema.get("$ref"), str) or seen > 32:
            return schema
        ref: str = schema["$ref"]
        if not ref.startswith("#"):
            return {k: v for k, v in schema.items() if k != "$ref"}
        target: Any = self.root
        for part in ref[1:].split("/")[1:] if ref != "#" else []:
            part = part.replace("~1", "/").replace("~0", "~")
            if isinstance(target, dict) and part in target:
                target = target[part]
            elif isinstance(target, list) and part.isdigit() and int(part) < len(target):
                target = target[int(part)]
            else:
                return {k: v for k, v in schema.items() if k != "$ref"}
        siblings = {k: v for k, v in schema.items() if k != "$ref"}
        resolved = self.resolve(target, seen + 1)
        if isinstance(resolved, dict) and siblings:
            return {**resolved, **siblings}
        return resolved

    def make(self, schema: Any, hint: str, depth: int) -> Any:
        schema = self.resolve(schema)
        if schema is True or schema == {} or not isinstance(schema, dict):
            return hint  # anything goes
        if "const" in schema:
            return schema["const"]
        enum = schema.get("enum")
        if isinstance(enum, list) and enum:
            return next((v for v in enum if self.valid(v, schema)), enum[0])
        if isinstance(schema.get("allOf"), list):
            return self.make(self._merge(schema), hint, depth)
        for key in ("anyOf", "oneOf"):
            options = schema.get(key)
            if isinstance(options, list) and options:
                return self._first_option(schema, key, options, hint, depth)

        kind = self.type_of(schema)
        if kind == "object":
            return self._object(schema, hint, depth)
        if kind == "array":
            return self._array(schema, hint, depth)
        if kind in ("integer", "number"):
            return self._number(schema, integer=kind == "integer")
        if kind == "boolean":
            return False
        if kind == "null":
            return None
        return self._string(schema, hint)

    # -- combinators

    def _merge(self, schema: dict[str, Any]) -> dict[str, Any]:
        merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
        for part in schema["allOf"]:
            part = self.resolve(part)
            if isinstance(part, dict) and isinstance(part.get("allOf"), list):
                part = self._merge(part)
            if not isinstance(part, dict):
                continue
            for key, value in part.items():
                if key == "properties" and isinstance(value, dict):
                    merged["properties"] = {**merged.get("properties", {}), **value}
                elif key == "required" and isinstance(value, list):
                    merged["required"] = [*merged.get("required", []), *value]
                else:
                    merged.setdefault(key, value)
        return merged

    def _first_option(
        self, schema: dict[str, Any], key: str, options: list[Any], hint: str, depth: int
    ) -> Any:
        siblings = {k: v for k, v in schema.items() if k != key}
        # Non-null options first: an Optional[str] answers a string, which says more than null.
        ordered = sorted(options, key=lambda option: self.type_of(self.resolve(option)) == "null")
        first: Any = None
        for index, option in enumerate(ordered):
            option = self.resolve(option)
            combined = {**siblings, **option} if isinstance(option, dict) else option
            candidate = self.make(combined, hint, depth)
            if index == 0:
                first = candidate
            if self.valid(candidate, schema):
                return candidate
        return first

    def type_of(self, schema: Any) -> str:
        """The JSON type a value of ``schema`` gets: its declared type (non-null first) or the one
        its keywords imply."""
        if not isinstance(schema, dict):
            return "any"
        declared = schema.get("type")
        if isinstance(declared, list):
            usable = [t for t in declared if isinstance(t, str)]
            non_null = [t for t in usable if t != "null"]
            return non_null[0] if non_null else (usable[0] if usable else "any")
        if isinstance(declared, str):
            return declared
        if {"properties", "required", "additionalProperties"} & set(schema):
            return "object"
        if {"items", "prefixItems", "minItems", "maxItems"} & set(schema):
            return "array"
        if {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"} & set(
            schema
        ):
            return "number"
        return "string"

    # -- kinds

    def _object(self, schema: dict[str, Any], hint: str, depth: int) -> dict[str, Any]:
        properties = schema.get("properties")
        properties = properties if isinstance(properties, dict) else {}
        required = [r for r in schema.get("required") or [] if isinstance(r, str)]
        result: dict[str, Any] = {}
        for name, sub in properties.items():
            # Past the depth limit only required properties, so recursive schemas end.
            if depth < _MAX_DEPTH or name in required:
                result[name] = self.make(sub, hint, depth + 1)
        extra = schema.get("additionalProperties")
        for name in required:
            if name not in result:
                result[name] = self.make(extra if isinstance(extra, dict) else {}, hint, depth + 1)
        minimum = schema.get("minProperties")
        if isinstance(minimum, int) and extra is not False:
            index = 0
            while len(result) < minimum:
                index += 1
                key = f"field{index}"
                if key not in result:
                    value = self.make(extra if isinstance(extra, dict) else {}, hint, depth + 1)
                    result[key] = value
        return result

    def _array(self, schema: dict[str, Any], hint: str, depth: int) -> list[Any]:
        prefix = schema.get("prefixItems")
        prefix = prefix if isinstance(prefix, list) else []
        items = schema.get("items", {})
        if isinstance(items, list):  # draft 4-7 tuple form
            prefix, items = items, schema.get("additionalItems", {})
        min_items = schema.get("minItems")
        max_items = schema.get("maxItems")
        minimum: int = min_items if isinstance(min_items, int) else 0
        maximum: int | None = max_items if isinstance(max_items, int) else None
        count = max(minimum, len(prefix), 1 if depth < _MAX_DEPTH else 0)
        if items is False:
            count = min(count, len(prefix))
        if maximum is not None:
            count = min(count, maximum)
        result = [
            self.make(prefix[index] if index < len(prefix) else items, hint, depth + 1)
            for index in range(count)
        ]
        contains = schema.get("contains")
        if contains is not None and not any(self.valid(item, contains) for item in result):
            needed = self.make(contains, hint, depth + 1)
            if result and len(result) > len(prefix):
                result[-1] = needed
            elif maximum is None or len(result) < maximum:
                result.append(needed)
        return result

    def _string(self, schema: dict[str, Any], hint: str) -> str:
        fmt = schema.get("format")
        text = _FORMATS.get(fmt, hint) if isinstance(fmt, str) else hint
        minimum = schema.get("minLength")
        maximum = schema.get("maxLength")
        if isinstance(minimum, int) and len(text) < minimum:
            text = text + "." * (minimum - len(text))
        if isinstance(maximum, int) and len(text) > maximum:
            text = text[: max(maximum, 0)]
        return text

    def _number(self, schema: dict[str, Any], *, integer: bool) -> int | float:
        # Candidates around the bounds, snapped to multipleOf; the first one the schema accepts
        # wins, so exclusive bounds (both drafts' spellings) need no arithmetic of their own.
        low = _number_or_none(schema.get("minimum"))
        high = _number_or_none(schema.get("maximum"))
        exclusive_low = _number_or_none(schema.get("exclusiveMinimum"))
        exclusive_high = _number_or_none(schema.get("exclusiveMaximum"))
        if exclusive_low is not None:
            low = exclusive_low if low is None else max(low, exclusive_low)
        if exclusive_high is not None:
            high = exclusive_high if high is None else min(high, exclusive_high)
        step = _number_or_none(schema.get("multipleOf"))
        if step is not None and step <= 0:
            step = None

        points = [0.0]
        if low is not None:
            points += [low, low + 1, float(math.floor(low) + 1)]
        if high is not None:
            points += [high, high - 1, float(math.ceil(high) - 1)]
        if low is not None and high is not None:
            points.append((low + high) / 2)
        candidates: list[float] = []
        for point in points:
            if step is None:
                candidates += [point, float(math.ceil(point)), float(math.floor(point))]
            else:
                base = point / step
                if math.isfinite(base):
                    candidates += [k * step for k in (math.ceil(base), math.floor(base))]
                    candidates.append((math.ceil(base) + 1) * step)
        for candidate in candidates:
            if not math.isfinite(candidate) or (integer and not candidate.is_integer()):
                continue
            value = _tidy(candidate)
            if self.valid(value, schema):
                return value
        return _tidy(low if low is not None else high if high is not None else 0.0)


def _tidy(value: float) -> int | float:
    # 3 rather than 3.0: the JSON reads better, and "integer" schemas accept it either way.
    return int(value) if float(value).is_integer() and abs(value) < 2**53 else value


def _number_or_none(value: Any) -> float | None:
    return float(value) if _is_number(value) else None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
