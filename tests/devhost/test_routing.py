"""Tests for devhost.routing: ASP.NET-style route templates and the router."""

import pytest

from devhost.routing import (
    MethodNotAllowed,
    RouteNotFound,
    Router,
    RouteTemplate,
    RoutingError,
)

# --- literal and parameter matching -------------------------------------------------------------


def test_literal_template_matches_itself_only():
    template = RouteTemplate("health")
    assert template.match("health") == {}
    assert template.match("healthz") is None
    assert template.match("health/extra") is None
    assert template.match("") is None


def test_literals_match_case_insensitively():
    template = RouteTemplate("Api/Health")
    assert template.match("api/health") == {}
    assert template.match("API/HEALTH") == {}


def test_leading_and_trailing_slashes_are_ignored():
    template = RouteTemplate("/messages/{instanceId}/")
    assert template.template == "/messages/{instanceId}/"
    assert template.match("messages/abc") == {"instanceId": "abc"}
    assert template.match("/messages/abc/") == {"instanceId": "abc"}


def test_empty_template_matches_only_the_root():
    template = RouteTemplate("")
    assert template.match("") == {}
    assert template.match("/") == {}
    assert template.match("x") is None


def test_parameter_captures_segment():
    template = RouteTemplate("messages/{instanceId}")
    assert template.match("messages/1234") == {"instanceId": "1234"}
    assert template.match("messages") is None
    assert template.match("messages/1/2") is None
    assert template.parameter_names == ("instanceId",)


def test_parameter_preserves_value_case():
    assert RouteTemplate("users/{name}").match("USERS/MixedCase") == {"name": "MixedCase"}


def test_parameter_never_matches_an_empty_segment():
    template = RouteTemplate("a/{x}/b")
    assert template.match("a//b") is None
    assert template.match("a/x/b") == {"x": "x"}


def test_literal_does_not_match_an_empty_segment():
    assert RouteTemplate("a/b/c").match("a//c") is None


def test_parameter_values_are_percent_decoded():
    template = RouteTemplate("files/{name}")
    assert template.match("files/hello%20world") == {"name": "hello world"}
    assert template.match("files/caf%C3%A9") == {"name": "café"}


def test_encoded_slash_stays_inside_one_segment():
    # The path is split before decoding, so %2F is data, not a separator.
    template = RouteTemplate("files/{name}")
    assert template.match("files/a%2Fb") == {"name": "a/b"}
    assert RouteTemplate("files/{a}/{b}").match("files/a%2Fb") is None


def test_percent_encoded_literal_matches():
    assert RouteTemplate("hello world").match("hello%20world") == {}


def test_escaped_braces_in_literals():
    template = RouteTemplate("{{x}}/{y}")
    assert template.match("{x}/1") == {"y": "1"}
    assert template.match("x/1") is None


def test_multiple_parameters():
    template = RouteTemplate("orders/{orderId}/items/{itemId}")
    assert template.match("orders/7/items/9") == {"orderId": "7", "itemId": "9"}
    assert template.match("orders/7/things/9") is None


# --- optional, default and catch-all parameters -------------------------------------------------


def test_optional_parameter_present_and_absent():
    template = RouteTemplate("conversations/{id?}")
    assert template.match("conversations/42") == {"id": "42"}
    assert template.match("conversations") == {}
    assert template.match("conversations/") == {}
    assert template.match("conversations/1/2") is None


def test_several_trailing_optionals():
    template = RouteTemplate("a/{x?}/{y?}")
    assert template.match("a") == {}
    assert template.match("a/1") == {"x": "1"}
    assert template.match("a/1/2") == {"x": "1", "y": "2"}


def test_optional_parameter_with_constraint():
    template = RouteTemplate("items/{id:int?}")
    assert template.match("items") == {}
    assert template.match("items/5") == {"id": "5"}
    assert template.match("items/x") is None


def test_default_value_fills_absent_parameter():
    template = RouteTemplate("pages/{page=home}")
    assert template.match("pages") == {"page": "home"}
    assert template.match("pages/about") == {"page": "about"}


def test_catch_all_captures_rest_of_path():
    template = RouteTemplate("files/{*rest}")
    assert template.match("files/a") == {"rest": "a"}
    assert template.match("files/a/b/c.txt") == {"rest": "a/b/c.txt"}
    assert template.match("files/a//b") == {"rest": "a//b"}


def test_catch_all_matches_zero_segments_as_empty_string():
    template = RouteTemplate("files/{*rest}")
    assert template.match("files") == {"rest": ""}
    assert template.match("files/") == {"rest": ""}
    assert template.match("other") is None


