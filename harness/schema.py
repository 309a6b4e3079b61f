"""Base class for every configuration model: unknown keys are errors, assignments are validated."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """A pydantic model that rejects unknown keys (`extra="forbid"`) and validates assignments."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, protected_namespaces=())
