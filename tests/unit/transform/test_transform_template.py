"""Input templates: every rule of issue 4 and AWS's documented InputTransformer examples.

References for issue 16 items 5-9:
* AWS user guide, input transformation (predefined variables, "Common issues with
  transforming input"): https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-transform-target-input.html
* answers recorded against AWS in LocalStack,
  tests/aws/services/events/test_events_inputs.snapshot.json (github.com/localstack/localstack)
* AWS API reference, InputTransformer: https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_InputTransformer.html
"""

from __future__ import annotations

import re
from typing import Any

import orjson
import pytest

from processor.transform import TransformError, TransformSpecError, compile_transform

# AWS's EC2 example event, in kbridge's CloudEvent JSON form (detail -> data).
EC2: dict[str, Any] = {
    "specversion": "1.0",
    "id": "7bf73129-1428-4cd3-a780-95db273d1602",
    "source": "aws.ec2",
    "type": "EC2 Instance State-change Notification",
    "time": "2015-11-11T21:29:54Z",
    "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-abcd1111"],
    "data": {"instance-id": "i-0123456789", "state": "RUNNING"},
}
EC2_PATHS = {"instance": "$.data.instance-id", "state": "$.data.state"}

VALUES: dict[str, Any] = {
    "s": "plain",
    "n": 42,
    "f": 1.5,
    "t": True,
    "z": None,
    "o": {"k": "v", "n": [1, 2]},
    "a": ["x", 1, None],
    "tricky": 'quote " backslash \\ newline \n tab \t nul \x00 bell \x07 del \x7f é 中 🎉 \u2028',
}
EVENT: dict[str, Any] = {"specversion": "1.0", "id": "e1", "source": "s", "data": VALUES}
PATHS = {name: f"$.data.{name}" for name in VALUES} | {"gone": "$.data.not-there"}


def render(template: str, paths: dict[str, str] | None = None, event: Any = None) -> str:
    spec = {"input_paths": PATHS if paths is None else paths, "input_template": template}
    return compile_transform(spec).apply(EVENT if event is None else event, rule_name="rule-1")


# --- AWS's documented examples ------------------------------------------------------------


def test_aws_example_json_string_template() -> None:
    t = compile_transform(
        {"input_paths": EC2_PATHS, "input_template": '"instance <instance> is in <state>"'}
    )
    assert t.apply(EC2, rule_name="r") == '"instance i-0123456789 is in RUNNING"'
    assert t.content_type == "application/json"


def test_aws_example_json_object_template() -> None:
    t = compile_transform(
        {
            "input_paths": EC2_PATHS,
            "input_template": (
                '{"instance": <instance>, "state": [9, <state>, true], "Transformed": "Yes"}'
            ),
        }
    )
    assert t.apply(EC2, rule_name="r") == (
        '{"instance":"i-0123456789","state":[9,"RUNNING",true],"Transformed":"Yes"}'
    )
    assert t.content_type == "application/json"


@pytest.mark.parametrize(
    ("template", "expected", "content_type"),
    [
        ("<instance> is in state <state>", "i-0123456789 is in state RUNNING", "text/plain"),
        ('<instance> is in state "<state>"', 'i-0123456789 is in state "RUNNING"', "text/plain"),
        (
            '{"myInstance": <instance>,"myStatus": "<instance> is in state \\"<state>\\""}',
            '{"myInstance":"i-0123456789","myStatus":"i-0123456789 is in state \\"RUNNING\\""}',
            "application/json",
        ),
    ],
)
def test_aws_api_reference_examples(template: str, expected: str, content_type: str) -> None:
    t = compile_transform({"input_paths": EC2_PATHS, "input_template": template})
    assert t.apply(EC2, rule_name="r") == expected
    assert t.content_type == content_type


# --- JSON value positions --------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(VALUES))
def test_value_placeholder_is_the_variable_as_json(name: str) -> None:
    assert orjson.loads(render(f'{{"v": <{name}>}}')) == {"v": VALUES[name]}


