"""Input fields that take exactly the JSON type the API schema gives them.

DRF's fields coerce: ``CharField`` takes ``0`` as ``"0"``, ``IntegerField`` takes ``"5"`` and
``5.0``, ``BooleanField`` takes ``"yes"`` and ``1``. The published schema says ``string``,
``integer``, ``boolean``, so a client that sends anything else has a bug the API should point
out (400) rather than store a guess. Every request serializer uses these for its scalar inputs.

A required, non-blank string also carries the pattern ``\\S`` (at least one character that is
not whitespace): surrounding whitespace is trimmed before the blank check, and the schema says so.
"""

from __future__ import annotations

from typing import Any

from django.core.validators import RegexValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

NOT_BLANK = RegexValidator(r"\S", message="This field may not be blank.", code="blank")


def _refuse(kind: str) -> None:
    raise serializers.ValidationError(f"Not a valid {kind}.", code="invalid")


class StrictCharField(serializers.CharField):
    """A JSON string, never a number or a boolean."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Slugs and other patterns already need a character; the schema holds one pattern.
        patterned = any(isinstance(v, RegexValidator) for v in self.validators)
        if not self.allow_blank and not patterned:
            self.validators.append(NOT_BLANK)

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            _refuse("string")
        return super().to_internal_value(data)


class StrictSlugField(StrictCharField, serializers.SlugField):
    pass


class StrictRegexField(StrictCharField, serializers.RegexField):
    pass


# What Django's EmailValidator takes, narrowed to plain ASCII addresses (a dot-atom, then a host
# name with a letters-only top-level domain), at most the 254 characters an EmailField stores.
# OpenAPI's "format: email" is wider (user@localhost, a one-letter TLD), so the schema says this.
EMAIL_MAX_CHARS = 254
_ATOM = r"[-!#$%&'*+/=?^_`{}|~0-9A-Za-z]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
EMAIL_PATTERN = rf"^{_ATOM}(?:\.{_ATOM})*@(?:{_LABEL}\.)+[A-Za-z]{{2,63}}$"


@extend_schema_field({"type": "string", "maxLength": EMAIL_MAX_CHARS, "pattern": EMAIL_PATTERN})
class StrictEmailField(StrictCharField, serializers.EmailField):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", EMAIL_MAX_CHARS)
        super().__init__(*args, **kwargs)


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer, never a string of digits, a float or a boolean."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            _refuse("integer")
        return super().to_internal_value(data)


class StrictFloatField(serializers.FloatField):
    """A JSON number, never a string or a boolean."""

    def to_internal_value(self, data: Any) -> float:
        if isinstance(data, bool) or not isinstance(data, int | float):
            _refuse("number")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """``true`` or ``false``, never ``"yes"``, ``1`` or ``"true"``."""

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            _refuse("boolean")
        return data
