"""Discovery of a workspace laid out the way the seed system's users lay it out: sub-folders without `__init__.py`,
helpers imported by plain name, two folders with a file of the same name, regular packages with relative imports."""

import asyncio
import sys
from pathlib import Path

from shared.functions.discovery import discover
from shared.functions.registry import FunctionRegistry


def _write(root: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def _run(registry: FunctionRegistry, name: str) -> object:
    metadata = registry.get(name)
    assert metadata is not None, f"{name} is not registered"
    result = metadata.function(None)
    return asyncio.run(result) if asyncio.iscoroutine(result) else result


NEIGHBOUR_FLOW = """
import utils
from utils import label
from shared import workflow

@workflow(name="{name}")
def run(context):
    import utils as later   # an import inside the function, run long after discovery
    return [utils.FOLDER, label(), later.FOLDER]
"""


def test_each_workflow_imports_its_own_neighbour_by_plain_name(tmp_path: Path) -> None:
    # Given two folders without __init__.py, each with its own utils.py and a workflow importing `utils`
    _write(tmp_path, {
        "billing/utils.py": "FOLDER = 'billing'\ndef label():\n    return 'billing label'\n",
        "billing/invoice.py": NEIGHBOUR_FLOW.format(name="invoice_layout"),
        "hr/utils.py": "FOLDER = 'hr'\ndef label():\n    return 'hr label'\n",
        "hr/payroll.py": NEIGHBOUR_FLOW.format(name="payroll_layout"),
    })
    registry = FunctionRegistry()

    # When the workspace is discovered
    report = discover(registry, [(tmp_path, "workspace")])

    # Then both workflows load, and each one gets its own folder's utils, at import time and at run time
    assert report.errors == []
    assert _run(registry, "invoice_layout") == ["billing", "billing label", "billing"]
    assert _run(registry, "payroll_layout") == ["hr", "hr label", "hr"]
    # And the two utils.py are two modules with path-derived names; no plain `utils` is left for anyone to share
    utils_modules = [name for name in report.modules if name.endswith(".utils")]
    assert len(utils_modules) == 2 and {name.split(".")[-2] for name in utils_modules} == {"billing", "hr"}
    assert "utils" not in sys.modules


def test_every_module_at_any_depth_is_imported_once(tmp_path: Path) -> None:
    # Given modules three folders deep, none with __init__.py, one counting how often it was executed
    _write(tmp_path, {
        "a/b/c/counted.py": "import builtins\nbuiltins.__dict__.setdefault('layout_runs', []).append(1)\n",
        "a/b/c/flow.py": "import counted\nfrom shared import workflow\n\n"
                         "@workflow(name='deep_layout')\ndef deep(context):\n    return 'deep'\n",
        "a/top.py": "from shared import data_provider\n\n"
                    "@data_provider(name='top_layout')\ndef top(context):\n    return []\n",
    })
    registry = FunctionRegistry()

    # When discovered
    report = discover(registry, [(tmp_path, "workspace")])

    # Then every file is loaded, the deep ones included, and the helper ran once though two paths import it
    assert report.errors == [] and len(report.modules) == 3
    assert registry.get("deep_layout") is not None and registry.get("top_layout") is not None
    import builtins
    assert builtins.__dict__.pop("layout_runs") == [1]


def test_a_regular_package_keeps_its_relative_imports_and_is_reachable_from_other_folders(tmp_path: Path) -> None:
    # Given a package with __init__.py using relative imports, and a workflow elsewhere importing it from the root
    _write(tmp_path, {
        "lib_layout/__init__.py": "from .text import shout\n",
        "lib_layout/text.py": "from . import words\n\ndef shout():\n    return words.WORD.upper()\n",
        "lib_layout/words.py": "WORD = 'hello'\n",
        "flows/greet.py": "from lib_layout import shout\nfrom lib_layout.text import shout as same\n"
                          "from shared import workflow\n\n"
                          "@workflow(name='greet_layout')\ndef greet(context):\n    return [shout(), shout is same]\n",
    })
    registry = FunctionRegistry()

    # When discovered
    report = discover(registry, [(tmp_path, "workspace")])

    # Then the package loads as a package and the workflow in another folder imports it by its root-level name
    assert report.errors == []
    assert _run(registry, "greet_layout") == ["HELLO", True]
    assert sum(name.endswith("lib_layout") for name in report.modules) == 1


def test_a_file_named_like_the_standard_library_loads_and_never_shadows_it(tmp_path: Path) -> None:
    # Given a workspace file named json.py holding a workflow, and a neighbour that imports json
    _write(tmp_path, {
        "json.py": "from shared import workflow\n\n@workflow(name='json_named_layout')\ndef run(context):\n"
                   "    return 'mine'\n",
        "user.py": "import json\nfrom shared import workflow\n\n@workflow(name='uses_json_layout')\n"
                   "def run(context):\n    return json.dumps([1])\n",
    })
    registry = FunctionRegistry()

    # When discovered
    report = discover(registry, [(tmp_path, "workspace")])

    # Then both load; the neighbour's `import json` is the standard library's, and so is everyone else's
    assert report.errors == []
    assert _run(registry, "json_named_layout") == "mine"
    assert _run(registry, "uses_json_layout") == "[1]"
    import json
    assert json.dumps is not None and json.__file__.endswith("json/__init__.py")


def test_a_module_calling_sys_exit_at_import_is_a_load_error_not_a_stopped_host(tmp_path: Path) -> None:
    # Given a module that exits at import and one that loads
    _write(tmp_path, {"exits.py": "import sys\nsys.exit(3)\n", "fine.py": "X = 1\n"})

    # When discovered
    report = discover(FunctionRegistry(), [(tmp_path, "workspace")])

    # Then discovery goes on: the exit is reported against its file and the other module loads
    assert [(Path(e.path).name, e.error) for e in report.errors] == [("exits.py", "SystemExit: 3")]
    assert [name.split(".")[-1] for name in report.modules] == ["fine"]


def test_a_workspace_folder_named_like_conduits_own_package_does_not_hide_it(tmp_path: Path) -> None:
    # Given a workspace folder called `shared` (a common name for helpers) and a workflow importing Conduit's shared
    _write(tmp_path, {
        "shared/text.py": "def clean(s):\n    return s.strip()\n",
        "flow.py": "from shared import workflow\n\n@workflow(name='own_shared_layout')\ndef run(context):\n"
                   "    from . import shared as mine   # the workspace's folder, by a relative import\n"
                   "    from .shared.text import clean\n"
                   "    return clean('  ok  ')\n",
    })
    registry = FunctionRegistry()

    # When discovered
    report = discover(registry, [(tmp_path, "workspace")])

    # Then `from shared import workflow` is still Conduit's, and the workspace folder loads under its own name
    assert report.errors == []
    assert _run(registry, "own_shared_layout") == "ok"
    assert any(name.endswith(".shared.text") for name in report.modules)


def test_a_neighbour_named_bifrost_follows_the_compat_setting(tmp_path: Path) -> None:
    from shared.compat import finder

    # Given (twice) a folder with its own bifrost.py next to a module importing `bifrost`
    for setting in ("off", "on"):
        _write(tmp_path / setting, {
            "legacy/bifrost.py": "MINE = True\n",
            "legacy/flow.py": "import bifrost\nIMPORTED = bifrost.__name__\n",
        })
    try:
        # When discovered with the bifrost import switched off, and then on
        imported = {}
        for setting in ("off", "on"):
            finder.install(enabled=setting == "on")
            report = discover(FunctionRegistry(), [(tmp_path / setting, "workspace")])
            assert report.errors == []
            imported[setting] = sys.modules[next(n for n in report.modules if n.endswith("legacy.flow"))].IMPORTED
        # Then off, the neighbour is imported (a switched-off `bifrost` is nobody's); on, Conduit's API wins
        assert imported["off"].endswith(".legacy.bifrost") and imported["on"] == "bifrost"
    finally:
        finder.uninstall()


def test_a_direct_dunder_import_finds_the_neighbour_like_an_import_statement(tmp_path: Path) -> None:
    # Given a workflow in a sub-folder that imports its neighbour with __import__("helper") (no globals passed)
    _write(tmp_path, {
        "tools/helper.py": "NAME = 'tools helper'\n",
        "tools/flow.py": "from shared import workflow\n\n@workflow(name='dunder_import_layout')\ndef run(context):\n"
                         "    return __import__('helper').NAME\n",
    })
    registry = FunctionRegistry()

    # When discovered and run
    report = discover(registry, [(tmp_path, "workspace")])

    # Then __import__ resolves the plain name as `import helper` does, from the calling module's folder
    assert report.errors == []
    assert _run(registry, "dunder_import_layout") == "tools helper"


HOT_IMPORTS = """
import time

def per_import(n):
    best = float('inf')
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(n):
            import json  # noqa: F401
        best = min(best, time.perf_counter() - started)
    return best / n
"""


def test_an_import_in_a_hot_function_body_costs_about_what_it_costs_outside_the_workspace(tmp_path: Path) -> None:
    # Given a workspace module (in a sub-folder) and a plain module, each importing loaded modules in a loop
    _write(tmp_path, {"deep/er/hot.py": HOT_IMPORTS})
    report = discover(FunctionRegistry(), [(tmp_path, "workspace")])
    assert report.errors == []
    workspace_module = sys.modules[next(name for name in report.modules if name.endswith(".hot"))]
    plain: dict[str, object] = {}
    exec(compile(HOT_IMPORTS, "<plain>", "exec"), plain)

    # When both time the same imports (best of three, same process, one after the other)
    inside = workspace_module.per_import(5000)
    outside = plain["per_import"](5000)  # type: ignore[operator]

    # Then the neighbour-aware import adds a small constant (~6x a bare `import json`), not the ~100x it cost before
    assert inside < outside * 30, f"{inside * 1e6:.1f} us per import in the workspace, {outside * 1e6:.1f} us outside"


def test_a_helper_named_like_the_apps_own_modules_is_the_neighbour(tmp_path: Path) -> None:
    # Given helpers named functions.py and function_app.py beside a workflow (the app folder has modules so named)
    _write(tmp_path, {
        "sub/functions.py": "def label():\n    return 'my functions helper'\n",
        "sub/function_app.py": "NAME = 'my app helper'\n",
        "sub/flow.py": "import functions\nimport function_app\nfrom shared import workflow\n\n"
                       "@workflow(name='app_named_helpers')\ndef run(context):\n"
                       "    return [functions.label(), function_app.NAME]\n",
    })
    registry = FunctionRegistry()
    # When discovered and run
    report = discover(registry, [(tmp_path, "workspace")])
    # Then the workflow gets its neighbours, not Conduit's trigger package or app module
    assert report.errors == []
    assert _run(registry, "app_named_helpers") == ["my functions helper", "my app helper"]
