"""The docs match the code: the operator README documents every setting of .env.example, and every code name
docs/architecture.md gives in backticks (`pkg/module.name`, `module.name`, `a_function`) exists."""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODULES = {path.relative_to(ROOT).with_suffix("").as_posix().removesuffix("/__init__"): path
           for folder in ("mailer", "tests") for path in (ROOT / folder).rglob("*.py")}
TABLES = {table: path for path in (ROOT / "mailer" / "models").glob("*.py")
          for table in re.findall(r'__tablename__ = "(\w+)"', path.read_text())}


def test_readme_table_names_every_environment_variable():
    names = {line.split("=", 1)[0] for line in (ROOT / ".env.example").read_text().splitlines()
             if re.match(r"^[A-Z][A-Z0-9_]*=", line)}
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", (ROOT / "README.md").read_text()))
    assert names and names - documented == set()


@cache
def _defined(path: Path) -> frozenset[str]:
    """What a module defines, imports, or names as a string (an error code)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name | ast.Attribute):
            names.add(node.id if isinstance(node, ast.Name) else node.attr)
        elif isinstance(node, ast.ImportFrom):
            names.update(alias.asname or alias.name for alias in node.names)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            names.add(node.value)
    return frozenset(names)


def _modules(name: str) -> list[Path]:
    """The modules a doc's `mail/outbox`, `mailer.worker.jobs` or `outbox` may mean."""
    key = name.removeprefix("mailer/").removeprefix("mailer.").replace(".", "/").strip("/")
    return [path for module, path in MODULES.items()
            if module.startswith("mailer/") and (module == f"mailer/{key}" or module.endswith(f"/{key}"))]


def _exists(name: str) -> bool:
    everywhere = set().union(*(_defined(path) for path in MODULES.values()))
    if name in everywhere:  # a function, or a string the code uses (`message.bounced`, `validation_error`)
        return True
    if "." not in name.rpartition("/")[2]:  # a module (`mail/outbox`)
        return bool(_modules(name))
    module, _, attribute = name.rpartition(".")
    found = [TABLES[module]] if module in TABLES else _modules(module)  # `users.locale` is a column
    if not found:  # `_Batch.write`: a class's method, in the class's module
        return any({module, attribute} <= _defined(path) for path in MODULES.values())
    return any(attribute in _defined(path) for path in found)


def test_architecture_names_only_what_exists():
    text = (ROOT / "docs" / "architecture.md").read_text()
    names = {re.sub(r"\(.*\)$", "", token) for token in re.findall(r"`([^`\s]+)`", text)}
    code = {name for name in names if re.fullmatch(r"[a-z_][\w/.]*\w", name) and ("_" in name or "." in name
            or "/" in name) and not name.endswith((".py", ".md", ".toml")) and not name.startswith(("tests", "."))}
    assert len(code) > 50  # the check reads the names it means to
    assert sorted(name for name in code if not _exists(name)) == []
