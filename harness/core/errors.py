"""User-facing error types: each renders as one line that names the file or thing at fault."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


class MsvgError(Exception):
    """An expected failure the CLI reports as a single line and exit code 1."""


class ConfigError(MsvgError):
    """The configuration (file, override or flag) is invalid."""


class DataError(MsvgError):
    """A data set, manifest, prompts file or scene list is unusable."""


class ProblemsError(DataError):
    """Several independent problems of one input, each a line naming its file (and line)."""

    def __init__(self, what: str, problems: Sequence[str]) -> None:
        self.what = what
        self.problems = list(problems)
        super().__init__(f"{len(self.problems)} problem(s) in {what}: " + "; ".join(self.problems))

    def lines(self) -> list[str]:
        """The report as printed: a heading, then one problem per line."""
        return [f"{len(self.problems)} problem(s) in {self.what}:", *(f"  {p}" for p in self.problems)]


class VideoError(MsvgError):
    """A video file is missing, empty, corrupt or has the wrong shape."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


class WeightsNotFoundError(MsvgError):
    """Model weights are not available locally (no hub access at run time)."""

    def __init__(self, component: str, tried: Sequence[str | Path], how_to_get: str) -> None:
        self.component = component
        self.tried = [str(t) for t in tried]
        looked = ", ".join(self.tried) if self.tried else "(no location configured)"
        super().__init__(f"weights for {component} not found; looked in: {looked}. {how_to_get}")


class UnknownNameError(MsvgError):
    """A registry lookup (metric, encoder, suite, method ...) named nothing registered."""
