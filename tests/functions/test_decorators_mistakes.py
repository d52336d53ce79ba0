"""Every decorator mistake is a load error in the discovery report, naming the function, the argument and the file —
never a bare TypeError, never silence. Each test discovers a workspace (CONDUIT_WORKSPACE) holding one mistake."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from shared.functions.discovery import discover, workspace_dir
from shared.functions.registry import FunctionRegistry


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CONDUIT_WORKSPACE", str(tmp_path))
    return tmp_path


def discover_workspace(registry: FunctionRegistry) -> list[tuple[str, str]]:
    """(file, error) for the workspace CONDUIT_WORKSPACE names. Only that root: platform/ is left to the app's own
    discovery (a module imported here would not register again into the app's registry)."""
    report = discover(registry, [(workspace_dir(), "workspace")])
    return [(e.path, e.error) for e in report.errors]


def load(workspace: Path, source: str) -> tuple[FunctionRegistry, list[str], str]:
    """Discover a workspace with one module holding `source`: (registry, errors about that module, its file)."""
    file = workspace / f"flows_{uuid.uuid4().hex[:10]}.py"  # a fresh module name: never one imported before
    file.write_text("from shared import data_provider, param, workflow\n\n" + source)
    registry = FunctionRegistry()
    errors = discover_workspace(registry)
    return registry, [error for path, error in errors if Path(path) == file], file.name


def only_error(workspace: Path, source: str) -> tuple[str, str]:
    _, errors, file = load(workspace, source)
    assert len(errors) == 1, errors
    assert "Traceback" not in errors[0]
    return errors[0], file


def test_a_seed_only_argument_says_it_is_a_bifrost_argument_and_what_to_do(workspace: Path) -> None:
    # Given a workflow copied from the seed system, marked as an AI tool
    error, file = only_error(workspace, "@workflow(category='AI', is_tool=True)\nasync def lookup(email: str):\n"
                                        "    return email\n")
    # Then the load error names the decorator, the function, the argument, what to do, and the file and line
    assert "@workflow on lookup: `is_tool` is a Bifrost argument Conduit does not support" in error
    assert "remove it" in error and f"{file}:3)" in error


@pytest.mark.parametrize("argument", ["id='550e8400-e29b-41d4-a716-446655440000'", "time_saved=5", "value=1.5",
                                      "tool_description='Looks up'", "parameters=[]"])
def test_every_seed_only_workflow_argument_is_named_as_such(workspace: Path, argument: str) -> None:
    error, _ = only_error(workspace, f"@workflow({argument})\nasync def seeded():\n    pass\n")
    name = argument.split("=")[0]
    assert f"`{name}` is a Bifrost argument Conduit does not support: " in error


def test_a_misspelt_argument_suggests_the_right_one(workspace: Path) -> None:
    error, file = only_error(workspace, "@workflow(schedul='0 6 * * *')\nasync def nightly():\n    pass\n")
    assert "@workflow on nightly: unknown argument `schedul`; did you mean `schedule`?" in error
    assert f"{file}:3)" in error


def test_an_unknown_data_provider_argument_is_a_load_error(workspace: Path) -> None:
    error, _ = only_error(workspace, "@data_provider(cache_ttl=60)\nasync def licences():\n    return []\n")
    assert "@data_provider on licences: unknown argument `cache_ttl`; did you mean `cache_ttl_seconds`?" in error


def test_an_unknown_param_argument_is_a_load_error(workspace: Path) -> None:
    error, _ = only_error(workspace, "@workflow\n@param('who', 'string', placeholder='Ada')\n"
                                     "async def greet(who: str):\n    pass\n")
    assert "@param('who') on greet: unknown argument `placeholder`" in error


def test_too_many_positional_arguments_say_to_use_keywords(workspace: Path) -> None:
    error, _ = only_error(workspace, "@workflow('report', 'Daily report', 'Reports')\nasync def report():\n    pass\n")
    assert "@workflow takes at most 2 positional arguments (name, description), got 3" in error
    assert "pass the others by keyword (e.g. category=...)." in error


def test_a_decorator_on_a_class_is_a_load_error(workspace: Path) -> None:
    error, file = only_error(workspace, "@workflow\nclass Onboarding:\n    pass\n")
    assert "@workflow applies to a function (def or async def), not to the class Onboarding" in error
    assert f"{file}:3)" in error


def test_a_decorator_applied_to_text_is_a_load_error(workspace: Path) -> None:
    error, _ = only_error(workspace, "greeting = workflow(name='greeting')('hello')\n")
    assert "@workflow applies to a function (def or async def), not to str 'hello'" in error


def test_a_decorator_on_a_wrapped_function_names_the_function_and_the_wrapper(workspace: Path) -> None:
    # Given a data provider above functools.lru_cache (which returns a cache object, not a function)
    error, file = only_error(workspace, "import functools\n\n@data_provider\n@functools.lru_cache(maxsize=1)\n"
                                        "def countries():\n    return []\n")
    # Then the error names the function and its wrapper, says what to do, and shows no memory address
    assert "@data_provider applies to a function (def or async def), not to countries as wrapped by " \
           "_lru_cache_wrapper (apply it directly to the def, below any decorator that wraps the function)" in error
    assert " at 0x" not in error and f"{file}:" in error


def test_a_decorator_on_a_method_is_a_load_error(workspace: Path) -> None:
    error, _ = only_error(workspace, "class Jobs:\n    @workflow\n    async def run(self):\n        pass\n")
    assert "@workflow on Jobs.run: a method of the class Jobs cannot be a Conduit function" in error


def test_a_generator_is_a_load_error(workspace: Path) -> None:
    error, _ = only_error(workspace, "@data_provider\ndef options():\n    yield {'label': 'A', 'value': 'a'}\n")
    assert "@data_provider on options: a generator function (one that uses yield)" in error


def test_a_lambda_is_a_function_but_needs_a_name(workspace: Path) -> None:
    # Given a lambda registered with a name, and one without
    registry, errors, _ = load(workspace, "double = workflow(name='double')(lambda x: x * 2)\n"
                                          "triple = workflow(lambda x: x * 3)\n")
    # Then the named one is a workflow, the other a load error saying to name it
    assert registry.get("double") is not None
    assert len(errors) == 1 and "a lambda has no name of its own; give it one with name=..." in errors[0]


def test_a_param_for_an_argument_the_function_does_not_take(workspace: Path) -> None:
    error, file = only_error(workspace, "@workflow\n@param('emial', 'email')\nasync def invite(email: str):\n"
                                        "    pass\n")
    assert "@param('emial') on invite: invite has no argument named 'emial'" in error and f"{file}:3)" in error


def test_a_bare_param_says_the_name_comes_first(workspace: Path) -> None:
    error, _ = only_error(workspace, "@workflow\n@param\nasync def invite(email: str):\n    pass\n")
    assert "@param on invite: the argument's name comes first, e.g. @param('email', 'email', 'Work email')" in error


def test_param_above_workflow_says_to_move_it(workspace: Path) -> None:
    error, _ = only_error(workspace, "@param('email')\n@workflow\nasync def invite(email: str):\n    pass\n")
    assert "@param('email') on invite: put @param below @workflow/@data_provider, not above it" in error


def test_param_without_workflow_is_reported_not_silently_unregistered(workspace: Path) -> None:
    # Given a function with @param lines but no @workflow (forgotten)
    registry, errors, file = load(workspace, "@param('email', 'email')\nasync def invite(email: str):\n    pass\n")
    # Then the module loads, nothing is registered, and the report says why and what to do
    assert registry.get("invite") is None
    assert len(errors) == 1 and "has @param but neither @workflow nor @data_provider" in errors[0]
    assert f"{file}:3)" in errors[0]


def test_a_python_type_as_param_type_says_to_name_it(workspace: Path) -> None:
    error, _ = only_error(workspace, "@workflow\n@param('seats', int)\nasync def buy(seats):\n    pass\n")
    assert "@param('seats') on buy: type is a name such as 'int', not the Python type int" in error


def test_an_unknown_param_type_lists_the_types(workspace: Path) -> None:
    error, _ = only_error(workspace, "@workflow\n@param('notes', 'textarea')\nasync def log(notes):\n    pass\n")
    assert "@param('notes') on log: unknown type 'textarea'; use one of string, int, bool, float, json, list" in error


def test_a_wrongly_typed_argument_is_a_load_error_not_a_silent_split(workspace: Path) -> None:
    error, _ = only_error(workspace, "@workflow(tags='m365')\nasync def sync_users():\n    pass\n")
    assert "@workflow on sync_users: tags must be a list of text, such as ['a'], got 'm365'" in error


def test_a_data_provider_tagged_workflow_is_refused(workspace: Path) -> None:
    error, _ = only_error(workspace, "@data_provider(tags=['workflow'])\nasync def regions():\n    return []\n")
    assert "the tag 'workflow' is reserved" in error


def test_an_unknown_validation_key_is_a_load_error(workspace: Path) -> None:
    error, _ = only_error(workspace, "@workflow\n@param('code', 'string', validation={'regex': '^[A-Z]+$'})\n"
                                     "async def lookup(code: str):\n    pass\n")
    assert "@workflow on lookup: parameter 'code': validation has an unknown key 'regex'" in error
    assert "use min, max, min_length, max_length, pattern, enum" in error


def test_a_validation_key_that_does_not_fit_the_type_is_a_load_error(workspace: Path) -> None:
    error, _ = only_error(workspace, "@workflow\n@param('seats', 'int', validation={'pattern': '^[0-9]+$'})\n"
                                     "async def buy(seats: int):\n    pass\n")
    assert "parameter 'seats': validation key 'pattern' does not fit its type, int" in error


@pytest.mark.parametrize(
    ("validation", "expected"),
    [
        ("{'pattern': '(unclosed'}", "key 'pattern' is not a regular expression Python can compile"),
        ("{'min_length': -1}", "key 'min_length' must be a whole number >= 0, got -1"),
        ("{'min_length': 5, 'max_length': 2}", "'min_length' (5) is more than 'max_length' (2)"),
        ("{'enum': []}", "key 'enum' must be a non-empty list of the allowed values"),
        ("['min', 1]", "validation must be a dict such as {'min_length': 3}"),
    ],
)
def test_a_validation_value_that_cannot_work_is_a_load_error(workspace: Path, validation: str, expected: str) -> None:
    error, _ = only_error(workspace, f"@workflow\n@param('code', 'string', validation={validation})\n"
                                     "async def lookup(code: str):\n    pass\n")
    assert expected in error


def test_two_functions_with_one_name_name_both_files(workspace: Path) -> None:
    # Given two modules, each with a workflow called 'sync_users'
    tag = uuid.uuid4().hex[:10]
    (workspace / f"first_{tag}.py").write_text("from shared import workflow\n\n@workflow\nasync def sync_users():\n"
                                               "    pass\n")
    (workspace / f"second_{tag}.py").write_text("from shared import workflow\n\n@workflow(name='sync_users')\n"
                                                "async def sync_all():\n    pass\n")
    registry = FunctionRegistry()
    found = discover_workspace(registry)
    # Then the second is a load error naming both files and lines; the first stays registered
    errors = [error for path, error in found if tag in path]
    assert len(errors) == 1
    assert f"first_{tag}.py:3) and sync_all (" in errors[0] and f"second_{tag}.py:3)" in errors[0]
    assert "rename one of the functions" in errors[0]
    assert registry.get("sync_users").function.__name__ == "sync_users"  # type: ignore[union-attr]


def test_two_definitions_with_one_name_in_one_file_are_a_load_error_not_last_one_wins(workspace: Path) -> None:
    error, file = only_error(workspace, "@workflow\nasync def sync_users():\n    return 1\n\n\n"
                                        "@workflow\nasync def sync_users():\n    return 2\n")
    assert "Two functions are named 'sync_users': sync_users (" in error
    assert f"{file}:3) and sync_users (" in error and f"{file}:8)" in error
