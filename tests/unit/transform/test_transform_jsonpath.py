"""The compiled JSONPath subset: syntax, selection semantics, and agreement with jsonpath-ng."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from processor.transform.jsonpath import MISSING, InvalidPathError, compile_path

EVENT: dict[str, Any] = {
    "specversion": "1.0",
    "id": "e-1",
    "data": {
        "detail": {
            "instance-id": "i-0123456789",
            "state": "RUNNING",
            "tags": [{"k": "env", "v": "prod"}, {"k": "team", "v": "ops"}],
            "a.b": 1,
            "它": "中文",
            "path/with/slashes": True,
            "nothing": None,
        }
    },
}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("$", EVENT),
        ("$.id", "e-1"),
        ("$.data.detail.state", "RUNNING"),
        ("$.data.detail.instance-id", "i-0123456789"),
        ("$['data'][\"detail\"]['state']", "RUNNING"),
        ("$.data.detail['a.b']", 1),
        ("$.data.detail.它", "中文"),
        ("$.data.detail.path/with/slashes", True),
        ("$.data.detail.nothing", None),
        ("$.data.detail.tags[0].v", "prod"),
        ("$.data.detail.tags[-1].k", "team"),
        ("$.data.detail.tags[ 1 ]['k']", "team"),
        ("  $.id  ", "e-1"),
    ],
)
def test_definite_paths_select_one_value(path: str, expected: Any) -> None:
    compiled = compile_path(path)
    assert compiled.definite
    assert compiled.select(EVENT) == expected


@pytest.mark.parametrize(
    "path",
    [
        "$.nope",
        "$.data.detail.state.deeper",
        "$.data.detail.tags[2]",
        "$.data.detail.tags[-3]",
        "$.data.detail.tags.k",
        "$.id[0]",
        "$.data.detail.nothing.x",
    ],
)
def test_definite_paths_that_do_not_apply_select_missing(path: str) -> None:
    assert compile_path(path).select(EVENT) is MISSING


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("$.data.detail.tags[*].v", ["prod", "ops"]),
        ("$.data.detail.tags.*.k", ["env", "team"]),
        ("$.data.detail.tags[*]", EVENT["data"]["detail"]["tags"]),
        ("$.data.*.state", ["RUNNING"]),
        ("$.data.detail.tags[*].missing", []),
        ("$.id[*]", []),
        ("$.*", list(EVENT.values())),
    ],
)
def test_wildcards_select_the_list_of_matches(path: str, expected: list[Any]) -> None:
    compiled = compile_path(path)
    assert not compiled.definite
    assert compiled.select(EVENT) == expected


def test_quoted_names_take_escapes_and_star_literally() -> None:
    doc = {"it's": 1, "*": 2, 'q"': 3, "back\\slash": 4}
    assert compile_path("$['it\\'s']").select(doc) == 1
    assert compile_path("$['*']").select(doc) == 2
    assert compile_path('$["q\\""]').select(doc) == 3
    assert compile_path("$['back\\\\slash']").select(doc) == 4


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("data.x", "must start with '\\$'"),
        ("$..x", "recursive descent"),
        ("$.", "expected a member name"),
        ("$.a b", "unexpected ' '"),
        ("$[1:2]", "expected an index"),
        ("$[?(@.a)]", "expected an index"),
        ("$['a'", "expected ']'"),
        ("$['a", "unterminated quoted name"),
        ("$['a\\x']", "unsupported escape"),
        ("$x", "unexpected 'x'"),
        ("$." + "a" * 300, "the limit is 256"),
    ],
)
def test_paths_outside_the_subset_are_rejected_with_the_reason(path: str, reason: str) -> None:
    with pytest.raises(InvalidPathError, match=reason.replace("[", r"\[").replace("(", r"\(")):
        compile_path(path)


def test_non_string_path_is_rejected() -> None:
    with pytest.raises(InvalidPathError, match="must be a string"):
        compile_path(42)  # type: ignore[arg-type]


def test_missing_is_a_falsy_singleton_distinct_from_null() -> None:
    assert MISSING is type(MISSING)()
    assert not MISSING
    assert MISSING is not None
    assert repr(MISSING) == "MISSING"


# --- differential test against jsonpath-ng, the library this subset replaces ------------------
# jsonpath-ng differs from the JSONPath standard on steps that do not apply to a value (``[*]``
# on a scalar yields the scalar, ``[0]`` on a boolean raises), so documents follow a schema
# in which every step applies to the kind of value it reaches: ``a``/``b`` hold objects,
# ``l`` a list of objects, ``s`` a scalar. Keys may still be absent.

_scalar = st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=3)


def _objects(depth: int) -> st.SearchStrategy[dict[str, Any]]:
    if depth == 0:
        return st.fixed_dictionaries({}, optional={"s": _scalar})
    child = _objects(depth - 1)
    return st.fixed_dictionaries(
        {},
        optional={"a": child, "b": child, "l": st.lists(child, max_size=3), "s": _scalar},
    )


# (no ".l.*": jsonpath-ng ignores ".*" on arrays, where the standard selects the elements)
_step = st.sampled_from([".a", "['b']", '["a"]', ".l[0]", ".l[1]", ".l[*]"])
_last = st.sampled_from(["", ".s", "['s']", ".*"])


@settings(max_examples=150, deadline=None)
@given(doc=_objects(3), steps=st.lists(_step, max_size=3), last=_last)
def test_selection_agrees_with_jsonpath_ng(
    doc: dict[str, Any], steps: list[str], last: str
) -> None:
    jsonpath_ng = pytest.importorskip("jsonpath_ng")
    path = "$" + "".join(steps) + last
    ours = compile_path(path)
    theirs = [match.value for match in jsonpath_ng.parse(path).find(doc)]
    selected = ours.select(doc)
    if ours.definite:
        assert theirs == ([] if selected is MISSING else [selected])
    else:
        assert selected == theirs