def test_catch_all_value_is_percent_decoded():
    template = RouteTemplate("files/{*rest}")
    assert template.match("files/my%20dir/a%2Fb") == {"rest": "my dir/a/b"}


def test_double_star_catch_all():
    template = RouteTemplate("static/{**path}")
    assert template.match("static/css/site.css") == {"path": "css/site.css"}
    assert template.match("static") == {"path": ""}


def test_catch_all_with_default_and_constraint():
    assert RouteTemplate("spa/{*path=index.html}").match("spa") == {"path": "index.html"}
    template = RouteTemplate("n/{*rest:regex(^[0-9/]+$)}")
    assert template.match("n/1/2") == {"rest": "1/2"}
    assert template.match("n/1/x") is None
    assert template.match("n") == {"rest": ""}


def test_catch_all_after_optional_is_allowed():
    template = RouteTemplate("a/{b?}/{*c}")
    assert template.match("a") == {"c": ""}
    assert template.match("a/1/2/3") == {"b": "1", "c": "2/3"}


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


def test_literal_beats_parameter_regardless_of_order():
    router = Router()
    router.add("items/{id}", ["GET"], "by-id")
    router.add("items/new", ["GET"], "new")
    assert router.resolve("GET", "items/new") == ("new", {})
    assert router.resolve("GET", "items/7") == ("by-id", {"id": "7"})


def test_more_literals_first():
    router = Router()
    router.add("{a}/{b}/{c}", None, "params")
    router.add("x/{b}/{c}", None, "one-literal")
    router.add("x/y/{c}", None, "two-literals")
    assert router.resolve("GET", "x/y/z")[0] == "two-literals"
    assert router.resolve("GET", "x/q/z")[0] == "one-literal"
    assert router.resolve("GET", "q/q/z")[0] == "params"


def test_constrained_parameter_beats_unconstrained():
    router = Router()
    router.add("items/{name}", None, "name")
    router.add("items/{id:int}", None, "int")
    assert router.resolve("GET", "items/5") == ("int", {"id": "5"})
    assert router.resolve("GET", "items/five") == ("name", {"name": "five"})


def test_required_beats_optional():
    router = Router()
    router.add("items/{id?}", None, "optional")
    router.add("items/{id}", None, "required")
    assert router.resolve("GET", "items/5")[0] == "required"
    assert router.resolve("GET", "items")[0] == "optional"


def test_catch_all_is_last_even_with_more_literals():
    router = Router()
    router.add("api/files/{*rest}", None, "catch-all")
    router.add("{a}/{b}/{c}", None, "params")
    assert router.resolve("GET", "api/files/x")[0] == "params"
    assert router.resolve("GET", "api/files/x/y")[0] == "catch-all"
    assert [route.target for route in router.routes] == ["params", "catch-all"]


def test_equal_precedence_keeps_registration_order():
    router = Router()
    router.add("{a}", None, "first")
    router.add("{b}", None, "second")
    assert router.resolve("GET", "x") == ("first", {"a": "x"})
    assert [route.target for route in router.routes] == ["first", "second"]


def test_precedence_key_components():
    template = RouteTemplate("a/{b:int}/{c?}")
    assert template.literal_count == 1
    assert template.constrained_count == 1
    assert template.optional_count == 1
    assert not template.has_catch_all
    assert RouteTemplate("a/{*b}").has_catch_all


def test_wrong_method_raises_method_not_allowed_with_sorted_allowed_list():
    router = Router()
    router.add("messages/{id}", ["post", "GET"], "a")
    router.add("messages/{id:int}", ["DELETE"], "b")
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


def test_both_errors_are_routing_errors():
    assert issubclass(RouteNotFound, RoutingError)
    assert issubclass(MethodNotAllowed, RoutingError)


def test_catch_all_for_get_does_not_shadow_literal_for_post():
    router = Router()
    router.add("{*path}", ["GET"], "static")
    router.add("api/messages", ["POST"], "messages")
    assert router.resolve("POST", "api/messages") == ("messages", {})
    assert router.resolve("GET", "api/messages") == ("static", {"path": "api/messages"})


def test_literal_with_wrong_method_falls_through_to_catch_all():
    router = Router()
    router.add("api/messages", ["POST"], "messages")
    router.add("api/{*rest}", ["GET", "POST", "PUT"], "fallback")
    assert router.resolve("PUT", "api/messages") == ("fallback", {"rest": "messages"})
    assert router.resolve("POST", "api/messages") == ("messages", {})
    with pytest.raises(MethodNotAllowed) as caught:
        router.resolve("DELETE", "api/messages")
    assert caught.value.allowed == ["GET", "POST", "PUT"]


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
