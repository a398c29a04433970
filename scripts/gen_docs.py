"""Generate the kbridge.yaml reference in docs/configuration.md from the pydantic models.

    python scripts/gen_docs.py           # rewrite the generated part of docs/configuration.md
    python scripts/gen_docs.py --check   # exit 1 when the committed page is stale

Only the text between the ``BEGIN GENERATED`` and ``END GENERATED`` markers is generated;
the hand-written introduction above them is kept as it is. Types, defaults and
constraints come from the models (``processor/config/``); a field's description is the
string literal under it in the model's class body (an attribute docstring, the same text
pydantic puts into the JSON Schema and ``kbridge schema`` prints). A field without one is an
error, so a new field cannot be added without documenting it
(``tests/unit/docs/test_configuration_page.py`` runs ``--check``).
"""

from __future__ import annotations

import argparse
import ast
import inspect
import itertools
import sys
import textwrap
import types
import typing
from pathlib import Path
from typing import Any, Literal, Union

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python scripts/gen_docs.py` from a checkout
    sys.path.insert(0, str(ROOT))

from processor.config import connections as conn_models  # noqa: E402
from processor.config import sources as source_models  # noqa: E402
from processor.config import targets as target_models  # noqa: E402
from processor.config.buses import Bus, BusTrace  # noqa: E402
from processor.config.durations import format_duration  # noqa: E402
from processor.config.model import KbridgeConfig  # noqa: E402
from processor.config.rules import RetryPolicy, Rule, RuleTarget  # noqa: E402
from processor.kafka.config import KafkaClientConfig  # noqa: E402

PAGE = ROOT / "docs" / "configuration.md"
BEGIN = "<!-- BEGIN GENERATED: python scripts/gen_docs.py (do not edit below) -->"
END = "<!-- END GENERATED -->"

# Validators whose function names say what a string really is.
VALIDATOR_TYPES: dict[str, str] = {
    "_check_object_name": "name",
    "parse_duration": "duration",
    "_http_url": "http(s) URL",
    "_sqlalchemy_url": "SQLAlchemy URL",
    "_email_address": "email address",
    "_check_timezone": "IANA time zone",
    "_check_network": "IP or CIDR",
    "_check_schedule": "schedule expression",
    "_check_wecom_key": "secret (43-char EncodingAESKey)",
}

# Descriptions live on the models (attribute docstrings, which pydantic also puts into the
# JSON Schema); this table is only for a model outside processor/ that cannot carry them.
FIELD_DOCS: dict[str, str] = {}


class MissingDocs(Exception):
    """Some fields have no entry in FIELD_DOCS."""


def _constraints(metadata: list[Any]) -> tuple[list[str], list[str]]:
    """(names of special string types, constraint texts) of Annotated metadata."""
    kinds: list[str] = []
    rules: list[str] = []
    for item in metadata:
        if isinstance(item, FieldInfo):  # Annotated[x, Field(...)] nested in a union
            inner_kinds, inner_rules = _constraints(list(item.metadata))
            kinds += inner_kinds
            rules += inner_rules
            continue
        func = getattr(item, "func", None)
        if func is not None and getattr(func, "__name__", "") in VALIDATOR_TYPES:
            kinds.append(VALIDATOR_TYPES[func.__name__])
        for attr, sign in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<")):
            value = getattr(item, attr, None)
            if value is not None and not callable(value):
                rules.append(f"{sign} {_num(value)}")
        for attr, word in (("min_length", "min length"), ("max_length", "max length")):
            value = getattr(item, attr, None)
            if value is not None:
                rules.append(f"{word} {value}")
        pattern = getattr(item, "pattern", None)
        if isinstance(pattern, str):
            rules.append(f"pattern `{pattern}`")
    return kinds, rules


def _num(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"{value:,}" if isinstance(value, int) and value >= 10_000 else str(value)


def _type(annotation: Any) -> tuple[str, list[str]]:
    """Human type text and the constraints found inside ``annotation``."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        base, *metadata = args
        kinds, rules = _constraints(metadata)
        text, inner = _type(base)
        return (kinds[0] if kinds else text), rules + inner
    if origin in (Union, types.UnionType):
        parts = [_type(a) for a in args if a is not type(None)]
        text = " \\| ".join(p[0] for p in parts)
        rules = [r for p in parts for r in p[1]]
        if type(None) in args:
            text += " \\| null"
        return text, rules
    if origin is Literal:
        return " \\| ".join(f"`{a}`" for a in args), []
    if origin in (list, tuple):
        item, item_rules = _type(args[0]) if args else ("any", [])
        return f"list of {item}", [f"items {r}" for r in item_rules]
    if origin is dict:
        key, value = (_type(a)[0] for a in args)
        return ("mapping" if value == "any" else f"mapping {key} → {value}"), []
    if annotation is Any:
        return "any", []
    if annotation is SecretStr:
        return "secret", []
    if inspect.isclass(annotation) and issubclass(annotation, BaseModel):
        return f"[`{annotation.__name__}`](#{annotation.__name__.lower()})", []
    return {str: "string", int: "integer", float: "number", bool: "boolean"}.get(
        annotation, getattr(annotation, "__name__", str(annotation))
    ), []


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "**required**"
    factory = field.default_factory
    value = factory() if factory is not None else field.default  # type: ignore[call-arg]
    if value is PydanticUndefined:
        return "**required**"
    if isinstance(value, BaseModel):
        return "defaults"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, str):
        return f'`"{value}"`' if value == "" or " " in value else f"`{value}`"
    if isinstance(value, list | tuple):
        return "`[]`" if not value else f"`{list(value)}`"
    if isinstance(value, dict):
        return "`{}`" if not value else f"`{value}`"
    return f"`{_num(value)}`"


def _attribute_docstrings(cls: type) -> dict[str, str]:
    """``field: T = ...`` followed by a string literal in ``cls``'s body: field -> text."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError):
        return {}
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    docs: dict[str, str] = {}
    for node, following in itertools.pairwise(body):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            text = " ".join(following.value.value.split()).replace("``", "`")
            docs[node.target.id] = text
    return docs


