"""Tests for devhost.routing: ASP.NET-style route templates and the router."""

from typing import Any

import pytest

from devhost.routing import (
    MethodNotAllowed,
    RouteNotFound,
    Router,
    RouteTemplate,
    RoutingError,
)

# --- matching: template -> {path: the parameters it yields, or None: no match} ----------------

MATCHES = {
    # A literal template matches itself only, case-insensitively.
    "health": {"health": {}, "healthz": None, "health/extra": None, "": None},
    "Api/Health": {"api/health": {}, "API/HEALTH": {}},
    # Leading and trailing slashes are ignored, on both sides.
    "/messages/{instanceId}/": {
        "messages/abc": {"instanceId": "abc"},
        "/messages/abc/": {"instanceId": "abc"},
    },
    # The empty template matches only the root.
    "": {"": {}, "/": {}, "x": None},
    # A parameter captures one whole segment, keeping its case, never an empty one.
    "messages/{instanceId}": {
        "messages/1234": {"instanceId": "1234"},
        "messages": None,
        "messages/1/2": None,
    },
    "users/{name}": {"USERS/MixedCase": {"name": "MixedCase"}},
    "a/{x}/b": {"a//b": None, "a/x/b": {"x": "x"}},
    "a/b/c": {"a//c": None},
    # Values are percent-decoded; the path is split first, so %2F is data, not a separator.
    "files/{name}": {
        "files/hello%20world": {"name": "hello world"},
        "files/caf%C3%A9": {"name": "café"},
        "files/a%2Fb": {"name": "a/b"},
    },
    "files/{a}/{b}": {"files/a%2Fb": None},
    "hello world": {"hello%20world": {}},
    # Escaped braces are literal.
    "{{x}}/{y}": {"{x}/1": {"y": "1"}, "x/1": None},
    "orders/{orderId}/items/{itemId}": {
        "orders/7/items/9": {"orderId": "7", "itemId": "9"},
        "orders/7/things/9": None,
    },
    # Optional parameters, present or absent, trailing ones together.
    "conversations/{id?}": {
        "conversations/42": {"id": "42"},
        "conversations": {},
        "conversations/": {},
        "conversations/1/2": None,
    },
    "a/{x?}/{y?}": {"a": {}, "a/1": {"x": "1"}, "a/1/2": {"x": "1", "y": "2"}},
    "items/{id:int?}": {"items": {}, "items/5": {"id": "5"}, "items/x": None},
    # A default value fills an absent parameter.
    "pages/{page=home}": {"pages": {"page": "home"}, "pages/about": {"page": "about"}},
    # A catch-all takes the rest of the path (decoded), or "" for none of it.
    "files/{*rest}": {
        "files/a": {"rest": "a"},
        "files/a/b/c.txt": {"rest": "a/b/c.txt"},
        "files/a//b": {"rest": "a//b"},
        "files": {"rest": ""},
        "files/": {"rest": ""},
        "other": None,
        "files/my%20dir/a%2Fb": {"rest": "my dir/a/b"},
    },
    "static/{**path}": {"static/css/site.css": {"path": "css/site.css"}, "static": {"path": ""}},
    "spa/{*path=index.html}": {"spa": {"path": "index.html"}},
    "n/{*rest:regex(^[0-9/]+$)}": {"n/1/2": {"rest": "1/2"}, "n/1/x": None, "n": {"rest": ""}},
    "a/{b?}/{*c}": {"a": {"c": ""}, "a/1/2/3": {"b": "1", "c": "2/3"}},
}


@pytest.mark.parametrize(
    ("template", "path", "expected"),
    [
        (template, path, expected)
        for template, paths in MATCHES.items()
        for path, expected in paths.items()
    ],
)
def test_match(template, path, expected):
    assert RouteTemplate(template).match(path) == expected


def test_the_template_text_and_parameter_names_are_kept():
    assert RouteTemplate("/messages/{instanceId}/").template == "/messages/{instanceId}/"
    assert RouteTemplate("messages/{instanceId}").parameter_names == ("instanceId",)


