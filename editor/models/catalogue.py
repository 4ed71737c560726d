"""A workspace's own entries in the model catalogue."""

from __future__ import annotations

from django.db import models

from editor.models.workspaces import Workspace


class ModelPrice(models.Model):
    """A workspace's entry in the model catalogue: context size, USD per million tokens, and
    the capabilities set for the model (empty: detected).

    The built-in catalogue (runtime.usage.DEFAULT_PRICES) applies where a workspace has no
    entry of its own; an entry here overrides it, or adds a model it does not know.
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="model_prices")
    model = models.CharField(max_length=200)  # provider/model, e.g. openai/gpt-4o-mini
    input_price = models.FloatField(default=0.0)  # USD per million input tokens
    output_price = models.FloatField(default=0.0)  # USD per million output tokens
    context = models.PositiveIntegerField(null=True, blank=True)
    # What the model's server can do (runtime.providers.capabilities); "" is auto: detected
    # from the server's refusals. How structured output is asked for: json_schema, json_object
    # (with the schema) or instructions (the schema in the prompt, answers validated and
    # repaired); whether a stream reports its tokens (reported) or they are counted (counted).
    structured_output = models.CharField(max_length=20, blank=True, default="")
    stream_usage = models.CharField(max_length=20, blank=True, default="")
    # Tools: native (the request's tools) or prompted (described in the prompt, called by JSON).
    tools = models.CharField(max_length=20, blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["model"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "model"], name="one_price_per_model")
        ]

    def __str__(self) -> str:
        return f"{self.model} in {self.workspace}"
