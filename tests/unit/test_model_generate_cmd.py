"""`generate --prompts` parsing: files, JSON shapes, loose prompts, errors naming the file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from msvg_bench.commands.generate_cmd import read_prompt_stories
from msvg_bench.core.errors import DataError


def test_prompt_sources(tmp_path: Path) -> None:
    txt = tmp_path / "walk.txt"
    txt.write_text("# a comment\nActor 1 is walking.\n\nActor 2 is walking.\n", encoding="utf-8")
    many = tmp_path / "many.json"
    many.write_text(json.dumps([["a.", "b."], ["c."]]), encoding="utf-8")
    named = tmp_path / "named.json"
    named.write_text(json.dumps({"s1": ["x.", "y."]}), encoding="utf-8")
    stories = read_prompt_stories([str(txt), str(many), str(named), "Loose one.", "Loose two."])
    assert stories == [
        ("walk", ["Actor 1 is walking.", "Actor 2 is walking."]),
        ("story_001", ["a.", "b."]),
        ("story_002", ["c."]),
        ("s1", ["x.", "y."]),
        ("story_004", ["Loose one.", "Loose two."]),
    ]


def test_bad_prompt_files_are_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(DataError, match="bad.json"):
        read_prompt_stories([str(bad)])
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"s": []}), encoding="utf-8")
    with pytest.raises(DataError, match="'s'"):
        read_prompt_stories([str(empty)])
    with pytest.raises(DataError, match="no prompts"):
        read_prompt_stories([])