# --- constraints --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("constraint", "accepted", "rejected"),
    [
        ("int", ["0", "42", "-7", "+7", "2147483647", "-2147483648"], ["x", "1.5", "2147483648"]),
        ("long", ["9223372036854775807", "-9223372036854775808"], ["9223372036854775808", "1e3"]),
        ("bool", ["true", "FALSE", "True"], ["yes", "1", "truex"]),
        (
            "guid",
            [
                "3f2504e0-4f89-11d3-9a0c-0305e82c3301",
                "3F2504E04F8911D39A0C0305E82C3301",
                "%7B3f2504e0-4f89-11d3-9a0c-0305e82c3301%7D",
                "(3f2504e0-4f89-11d3-9a0c-0305e82c3301)",
            ],
            ["3f2504e0-4f89-11d3-9a0c", "zzzzzzzz-4f89-11d3-9a0c-0305e82c3301", "1234"],
        ),
        ("alpha", ["abc", "ABCdef"], ["abc1", "a-b", "caf%C3%A9"]),
        ("minlength(3)", ["abc", "abcdef"], ["ab"]),
        ("maxlength(3)", ["a", "abc"], ["abcd"]),
        ("length(3)", ["abc"], ["ab", "abcd"]),
        ("length(2,4)", ["ab", "abcd"], ["a", "abcde"]),
        ("min(10)", ["10", "11", "999"], ["9", "-1", "ten"]),
        ("max(10)", ["10", "-5"], ["11", "ten"]),
        ("range(1,5)", ["1", "3", "5"], ["0", "6", "x"]),
        ("regex(^[a-z]{{2}}[0-9]$)", ["ab1", "AB1"], ["abc1", "ab", "ab12"]),
        ("regex(b)", ["abc", "b"], ["acd"]),
        ("REGEX(^(a|b)$)", ["a", "b"], ["c", "ab"]),
        ("int:min(1)", ["1", "5"], ["0", "x"]),
    ],
)
def test_constraints(constraint, accepted, rejected):
    template = RouteTemplate(f"items/{{id:{constraint}}}")
    for value in accepted:
        assert template.match(f"items/{value}") is not None, value
    for value in rejected:
        assert template.match(f"items/{value}") is None, value


def test_constraint_sees_decoded_value():
    template = RouteTemplate("items/{id:int}")
    assert template.match("items/%31%32") == {"id": "12"}


def test_constraint_inside_path():
    template = RouteTemplate("a/{x:alpha}/b")
    assert template.match("a/xyz/b") == {"x": "xyz"}
    assert template.match("a/x1/b") is None


def test_guid_constraint_in_template():
    template = RouteTemplate("orders/{id:guid}")
    value = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"
    assert template.match(f"orders/{value}") == {"id": value}
    assert template.match("orders/not-a-guid") is None


def test_constraint_names_are_case_insensitive():
    assert RouteTemplate("items/{id:INT}").match("items/3") == {"id": "3"}


# --- malformed templates ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("a/{b", "no closing '}'"),
        ("a/b}", "closes nothing"),
        ("a/{b{c}}", "nested '{'"),
        ("{a}/{a}", "'a' appears more than once"),
        ("{a}/{A}", "appears more than once"),
        ("{a?}/{b}", "optional parameter 'a' must not precede required parameter 'b'"),
        ("{a?}/b", "must not precede required segment 'b'"),
        ("{a=1}/{b}", "must not precede"),
        ("{*a}/b", "catch-all parameter 'a' must be the last segment"),
        ("{*a}/{b?}", "must be the last segment"),
        ("{*a?}", "cannot be marked optional"),
        ("{a=1?}", "optional and has a default value"),
        ("{}", "no valid name"),
        ("{:int}", "no valid name"),
        ("a//b", "'/' cannot appear twice"),
        ("x.{y}", "complex segments"),
        ("{x}.y", "complex segments"),
        ("a?b", "cannot contain '?'"),
        ("{a:}", "invalid constraint name"),
        ("{a:int(}", "unclosed '('"),
        ("{a:int!}", "malformed"),
    ],
)
def test_malformed_templates_raise(template, message):
    with pytest.raises(ValueError, match="invalid route template") as caught:
        RouteTemplate(template)
    assert message in str(caught.value)
    assert repr(template) in str(caught.value)


