"""The committed OpenAPI document, the ``kbridge gateway`` commands, and key files."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from processor.cli import build_app
from processor.errors import ConfigError
from processor.gateway.app import create_app
from processor.gateway.auth import hash_key, load_keys
from processor.settings import Settings

ROOT = Path(__file__).resolve().parents[3]


def test_committed_openapi_is_current() -> None:
    committed = json.loads((ROOT / "schemas" / "openapi.json").read_text())
    generated = create_app(Settings(), known_buses=[]).openapi()
    assert committed == json.loads(json.dumps(generated)), (
        "schemas/openapi.json is stale: run `kbridge gateway --buses x --openapi "
        "schemas/openapi.json`"
    )


def test_openapi_documents_every_entry_point_with_unique_operation_ids() -> None:
    document = create_app(Settings(), known_buses=[]).openapi()
    paths = document["paths"]
    for path in (
        "/",
        "/v1/buses/{bus}/events",
        "/v1/buses/{bus}/cloudevents",
        "/v1/test-event-pattern",
        "/v1/{section}/{name}",
        "/v1/webhooks/{name}",
        "/healthz",
        "/readyz",
        "/metrics",
    ):
        assert path in paths
    ids = [op["operationId"] for item in paths.values() for op in item.values()]
    assert len(ids) == len(set(ids))
    entries = paths["/v1/buses/{bus}/events"]["post"]["requestBody"]["content"]
    schema = entries["application/json"]["schema"]
    assert schema["properties"]["Entries"]["maxItems"] == 10
    assert set(schema["properties"]["Entries"]["items"]["required"]) == {
        "Source",
        "DetailType",
        "Detail",
    }


def test_gateway_command_writes_the_openapi_document(tmp_path: Path) -> None:
    target = tmp_path / "openapi.json"
    result = CliRunner().invoke(build_app(), ["gateway", "--buses", "a", "--openapi", str(target)])
    assert result.exit_code == 0, result.output
    assert json.loads(target.read_text())["info"]["title"] == "kbridge gateway"


def test_gateway_key_prints_a_key_and_its_hash() -> None:
    result = CliRunner().invoke(
        build_app(), ["gateway-key", "ci", "--scope", "put:orders", "--scope", "admin"]
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    key = lines[0].removeprefix("key: ")
    entry = orjson.loads(lines[1].removeprefix("api_keys entry: "))
    assert entry == {"name": "ci", "sha256": hash_key(key), "scopes": ["admin", "put:orders"]}
    assert len(key) >= 32


def test_key_file_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "keys.yaml"
    path.write_text(
        "api_keys:\n"
        f"  - {{name: ci, sha256: {hash_key('k1')}, scopes: ['put:orders']}}\n"
        "access_keys:\n"
        "  - {access_key_id: AKID1, secret_access_key: s3cr3t}\n"
    )
    ring = load_keys(path)
    key = ring.authenticate("k1")
    assert key is not None and key.name == "ci"
    assert key.allows("put:orders") and not key.allows("put:billing") and not key.allows("admin")
    assert ring.authenticate("k2") is None
    assert ring.access_keys["AKID1"].scopes == frozenset({"put:*"})
    assert "s3cr3t" not in repr(ring.access_keys["AKID1"])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[1, 2]", "expected a mapping"),
        ("api_keys: [{name: x}]", "invalid key entry"),
        ("api_keys: [{name: x, sha256: abc}]", "sha256 must be 64 hex digits"),
        ("api_keys: [", "cannot read API keys"),
    ],
)
def test_bad_key_files(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "keys.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_keys(path)


def test_gateway_command_refuses_a_bad_key_file(tmp_path: Path) -> None:
    path = tmp_path / "keys.yaml"
    path.write_text("api_keys: [{name: x}]")
    result = CliRunner().invoke(build_app(), ["gateway", "--buses", "a", "--api-keys", str(path)])
    assert result.exit_code == 1
    assert "invalid key entry" in result.output
