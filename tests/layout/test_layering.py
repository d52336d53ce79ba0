"""The layout holds: every module of `shared/` imports only its own package and packages below it.

A newcomer finds a capability by folder name; this test keeps the folders honest as capabilities are added. The
ranks run from the foundation (errors, records, JSON) up to the HTTP helpers; the trigger files in `functions/` and
`function_app.py` sit above all of them. Imports under `if TYPE_CHECKING:` count too: a type is a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"

RANKS = {
    "shared.errors": 0,
    "shared.models": 1,
    "shared.serialization": 1,
    "shared.version": 1,
    "shared.storage": 2,
    "shared.functions": 3,
    "shared.capture": 3,
    "shared.identity": 3,
    "shared.engine": 4,
    "shared.executions": 5,
    "shared.compat": 5,
    "shared.providers": 5,
    "shared.config": 5,
    "shared.dag": 5,
    "shared.forms": 6,
    "shared.schedules": 6,
    "shared.runtime": 6,
    "shared.api": 7,
}


def unit_of(module: str) -> str:
    """The ranked unit a dotted module name belongs to (`shared.engine.core` -> `shared.engine`)."""
    parts = module.split(".")
    return ".".join(parts[:2])


def module_name(path: Path) -> str:
    relative = path.relative_to(SHARED.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "shared":
                found.extend((node.lineno, f"shared.{alias.name}") for alias in node.names)
            else:
                found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
    return [(line, name) for line, name in found if name.startswith("shared.")]


MODULES = sorted(p for p in SHARED.rglob("*.py") if p != SHARED / "__init__.py")


def test_every_package_of_shared_has_a_rank_and_a_docstring() -> None:
    # Given every package and top-level module of shared/
    units = {unit_of(module_name(p)) for p in MODULES}
    # Then each has a rank, and each package says in its docstring what it owns
    assert units <= set(RANKS), f"give these a rank in this test: {sorted(units - set(RANKS))}"
    for package in (p for p in SHARED.iterdir() if (p / "__init__.py").exists()):
        docstring = ast.get_docstring(ast.parse((package / "__init__.py").read_text()))
        assert docstring and len(docstring) > 40, f"{package.name}/__init__.py should say what the package owns"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SHARED.parent)))
def test_no_module_imports_upwards(path: Path) -> None:
    # Given a module of shared/ and the rank of its package
    own = unit_of(module_name(path))
    rank = RANKS[own]
    # Then everything it imports from shared is its own package or ranks strictly below it
    upward = [
        f"line {line}: {name} (rank {RANKS.get(unit_of(name))})"
        for line, name in imported_modules(path)
        if unit_of(name) != own and RANKS.get(unit_of(name), 99) >= rank
    ]
    assert not upward, f"{own} (rank {rank}) imports upwards or sideways: {upward}"


FUNCTIONS = SHARED.parent / "functions"
TRIGGERS = sorted(FUNCTIONS.rglob("*.py"))


def names_used(path: Path) -> set[str]:
    """Every name and attribute a module mentions (`caller.is_platform_admin` -> `caller`, `is_platform_admin`)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            found.add(node.id)
        elif isinstance(node, ast.Attribute):
            found.add(node.attr)
        elif isinstance(node, ast.alias):
            found.add(node.name.rsplit(".", 1)[-1])
    return found


@pytest.mark.parametrize("path", TRIGGERS, ids=lambda p: str(p.relative_to(SHARED.parent)))
def test_trigger_files_make_no_authorization_decision(path: Path) -> None:
    # Given a trigger file (decode, call, encode)
    used = names_used(path)
    # Then it neither looks at what a caller may do nor refuses one itself: shared.identity.policy decides
    deciding = sorted(used & {"is_platform_admin", "ForbiddenError", "require_platform_admin"})
    assert not deciding, f"{path.name} decides authorization ({deciding}); ask shared.identity.policy instead"


@pytest.mark.parametrize(
    "path", [p for p in MODULES if module_name(p) != "shared.runtime"], ids=lambda p: str(p.relative_to(SHARED.parent))
)
def test_business_modules_receive_their_services_instead_of_looking_the_runtime_up(path: Path) -> None:
    # Given a module of shared/ other than the runtime itself (which defines get_runtime)
    # Then it never calls get_runtime(): whoever calls it passes the services in
    assert "get_runtime" not in names_used(path), f"{module_name(path)} looks the runtime up; take `services` instead"
