"""The config reference in docs/config.md lists every config key with its actual default."""
from __future__ import annotations

import re
from pathlib import Path

import yaml

from nnctl.config import DEFAULTS, SCHEMA, get

PAGE = Path(__file__).resolve().parents[1] / "docs" / "config.md"


def reference_rows():
    text = PAGE.read_text(encoding="utf-8")
    section = text[text.index("## Config reference"):]
    section = section[:section.index("\n## ", 1)]
    return dict(re.findall(r"^\| `([\w.]+)` \| `([^`]*)` \|", section, flags=re.M))


def test_every_key_is_documented_with_its_default():
    rows = reference_rows()
    assert sorted(rows) == sorted(SCHEMA)
    for key, default in rows.items():
        assert yaml.safe_load(default) == get(DEFAULTS, key), key