def _description(model: type[BaseModel], name: str, missing: list[str]) -> str:
    """The field's docstring in the model's source, else its FIELD_DOCS entry."""
    for cls in model.__mro__:
        if name in getattr(cls, "__annotations__", {}):
            docstring = _attribute_docstrings(cls).get(name)
            if docstring:
                return docstring
        key = f"{cls.__name__}.{name}"
        if key in FIELD_DOCS:
            return FIELD_DOCS[key]
    missing.append(f"{model.__name__}.{name}")
    return ""


def _own_fields(model: type[BaseModel], inherited: bool) -> list[str]:
    """Field names to list for ``model``: all of them, or those its class body declares."""
    if inherited:
        return list(model.model_fields)
    declared: list[str] = []
    for cls in reversed(model.__mro__):
        if cls is model or cls.__name__ == "MappedWebhookSource":
            declared.extend(getattr(cls, "__annotations__", {}))
    return [name for name in model.model_fields if name in declared]


def _docstring(model: type[BaseModel]) -> str:
    doc = inspect.getdoc(model) or ""
    return " ".join(doc.split()).replace("``", "`")


def _table(model: type[BaseModel], missing: list[str], *, inherited: bool = True) -> str:
    rows = ["| field | type | default | constraints | description |", "|---|---|---|---|---|"]
    for name in _own_fields(model, inherited):
        field = model.model_fields[name]
        annotation: Any = field.annotation
        if field.metadata:
            annotation = typing.Annotated[annotation, *field.metadata]
        text, rules = _type(annotation)
        if name == "kind" and typing.get_origin(field.annotation) is Literal:
            default = "**required**"
        elif text == "duration" and isinstance(field.default, float):
            default = f"`{format_duration(field.default)}`"
        else:
            default = _default(field)
        desc = _description(model, name, missing).replace("|", "\\|")
        rows.append(f"| `{name}` | {text} | {default} | {', '.join(rules)} | {desc} |")
    return "\n".join(rows)


def _section(
    level: str,
    title: str,
    model: type[BaseModel],
    missing: list[str],
    *,
    inherited: bool = True,
    note: str = "",
) -> str:
    anchor = f'<a id="{model.__name__.lower()}"></a>'
    parts = [f"{level} {title} {anchor}".rstrip(), "", _docstring(model)]
    if note:
        parts += ["", note]
    parts += ["", _table(model, missing, inherited=inherited), ""]
    return "\n".join(parts)


def _kinds(union: Any) -> list[type[BaseModel]]:
    return [m for m in typing.get_args(union) if inspect.isclass(m) and issubclass(m, BaseModel)]


