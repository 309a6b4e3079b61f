"""Path safety: user-supplied ids and relative paths never lead outside the folder they belong to.

Story ids (suite files, manifests, `generate` prompt files) become folder names, and manifest /
prompts clip paths are read relative to their data root. Both go through this module: an id must be
one plain path component, a relative path must stay inside its root once resolved (symlinks
included), and an absolute path is refused.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath, PureWindowsPath

from msvg_bench.core.errors import DataError

# Characters a story id may not contain: path separators, NUL and other control characters.
_BAD_ID_CHARS = re.compile(r"[/\\\x00-\x1f]")


def id_problem(value: object) -> str | None:
    """Why `value` cannot be used as a single folder/file name (None when it can)."""
    if not isinstance(value, str) or not value:
        return "must be a non-empty string"
    if value in (".", ".."):
        return f"{value!r} is not a usable name"
    if _BAD_ID_CHARS.search(value):
        return f"{value!r} contains a path separator or control character"
    if PureWindowsPath(value).drive:
        return f"{value!r} looks like a drive path"
    return None


def check_id(value: object, what: str = "story id") -> str:
    """`value` when it is a safe single path component, else a `DataError` naming it."""
    problem = id_problem(value)
    if problem is not None:
        raise DataError(f"{what} {problem}")
    return str(value)


def relative_path_problem(value: str, folder: str = "the data folder") -> str | None:
    """Why `value` cannot be a path relative to `folder` (absolute, or climbing out with `..`)."""
    if not value:
        return "is empty"
    posix = PurePosixPath(value.replace("\\", "/"))
    if posix.is_absolute() or PureWindowsPath(value).drive:
        return f"{value!r} is absolute; it must be relative to {folder}"
    if ".." in posix.parts:
        return f"{value!r} leaves {folder} ('..')"
    return None


def is_within(path: Path, root: Path) -> bool:
    """Whether `path` (resolved, symlinks followed) lies inside `root` (resolved)."""
    try:
        Path(path).resolve().relative_to(Path(root).resolve())
    except ValueError:
        return False
    return True


def safe_join(root: Path, *parts: str, what: str = "path") -> Path:
    """`root / parts...`, refusing anything that would resolve outside `root` (a `DataError` naming it).

    Each part may be a story id or a relative path; absolute parts, `..` and symlinks pointing out of
    `root` are all refused.
    """
    root = Path(root)
    for part in parts:
        problem = relative_path_problem(part, "the output folder")
        if problem is not None:
            raise DataError(f"{root}: {what} {problem}")
    joined = root.joinpath(*parts)
    if not is_within(joined, root):
        raise DataError(f"{root}: {what} {'/'.join(parts)!r} resolves outside this folder")
    return joined
