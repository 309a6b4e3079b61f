"""Leave no empty folders behind when a command fails."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path


def _missing_chain(path: Path) -> list[Path]:
    """`path` and those of its parents that do not exist yet, deepest first."""
    chain: list[Path] = []
    current = Path(path).absolute()
    while not current.exists() and current != current.parent:
        chain.append(current)
        current = current.parent
    return chain


@contextlib.contextmanager
def no_empty_dirs_on_failure(*paths: Path) -> Iterator[None]:
    """On an exception, remove the folders of `paths` this block created, as far as they are still empty.

    Folders that existed before the block, and folders with anything in them, are kept.
    """
    created = [_missing_chain(Path(p)) for p in paths]
    try:
        yield
    except BaseException:
        for chain in created:
            for folder in chain:  # deepest first: a parent is empty only once its child is gone
                try:
                    folder.rmdir()
                except OSError:
                    break
        raise
