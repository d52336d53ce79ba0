"""Route templates, constraints and precedence as the host (ASP.NET Core routing) applies them (plain functions)."""

from __future__ import annotations

import pytest

from devhost.routing import Router, RouteTemplateError, make_route


def values(template: str, path: str, method: str = "GET") -> dict[str, str] | None:
    """The route values `template` yields for `path`, or None when it does not match."""
    found = Router([make_route(template, ["GET"], template)]).lookup(method, path)
    return None if found is None else found.values


def matches(template: str, path: str) -> bool:
    return values(template, path) is not None


def test_integer_constraints_follow_dotnet_parsing_and_ranges() -> None:
    # int is a 32-bit integer with an optional sign; long is 64-bit
    assert matches("a/{id:int}", "/a/42") and matches("a/{id:int}", "/a/-7") and matches("a/{id:int}", "/a/+7")
    assert not matches("a/{id:int}", "/a/2147483648")
    assert not matches("a/{id:int}", "/a/4.5")
    assert matches("a/{id:long}", "/a/2147483648")
    assert not matches("a/{id:long}", "/a/9223372036854775808")
    # min/max/range compare the value as a long, bounds included
    assert matches("a/{n:min(1)}", "/a/1") and not matches("a/{n:min(1)}", "/a/0")
    assert not matches("a/{n:min(1)}", "/a/one")
    assert matches("a/{n:max(5)}", "/a/-3") and not matches("a/{n:max(5)}", "/a/6")
    assert matches("a/{n:range(1,10)}", "/a/10") and not matches("a/{n:range(1, 10)}", "/a/11")


def test_text_constraints() -> None:
    # length counts UTF-16 code units, as .NET strings do: an emoji is two
    assert matches("a/{s:length(3)}", "/a/abc") and not matches("a/{s:length(3)}", "/a/abcd")
    assert matches("a/{s:length(3,8)}", "/a/abcdefgh") and not matches("a/{s:length(3,8)}", "/a/ab")
    assert matches("a/{s:length(3)}", "/a/a%F0%9F%98%80")  # "a" + an emoji: 1 + 2 code units
    assert matches("a/{s:length(3)}", "/a/ab%C3%A9")  # é is one code unit
    assert matches("a/{s:minlength(2)}", "/a/ab") and not matches("a/{s:minlength(2)}", "/a/a")
    assert matches("a/{s:maxlength(2)}", "/a/ab") and not matches("a/{s:maxlength(2)}", "/a/abc")
    assert matches("a/{s:alpha}", "/a/AbC") and not matches("a/{s:alpha}", "/a/ab1")
    assert matches("a/{b:bool}", "/a/TRUE") and not matches("a/{b:bool}", "/a/yes")


def test_guid_accepts_the_dotnet_forms() -> None:
    dashed = "0f8fad5b-d9cb-469f-a165-70867728950e"
    for form in (dashed, dashed.replace("-", ""), "{" + dashed + "}", "(" + dashed + ")", dashed.upper()):
        assert matches("a/{g:guid}", f"/a/{form}"), form
    assert not matches("a/{g:guid}", "/a/0f8fad5b-d9cb-469f-a165")
    assert not matches("a/{g:guid}", "/a/0f8f-ad5bd9cb-469f-a165-70867728950e")


def test_regex_is_a_case_insensitive_search_with_escaped_braces() -> None:
    # Given a pattern written with {{ }} for its braces, as route templates require
    template = "a/{c:regex(^[a-z]{{3}}-\\d{{2}}$)}"
    assert values(template, "/a/ABC-12") == {"c": "ABC-12"}
    assert not matches(template, "/a/abcd-12")
    # An unanchored pattern is a search, as .NET's IsMatch is
    assert matches("a/{c:regex(b)}", "/a/abc")
    # Commas and colons inside the argument belong to the pattern
    assert matches("a/{c:regex(^x{{1,2}}:y$)}", "/a/xx:y")


def test_several_constraints_all_apply_and_names_are_case_insensitive() -> None:
    assert matches("a/{n:INT:Min(10)}", "/a/10")
    assert not matches("a/{n:int:min(10)}", "/a/9")


def test_optional_default_and_catch_all_parameters() -> None:
    assert values("a/{x?}", "/a") == {}
    assert values("a/{x=7}", "/a") == {"x": "7"}
    assert values("a/{x:int=7}", "/a/8") == {"x": "8"}
    assert values("a/{x:int?}", "/a") == {}
    assert not matches("a/{x:int?}", "/a/b")
    assert values("a/{*rest}", "/a/b/c%20d") == {"rest": "b/c d"}
    assert values("a/{*rest}", "/a") == {}
    assert values("a/{*rest:regex(^b/)}", "/a/b/c") == {"rest": "b/c"}
    assert not matches("a/{*rest:regex(^b/)}", "/a/c/b")


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("a/{x:file}", "does not implement the route constraint 'file'"),
        ("a/{x:nonsense}", "'nonsense' is not an ASP.NET Core route constraint"),
        ("a/{x:min}", "needs an argument"),
        ("a/{x:min(one)}", "needs integer arguments"),
        ("a/{x:range(5,1)}", "minimum above its maximum"),
        ("a/{x:int(3)}", "takes no argument"),
        ("a/{x:regex(()}", "not a regular expression devhost can compile"),
        ("a/{name}.{ext}", "complex segment"),
        ("a/{*rest}/b", "must be the last segment"),
        ("a/{x}/{X}", "appears more than once"),
        ("a/{*x?}", "cannot be marked optional"),
        ("a/{x=1?}", "cannot have a default"),
        ("a/{x", "unterminated parameter"),
    ],
)
def test_what_devhost_does_not_implement_is_refused_with_a_reason(template: str, message: str) -> None:
    with pytest.raises(RouteTemplateError, match=message.replace("(", r"\(").replace(")", r"\)")):
        make_route(template, ["GET"], template)


def test_precedence_is_literal_constrained_parameter_constrained_catch_all_catch_all() -> None:
    router: Router[str] = Router(
        make_route(template, methods, template)
        for template, methods in (
            ("api/{*path}", []),
            ("api/{*path:regex(^docs/)}", ["GET"]),
            ("api/{a}/{b}", ["GET"]),
            ("api/{a:int}/{b}", ["GET"]),
            ("api/x/{b}", ["GET"]),
            ("api/x/y", ["GET"]),
        )
    )

    def target(method: str, path: str) -> str | None:
        found = router.lookup(method, path)
        return None if found is None else found.route.target

    assert target("GET", "/api/x/y") == "api/x/y"
    assert target("GET", "/api/x/z") == "api/x/{b}"
    assert target("GET", "/api/1/z") == "api/{a:int}/{b}"
    assert target("GET", "/api/q/z") == "api/{a}/{b}"
    assert target("GET", "/api/docs/a/b") == "api/{*path:regex(^docs/)}"
    assert target("GET", "/api/q/z/w") == "api/{*path}"
    # The method is a constraint: a route that does not list it is passed over for the next one in precedence
    assert target("POST", "/api/x/y") == "api/{*path}"


def test_a_wrong_method_with_no_other_route_is_no_match_which_the_host_answers_404() -> None:
    router: Router[str] = Router([make_route("api/items", ["GET"], "items")])
    assert router.lookup("GET", "/api/items") is not None
    assert router.lookup("DELETE", "/api/items") is None
    assert router.lookup("HEAD", "/api/items") is None  # HEAD is a method of its own, not implied by GET