@pytest.mark.parametrize("name", sorted(set(VALUES) - {"o", "a"}))
def test_quoted_scalar_placeholder_is_the_same_as_the_bare_one(name: str) -> None:
    assert render(f'{{"v": "<{name}>"}}') == render(f'{{"v": <{name}>}}')


@pytest.mark.parametrize(("name", "kind"), [("o", "an object"), ("a", "an array")])
def test_quoted_object_or_array_fails_delivery_like_aws(name: str, kind: str) -> None:
    """Item 9: the AWS guide says a variable holding JSON must not be quoted ("Common issues
    with transforming input"); EventBridge does not deliver {"payload": "<payload>"} for an
    object. kbridge fails the event the same way (the router dead-letters it)."""
    for template in (f'{{"payload": "<{name}>"}}', f'"<{name}>"', f'["<{name}>"]'):
        with pytest.raises(TransformError) as info:
            render(template)
        assert str(info.value) == (
            f"transform of rule 'rule-1' failed: variable {name} is {kind} placed in quotes "
            f'("<{name}>"), which EventBridge does not deliver; write <{name}> without '
            "quotes to insert it as JSON"
        )


def test_value_placeholders_in_arrays_and_as_whole_template() -> None:
    assert orjson.loads(render('[<s>, "<n>", <o>]')) == ["plain", 42, VALUES["o"]]
    assert render('"<s>"') == '"plain"'


def test_missing_path_is_an_empty_string_in_value_positions() -> None:
    """Item 8: LocalStack's snapshot, test_put_events_with_input_transformer_input_template_json
    ("custom-variables-not-match-all"), recorded against AWS: a variable whose path is
    missing from the event is delivered as "command": "" ."""
    assert render('{"a": <gone>, "b": "<gone>", "c": [<gone>]}') == '{"a":"","b":"","c":[""]}'


def test_variable_used_twice_and_unused_variables() -> None:
    assert render('{"a": <s>, "b": <s>}', {"s": "$.data.s", "unused": "$.x"}) == (
        '{"a":"plain","b":"plain"}'
    )


def test_wildcard_variable_is_an_array() -> None:
    assert render('{"v": <all>}', {"all": "$.data.a[*]"}) == '{"v":["x",1,null]}'


# --- placeholders inside longer JSON strings -----------------------------------------------


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("s", "plain"),
        ("n", "42"),
        ("f", "1.5"),
        ("t", "true"),
        ("z", "null"),
        # Item 7: objects and arrays in EventBridge's unquoted form (AWS guide, "Common
        # issues with transforming input": quotes inside the JSON are removed)
        ("o", "{k:v,n:[1,2]}"),
        ("a", "[x,1,null]"),
        ("tricky", VALUES["tricky"]),
        ("gone", ""),
    ],
)
def test_placeholder_inside_a_string_inserts_the_text_escaped(name: str, text: str) -> None:
    out = render(f'{{"msg": "value=<{name}>; end"}}')
    assert orjson.loads(out) == {"msg": f"value={text}; end"}


def test_string_template_with_several_placeholders_and_escapes() -> None:
    out = render('"<s> \\"<n>\\" \\\\ <tricky>"')
    assert orjson.loads(out) == f'plain "42" \\ {VALUES["tricky"]}'


# --- text templates --------------------------------------------------------------------------


def test_object_in_a_string_in_aws_unquoted_form() -> None:
    """Item 7, the issue's examples: {acc_id:0a787ecb-4015,sf_id:baz} and [HIGH]."""
    event = {"detail": {"payload": {"acc_id": "0a787ecb-4015", "sf_id": "baz"}, "sev": ["HIGH"]}}
    paths = {"p": "$.detail.payload", "s": "$.detail.sev"}
    assert render('{"m": "payload <p> at <s>"}', paths, event) == (
        '{"m":"payload {acc_id:0a787ecb-4015,sf_id:baz} at [HIGH]"}'
    )
    assert render("payload <p> at <s>", paths, event) == (
        "payload {acc_id:0a787ecb-4015,sf_id:baz} at [HIGH]"
    )