def render_reference() -> str:
    """The generated part of docs/configuration.md (raises MissingDocs on gaps)."""
    missing: list[str] = []
    out: list[str] = [
        "## Reference",
        "",
        "Generated from the pydantic models in `processor/config/` (types, defaults, "
        "constraints) by `scripts/gen_docs.py`. Types: *name* is "
        "`[A-Za-z0-9_-]{1,200}`; *duration* is seconds or a string such as `90s`, `15m`, "
        "`24h`, `7d`; *secret* is a string masked in output (but stored in plain text in "
        "`kbridge.rules`). Every model rejects unknown keys.",
        "",
        _section("###", "Top level", KbridgeConfig, missing),
        _section("###", "`buses[]`: Bus", Bus, missing),
        _section("####", "`buses[].trace`: BusTrace", BusTrace, missing),
        _section("###", "`rules[]`: Rule", Rule, missing),
        _section("####", "`rules[].targets[]`: RuleTarget", RuleTarget, missing),
        _section("####", "`rules[].targets[].retry`: RetryPolicy", RetryPolicy, missing),
        "### `targets[]`",
        "",
        "Chosen by `kind`: "
        + ", ".join(
            f"[`{m.model_fields['kind'].default}`](#{m.__name__.lower()})"
            for m in _kinds(target_models.AnyTarget)
        )
        + ".",
        "",
        _section("####", "Fields of every target", target_models.TargetBase, missing),
        _section(
            "####",
            "Fields of every IM target (dingtalk, wecom, feishu, slack, email)",
            target_models._ImTarget,
            missing,
            inherited=False,
        ),
        _section("####", "`digest`: Digest", target_models.Digest, missing),
    ]
    for model in _kinds(target_models.AnyTarget):
        kind = model.model_fields["kind"].default
        out.append(
            _section(
                "####",
                f"`kind: {kind}`",
                model,
                missing,
                inherited=False,
                note="Plus the fields of every target"
                + (
                    " and of every IM target."
                    if issubclass(model, target_models._ImTarget)
                    else "."
                ),
            )
        )
    out += [
        "### `connections[]`",
        "",
        _section("####", "Fields of every connection", conn_models.ConnectionBase, missing),
    ]
    for model in (
        conn_models.BasicConnection,
        conn_models.ApiKeyConnection,
        conn_models.OAuthClientCredentialsConnection,
    ):
        kind = model.model_fields["kind"].default
        out.append(_section("####", f"`kind: {kind}`", model, missing, inherited=False))
    out += [
        "### `sources[]`",
        "",
        "Broker and schedule kinds run under `kbridge source <name>`; webhook kinds are "
        "served by the gateway at `/v1/webhooks/<name>` (see [connectors.md](connectors.md)).",
        "",
        _section("####", "Fields of every source", source_models.SourceBase, missing),
    ]
    for model in _kinds(source_models.AnySource):
        kind = model.model_fields["kind"].default
        out.append(
            _section(
                "####",
                f"`kind: {kind}`",
                model,
                missing,
                inherited=False,
                note="Plus the fields of every source.",
            )
        )
    out.append(
        _section(
            "###",
            "KafkaClientConfig",
            KafkaClientConfig,
            missing,
            note="The `cluster` of kafka targets and sources (the same fields as the "
            "`KBRIDGE_KAFKA__*` process settings).",
        )
    )
    if missing:
        raise MissingDocs("fields without a docstring: " + ", ".join(missing))
    return "\n".join(out).rstrip() + "\n"


def render_page(current: str) -> str:
    """``current`` (the page) with its generated part replaced."""
    head, sep, _ = current.partition(BEGIN)
    if not sep:
        head = current.rstrip() + "\n\n"
    return f"{head}{BEGIN}\n\n{render_reference()}\n{END}\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when the page is stale")
    args = parser.parse_args(argv)
    current = PAGE.read_text(encoding="utf-8") if PAGE.exists() else ""
    try:
        wanted = render_page(current)
    except MissingDocs as exc:
        print(f"gen_docs: {exc}", file=sys.stderr)
        return 1
    if args.check:
        if wanted != current:
            print(
                f"{PAGE.relative_to(ROOT)} is stale: run `python scripts/gen_docs.py`",
                file=sys.stderr,
            )
            return 1
        return 0
    PAGE.write_text(wanted, encoding="utf-8")
    print(f"wrote {PAGE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
