"""Path safety: user-supplied ids and relative paths never lead outside the folder they belong to.

Story ids (suite files, manifests, `generate` prompt files) become folder names, and manifest /
prompts clip paths are read relative to their data root. Both go through this module: an id must be
one plain path component, a relative path must stay inside its root once resolved (symlinks
included), and an absolute path is refused. The shard files a weights folder's
`*.safetensors.index.json` names (`weight_map`) are held to the same rule (`index_shards`).
"""

from __future__ import annotations

import json
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


def index_shards(index: Path) -> list[Path]:
    """The shard files a weights index (`*.safetensors.index.json`) names in its `weight_map`, sorted.

    A `DataError` naming the index refuses an unreadable index, a malformed `weight_map`, and any
    shard that is absolute, climbs with `..` or resolves (through a symlink) outside the index's folder.
    """
    index = Path(index)
    folder = index.parent
    try:
        doc = json.loads(index.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise DataError(f"{index}: unreadable weights index ({exc})") from None
    weight_map = doc.get("weight_map") if isinstance(doc, dict) else None
    if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
        raise DataError(f"{index}: weight_map must map tensor names to shard file names")
    for name, shard in weight_map.items():
        problem = relative_path_problem(shard, "the weights folder")
        if problem is None and not is_within(folder / shard, folder):
            problem = f"{shard!r} resolves outside the weights folder (symlink)"
        if problem is not None:
            raise DataError(f"{index}: weight_map[{name!r}]: shard {problem}")
    return [folder / shard for shard in sorted(set(weight_map.values()))]


def check_weight_indexes(folder: str | Path) -> None:
    """Refuse (`index_shards`) every `*.index.json` weights index directly in `folder` that names a shard outside it."""
    folder = Path(folder)
    if folder.is_dir():
        for index in sorted(folder.glob("*.index.json")):
            index_shards(index)