def test_text_template_inserts_text_and_unquoted_containers() -> None:
    t = compile_transform(
        {
            "input_paths": PATHS,
            "input_template": "## Alarm\n- s: <s>\n- n: <n> t: <t> z: <z>\n- o: <o> a: <a>\n",
        }
    )
    assert t.content_type == "text/plain"
    assert t.apply(EVENT, rule_name="r") == (
        "## Alarm\n- s: plain\n- n: 42 t: true z: null\n- o: {k:v,n:[1,2]} a: [x,1,null]\n"
    )


def test_text_template_inserts_strings_verbatim_and_missing_as_empty() -> None:
    assert render("(<tricky>|<gone>)") == f"({VALUES['tricky']}|)"


@pytest.mark.parametrize(
    "template",
    ["a < b and b > c", "<b>bold</b>".replace("<b>", "<s>"), "see <https://example.com/x>", "<>"],
)
def test_angle_brackets_that_are_not_placeholders_stay_literal_in_text(template: str) -> None:
    assert render(template) == template.replace("<s>", "plain")


@pytest.mark.parametrize(
    "template", ["<s>", '"Hi" <s>', '"unterminated <s>', "  leading and trailing  ", "42"]
)
def test_templates_that_are_not_json_values_are_text(template: str) -> None:
    t = compile_transform({"input_paths": PATHS, "input_template": template})
    assert t.content_type == "text/plain"
    assert t.apply(EVENT, rule_name="r") == template.replace("<s>", "plain")


# --- reserved variables ----------------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["kbridge.", "aws.events."])
def test_reserved_variables_in_both_spellings(prefix: str) -> None:
    template = (
        f'{{"rule": <{prefix}rule-name>, "at": "<{prefix}event.ingestion-time>", '
        f'"meta": <{prefix}event>, "full": <{prefix}event.json>, "arn": <{prefix}rule-arn>, '
        f'"text": "rule <{prefix}rule-name> at <{prefix}event.ingestion-time>"}}'
    )
    t = compile_transform({"input_template": template})
    out = orjson.loads(
        t.apply(
            EVENT, rule_name='ops-"alarms"', ingestion_time="2026-11-26T08:00:00Z", bus_name="ops"
        )
    )
    assert out == {
        "rule": 'ops-"alarms"',
        "at": "2026-11-26T08:00:00Z",
        "meta": {"specversion": "1.0", "id": "e1", "source": "s"},
        "full": EVENT,
        "arn": 'arn:kbridge:events:local:000000000000:rule/ops/ops-"alarms"',
        "text": 'rule ops-"alarms" at 2026-11-26T08:00:00Z',
    }


def test_event_variable_is_the_event_without_detail() -> None:
    """Item 6: AWS guide, predefined variables: aws.events.event is "the original event
    payload as JSON (without the detail field)"; LocalStack's snapshot
    (test_input_transformer_predefined_variables) shows it without detail. In the router's
    AWS view detail aliases data: both are left out."""
    aws_view = {"id": "e1", "source": "s", "detail-type": "t", "data": {"x": 1}, "detail": {"x": 1}}
    t = compile_transform({"input_template": '{"e": <aws.events.event>}'})
    assert orjson.loads(t.apply(aws_view, rule_name="r")) == {
        "e": {"id": "e1", "source": "s", "detail-type": "t"}
    }


def test_ingestion_time_defaults_to_now_in_iso8601_utc() -> None:
    out = compile_transform({"input_template": "<kbridge.event.ingestion-time>"}).apply(
        EVENT, rule_name="r"
    )
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", out)


