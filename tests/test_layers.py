"""The layout's rules: the import contracts hold, every package is in a layer, no two packages import each other,
and a rate limit cannot silently lose its endpoint."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import grimp
import pytest

from mailer.extensions import current_limiter
from mailer.http.rate_limits import UnknownEndpointError, _limit, client_ip

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def test_import_contracts_are_kept():
    """lint-imports (pyproject.toml) finds every contract kept, imports inside functions included."""
    result = subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=ROOT, capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_a_limit_on_an_unregistered_endpoint_is_refused(app):
    """A rate limit attached to an endpoint no blueprint has (renamed, removed) stops the build, never vanishes."""
    with app.app_context():
        limiter = current_limiter()
        with pytest.raises(UnknownEndpointError, match=r"auth\.sign_in"):
            _limit(app, limiter, "auth.sign_in", "1/minute", client_ip)
        before = app.view_functions["auth.login"]
        _limit(app, limiter, "auth.login", "1000/minute", client_ip)
    assert app.view_functions["auth.login"] is not before  # a registered endpoint gets the limit's wrapper


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            module, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
                elif child in on_stack:
                    low[module] = min(low[module], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[module])
            if low[module] == index[module]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == module:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_cycle_even_through_imports_inside_functions():
    """No two modules of mailer reach each other by imports, those inside functions counted."""
    assert _cycles(grimp.build_graph("mailer")) == []


def test_the_cycle_finder_sees_a_cycle():
    """The check above is not vacuous: a two-module cycle built in memory is reported."""
    graph = grimp.ImportGraph()
    for importer, imported in (("pkg.a", "pkg.b"), ("pkg.b", "pkg.a"), ("pkg.b", "pkg.c")):
        graph.add_import(importer=importer, imported=imported)
    assert _cycles(graph) == [["pkg.a", "pkg.b"]]


def _two_way_pairs(graph: grimp.ImportGraph, root: str) -> list[tuple[str, str]]:
    """The top-level packages (or modules) of ``root`` that import each other, imports inside functions counted.

    The root package itself (the app factory, which imports every layer to build the app) is left out.
    """
    edges: set[tuple[str, str]] = set()
    for importer in graph.modules:
        for imported in graph.find_modules_directly_imported_by(importer):
            parts = (importer.split("."), imported.split("."))
            if all(len(p) > 1 and p[0] == root for p in parts) and parts[0][1] != parts[1][1]:
                edges.add((parts[0][1], parts[1][1]))
    return sorted((a, b) for a, b in edges if a < b and (b, a) in edges)


def test_no_two_packages_import_each_other():
    """Between two packages of mailer, imports go one way only (a package's parts live in one layer)."""
    assert _two_way_pairs(grimp.build_graph("mailer"), "mailer") == []


def test_the_pair_finder_sees_a_two_way_pair():
    """The check above is not vacuous: two packages importing each other through different modules are reported,
    a one-way import and an import inside one package are not."""
    graph = grimp.ImportGraph()
    for importer, imported in (("pkg.a.x", "pkg.b.y"), ("pkg.b.z", "pkg.a.w"), ("pkg.c.q", "pkg.a.x"),
                               ("pkg.a.w", "pkg.a.x"), ("pkg.b.y", "pkg")):
        graph.add_import(importer=importer, imported=imported)
    assert _two_way_pairs(graph, "pkg") == [("a", "b")]


def test_every_package_and_top_level_module_is_in_a_layer():
    """The layers contract (pyproject.toml) names every package and top-level module of mailer, once."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    [layers] = [c["layers"] for c in config["tool"]["importlinter"]["contracts"] if c["type"] == "layers"]
    named = [name for layer in layers for name in re.split(r"\s*[|:]\s*", layer.strip())]
    present = {module.split(".")[1] for module in grimp.build_graph("mailer").modules if module != "mailer"}
    assert sorted(named) == sorted(present)


def borrowed_conftests(sources: dict[str, str]) -> list[str]:
    """``path: import`` for each test module that imports the conftest of another test package."""
    found = []
    for path, text in sources.items():
        package = path.split("/")[1] if path.count("/") > 1 else ""
        for imported in re.findall(r"^\s*from tests\.(\w+)\.conftest import", text, flags=re.M):
            if imported != package:
                found.append(f"{path}: tests.{imported}.conftest")
    return found


def test_no_test_package_imports_another_packages_conftest():
    """What test packages share lives at the top (tests/fixtures.py, helpers.py, rows.py, workers.py) or in a
    plain module of its package, never in another package's conftest."""
    sources = {path.relative_to(ROOT).as_posix(): path.read_text() for path in (ROOT / "tests").rglob("*.py")}
    assert len(sources) > 100
    assert borrowed_conftests(sources) == []


def test_the_conftest_finder_sees_a_borrowed_conftest():
    assert borrowed_conftests({"tests/a/test_x.py": "from tests.b.conftest import seed\n",
                               "tests/b/test_y.py": "from tests.b.conftest import seed\n"}) == [
        "tests/a/test_x.py: tests.b.conftest"]
def _unforbidden_route_modules(graph: grimp.ImportGraph, forbidden: list[str]) -> list[str]:
    """The route modules (named `routes` or `*_routes`) that no expression of ``forbidden`` covers."""
    covered: set[str] = set()
    for expression in forbidden:
        found = graph.find_matching_modules(expression) if "*" in expression else {expression}
        covered |= {m for m in graph.modules if any(m == f or m.startswith(f + ".") for f in found)}
    return sorted(m for m in graph.modules if m.rsplit(".", 1)[-1].endswith("routes") and m not in covered)


def test_every_route_module_is_forbidden_to_the_pipeline_and_the_jobs():
    """Each forbidden contract that keeps blueprints out names every route module, `*_routes` ones included."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    graph = grimp.build_graph("mailer")
    contracts = [c for c in config["tool"]["importlinter"]["contracts"]
                 if "mailer.*.routes" in c.get("forbidden_modules", [])]
    assert len(contracts) == 2
    for contract in contracts:
        assert _unforbidden_route_modules(graph, contract["forbidden_modules"]) == [], contract["name"]


def test_the_route_module_check_sees_a_missing_one():
    """The check above is not vacuous: a `*_routes` module outside every expression is reported, a covered one not."""
    graph = grimp.ImportGraph()
    for module in ("pkg.a.routes", "pkg.a.list_routes", "pkg.b.routes", "pkg.c.old_routes", "pkg.c.service"):
        graph.add_module(module)
    assert _unforbidden_route_modules(graph, ["pkg.*.routes", "pkg.c"]) == ["pkg.a.list_routes"]
