"""One run's results as the comparison reads them (shared by `stats` and `distance`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

MIN_CI_STORIES = 2  # a paired bootstrap of one story is no interval


@dataclass
class RunResults:
    """One run's identity in MLflow and the parsed contents of its results JSON."""

    run_id: str
    run_name: str
    experiment_id: str
    artifact_uri: str
    results: dict[str, Any]
    tags: dict[str, str] = field(default_factory=dict)
    status: str = "FINISHED"

    @property
    def label(self) -> str:
        """A short display name: the run name, else the first 8 characters of the id."""
        return self.run_name or self.run_id[:8]

    @property
    def metrics(self) -> dict[str, dict[str, Any]]:
        """The results' metric descriptors, keyed by flat metric key."""
        return self.results.get("metrics", {})

    @property
    def stories(self) -> list[dict[str, Any]]:
        """The results' per-story records, in suite order."""
        return self.results.get("stories", [])