def test_rule_name_in_text_template() -> None:
    t = compile_transform({"input_template": "rule <aws.events.rule-name> fired"})
    assert t.apply(EVENT, rule_name="disk-full") == "rule disk-full fired"


@pytest.mark.parametrize(
    "template",
    [
        "event: <kbridge.event>",
        "<kbridge.event.json>",
        '{"text": "event <aws.events.event.json>"}',
        '"whole: <kbridge.event>"',
    ],
)
def test_event_variables_only_in_json_value_positions(template: str) -> None:
    with pytest.raises(TransformSpecError, match="only as a value in a JSON template"):
        compile_transform({"input_template": template})


@pytest.mark.parametrize("template", ['{"e": "<aws.events.event>"}', '"<kbridge.event.json>"'])
def test_event_variables_must_not_be_quoted(template: str) -> None:
    """AWS guide: the event variables "can only be used as a value for a JSON field, as its
    contents are not escaped"; quoted they would be an object in quotes (item 9)."""
    with pytest.raises(TransformSpecError, match="must not quote"):
        compile_transform({"input_template": template})


@pytest.mark.parametrize("name", ["kbridge.rule-name", "aws.events.event", "kbridge.custom"])
def test_reserved_names_cannot_be_defined(name: str) -> None:
    with pytest.raises(TransformSpecError, match=f"input_paths variable {name} is a reserved name"):
        compile_transform({"input_paths": {name: "$.id"}, "input_template": "x"})


def test_rule_arn_has_aws_shape_with_kbridge_fields() -> None:
    """Item 5: AWS records arn:<partition>:events:<region>:<account>:rule/<bus-name>/<rule-name>
    (LocalStack snapshot, test_input_transformer_predefined_variables); kbridge fills
    partition "kbridge", region "local", account 000000000000 (docs/transformations.md)."""
    t = compile_transform({"input_template": '"rule <aws.events.rule-arn>"'})
    out = t.apply(EVENT, rule_name="disk-full", bus_name="ops")
    assert out == '"rule arn:kbridge:events:local:000000000000:rule/ops/disk-full"'
    assert (
        compile_transform({"input_template": "<kbridge.rule-arn>"}).apply(
            EVENT, rule_name="disk-full"
        )
        == "arn:kbridge:events:local:000000000000:rule/disk-full"
    )


def test_variable_names_longer_than_256_characters_are_refused() -> None:
    """Item 9: InputPathsMap keys are at most 256 characters (AWS API reference,
    InputTransformer, InputPathsMap: "Key Length Constraints: Maximum length of 256")."""
    name = "v" * 256
    t = compile_transform({"input_paths": {name: "$.id"}, "input_template": f"<{name}>"})
    assert t.apply(EVENT, rule_name="r") == "e1"
    with pytest.raises(TransformSpecError, match="257 characters long; the limit is 256"):
        compile_transform({"input_paths": {name + "v": "$.id"}, "input_template": "x"})


# --- validation at compile time ------------------------------------------------------------


@pytest.mark.parametrize(
    "template", ["<x>", '{"a": <x>}', '{"a": "<x>"}', '{"a": "id <x>"}', "text <s> <x>"]
)
def test_undefined_placeholder_is_rejected_at_compile_time(template: str) -> None:
    with pytest.raises(TransformSpecError) as exc:
        compile_transform({"input_paths": {"s": "$.s"}, "input_template": template})
    assert str(exc.value) == "input_template contains invalid placeholder x"


@pytest.mark.parametrize("template", ["{<s>: 1}", '{"<s>": 1}', '{"a": {"key <s>": 1}}'])
def test_placeholder_as_object_key_is_rejected(template: str) -> None:
    with pytest.raises(TransformSpecError, match="uses placeholder s as an object key"):
        compile_transform({"input_paths": {"s": "$.s"}, "input_template": template})


