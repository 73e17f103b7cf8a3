"""The operator README documents every setting of .env.example."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_table_names_every_environment_variable():
    names = {line.split("=", 1)[0] for line in (ROOT / ".env.example").read_text().splitlines()
             if re.match(r"^[A-Z][A-Z0-9_]*=", line)}
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", (ROOT / "README.md").read_text()))
    assert names and names - documented == set()