def test_unknown_constraint_is_named():
    with pytest.raises(ValueError, match="unknown route constraint 'frobnicate'"):
        RouteTemplate("items/{id:frobnicate}")


@pytest.mark.parametrize(
    "constraint",
    [
        "int(3)",
        "minlength",
        "minlength(x)",
        "minlength(-1)",
        "maxlength(1,2)",
        "length()",
        "length(1,2,3)",
        "length(5,2)",
        "min(1.5)",
        "max()",
        "range(1)",
        "range(5,1)",
        "regex",
        "regex([)",
    ],
)
def test_bad_constraint_arguments_raise(constraint):
    with pytest.raises(ValueError, match="route constraint"):
        RouteTemplate(f"items/{{id:{constraint}}}")


# --- router: precedence and methods -------------------------------------------------------------


def router_of(*routes: tuple[str, Any, str]) -> Router:
    """A router with these (template, methods, target) routes, added in this order."""
    router = Router()
    for template, methods, target in routes:
        router.add(template, methods, target)
    return router


# name: (routes in the order added, {"METHOD path": what it resolves to})
RESOLUTIONS = {
    "literal-beats-parameter-whatever-the-order": (
        [("items/{id}", ["GET"], "by-id"), ("items/new", ["GET"], "new")],
        {"GET items/new": ("new", {}), "GET items/7": ("by-id", {"id": "7"})},
    ),
    "more-literals-first": (
        [("{a}/{b}/{c}", None, "params"), ("x/{b}/{c}", None, "one"), ("x/y/{c}", None, "two")],
        {
            "GET x/y/z": ("two", {"c": "z"}),
            "GET x/q/z": ("one", {"b": "q", "c": "z"}),
            "GET q/q/z": ("params", {"a": "q", "b": "q", "c": "z"}),
        },
    ),
    "constrained-beats-unconstrained": (
        [("items/{name}", None, "name"), ("items/{id:int}", None, "int")],
        {"GET items/5": ("int", {"id": "5"}), "GET items/five": ("name", {"name": "five"})},
    ),
    "required-beats-optional": (
        [("items/{id?}", None, "optional"), ("items/{id}", None, "required")],
        {"GET items/5": ("required", {"id": "5"}), "GET items": ("optional", {})},
    ),
    "catch-all-last-even-with-more-literals": (
        [("api/files/{*rest}", None, "catch-all"), ("{a}/{b}/{c}", None, "params")],
        {
            "GET api/files/x": ("params", {"a": "api", "b": "files", "c": "x"}),
            "GET api/files/x/y": ("catch-all", {"rest": "x/y"}),
        },
    ),
    "equal-precedence-in-registration-order": (
        [("{a}", None, "first"), ("{b}", None, "second")],
        {"GET x": ("first", {"a": "x"})},
    ),
    "catch-all-for-get-does-not-shadow-a-literal-for-post": (
        [("{*path}", ["GET"], "static"), ("api/messages", ["POST"], "messages")],
        {
            "POST api/messages": ("messages", {}),
            "GET api/messages": ("static", {"path": "api/messages"}),
        },
    ),
    "literal-with-another-method-falls-through-to-a-catch-all": (
        [("api/messages", ["POST"], "messages"), ("api/{*rest}", ["GET", "POST", "PUT"], "any")],
        {"PUT api/messages": ("any", {"rest": "messages"}), "POST api/messages": ("messages", {})},
    ),
}