def test_limits_one_hundred_variables() -> None:
    paths = {f"v{i}": f"$.data.v{i}" for i in range(100)}
    template = "[" + ",".join(f"<v{i}>" for i in range(100)) + "]"
    event = {"data": {f"v{i}": i for i in range(100)}}
    assert orjson.loads(render(template, paths, event)) == list(range(100))
    paths["v100"] = "$.data.v100"
    with pytest.raises(TransformSpecError, match="defines 101 variables; the limit is 100"):
        compile_transform({"input_paths": paths, "input_template": template})


def test_limits_template_of_8192_characters() -> None:
    template = "x" * 8192
    assert render(template) == template
    with pytest.raises(TransformSpecError, match="8193 characters long; the limit is 8192"):
        compile_transform({"input_template": template + "x"})


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"input_template": ""}, "input_template must not be empty"),
        ({"input_template": 5}, "input_template must be a string, got int"),
        ({"input_paths": ["$.a"], "input_template": "x"}, "input_paths must be a mapping"),
        ({"input_paths": {"a b": "$.a"}, "input_template": "x"}, "may only hold letters"),
        ({"input_paths": {1: "$.a"}, "input_template": "x"}, "name 1 must be a string"),
        ({"input_paths": {"a": "$..a"}, "input_template": "x"}, "input_paths.a: JSONPath"),
        ({"input_paths": {"a": 3}, "input_template": "x"}, "input_paths.a: .* must be a string"),
    ],
)
def test_invalid_template_specs(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(TransformSpecError, match=message):
        compile_transform(spec)


@pytest.mark.parametrize(
    "template",
    [
        '{"a": }',
        '{"a" 1}',
        '{"a": 1,}',
        "[1,]",
        '{"a": 1} trailing',
        "{",
        '{"a": <not a placeholder>}',
        '{"a": tru}',
        '{"a": 01}',
        '{"a": "bad escape \\x"}',
        '{"a": "\\<s>"}',
        '{"a": "\\ud800"}',
        "[" * 70 + "]" * 70,
        "{'single': 'quotes'}",
    ],
)
def test_json_looking_templates_must_be_valid_json(template: str) -> None:
    with pytest.raises(
        TransformSpecError, match="input_template starts like JSON but is not valid"
    ):
        compile_transform({"input_paths": {"s": "$.s"}, "input_template": template})


# --- output is valid JSON whatever the strings hold ---------------------------------------------


def test_template_literals_are_normalised_and_compacted() -> None:
    template = '{\n  "multi": "line one\nline two\tx",\n  "esc": "\\u00e9\\/",\n  "n": -1.5e3\n}\n'
    out = render(template)
    assert out == '{"multi":"line one\\nline two\\tx","esc":"é/","n":-1.5e3}'
    assert orjson.loads(out)["multi"] == "line one\nline two\tx"


@pytest.mark.parametrize("char", [chr(c) for c in range(0x20)] + ['"', "\\", "\x7f", "\u2028"])
def test_every_special_character_round_trips(char: str) -> None:
    event = {"data": {"v": f"a{char}b"}}
    paths = {"v": "$.data.v"}
    value = f"a{char}b"
    assert orjson.loads(render('{"v": <v>}', paths, event)) == {"v": value}
    assert orjson.loads(render('{"v": "<v>"}', paths, event)) == {"v": value}
    assert orjson.loads(render('{"v": "x <v> y"}', paths, event)) == {"v": f"x {value} y"}


def test_unencodable_value_is_a_transform_error_naming_rule_and_variable() -> None:
    t = compile_transform({"input_paths": {"v": "$.v"}, "input_template": '{"v": <v>}'})
    with pytest.raises(TransformError, match=r"'alarms'.*variable v cannot be rendered"):
        t.apply({"v": "lone \ud800 surrogate"}, rule_name="alarms")
    with pytest.raises(TransformError, match="variable v cannot be rendered"):
        t.apply({"v": 2**70}, rule_name="alarms")