@pytest.mark.parametrize(("routes", "resolved"), RESOLUTIONS.values(), ids=RESOLUTIONS)
def test_resolve(routes, resolved):
    router = router_of(*routes)
    for request, expected in resolved.items():
        method, path = request.split(" ", 1)
        assert router.resolve(method, path) == expected, request


def test_routes_are_kept_in_precedence_then_registration_order():
    catch_all_last = router_of(("api/files/{*rest}", None, "catch-all"), ("{a}/{b}/{c}", None, "p"))
    assert [route.target for route in catch_all_last.routes] == ["p", "catch-all"]
    equal = router_of(("{a}", None, "first"), ("{b}", None, "second"))
    assert [route.target for route in equal.routes] == ["first", "second"]


def test_no_route_for_the_method_names_every_allowed_one():
    router = router_of(
        ("api/messages", ["POST"], "m"), ("api/{*rest}", ["GET", "POST", "PUT"], "a")
    )
    with pytest.raises(MethodNotAllowed) as caught:
        router.resolve("DELETE", "api/messages")
    assert caught.value.allowed == ["GET", "POST", "PUT"]


def test_precedence_key_components():
    template = RouteTemplate("a/{b:int}/{c?}")
    assert template.literal_count == 1
    assert template.constrained_count == 1
    assert template.optional_count == 1
    assert not template.has_catch_all
    assert RouteTemplate("a/{*b}").has_catch_all


def test_wrong_method_raises_method_not_allowed_with_sorted_allowed_list():
    router = router_of(
        ("messages/{id}", ["post", "GET"], "a"), ("messages/{id:int}", ["DELETE"], "b")
    )
    with pytest.raises(MethodNotAllowed) as caught:
        router.resolve("PUT", "messages/5")
    assert caught.value.allowed == ["DELETE", "GET", "POST"]
    with pytest.raises(MethodNotAllowed) as caught:
        router.resolve("PUT", "messages/x")
    assert caught.value.allowed == ["GET", "POST"]


def test_unknown_path_raises_route_not_found():
    router = Router()
    router.add("health", ["GET"], "health")
    with pytest.raises(RouteNotFound) as caught:
        router.resolve("GET", "nope")
    assert caught.value.path == "nope"
    assert caught.value.method == "GET"


def test_empty_router_raises_route_not_found():
    with pytest.raises(RouteNotFound):
        Router().resolve("GET", "")


def test_every_dispatch_failure_can_be_caught_as_a_routing_error():
    router = Router()
    router.add("health", ["GET"], "health")
    with pytest.raises(RoutingError, match="no route matches GET 'nope'") as not_found:
        router.resolve("GET", "nope")
    with pytest.raises(RoutingError, match="allowed: GET") as not_allowed:
        router.resolve("POST", "health")
    assert type(not_found.value) is RouteNotFound
    assert type(not_allowed.value) is MethodNotAllowed


@pytest.mark.parametrize("methods", [None, [], ()])
def test_none_or_empty_methods_allow_every_method(methods):
    router = Router()
    route = router.add("health", methods, "health")
    assert route.methods is None
    for method in ("GET", "post", "PATCH", "OPTIONS"):
        assert router.resolve(method, "health") == ("health", {})


def test_methods_are_upper_cased_and_matched_case_insensitively():
    router = Router()
    route = router.add("x", ["get", "Post"], "x")
    assert route.methods == frozenset({"GET", "POST"})
    assert router.resolve("get", "x") == ("x", {})
    assert router.resolve("POST", "x") == ("x", {})


def test_single_method_string_is_one_method():
    router = Router()
    assert router.add("x", "get", "x").methods == frozenset({"GET"})


def test_add_rejects_malformed_template():
    with pytest.raises(ValueError, match="invalid route template"):
        Router().add("a/{b", None, "x")


def test_resolve_returns_decoded_parameters():
    router = Router()
    router.add("conversations/{id?}", ["GET"], "conv")
    assert router.resolve("GET", "conversations/a%20b") == ("conv", {"id": "a b"})
    assert router.resolve("GET", "conversations") == ("conv", {})
