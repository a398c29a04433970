"""The SSRF guard's rules (processor/netguard.py), at validation (issue 22.5) and in every
IM sink's setup and delivery (issue 22.4). Real services are in
tests/integration/sinks/test_ssrf_destinations.py; here nothing is ever connected to.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from processor.cli import build_app
from processor.config.problems import ConfigValidationError
from processor.config.records import parse_object
from processor.netguard import SsrfRefused, literal_refusal, private_name_warning
from processor.sinks.base import Delivery
from processor.sinks.kinds import build_sink


@pytest.mark.parametrize(
    ("host", "kind"),
    [
        # AWS/GCP/Azure instance metadata (IPv4 and the AWS Nitro IPv6 endpoint):
        # https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/instancedata-data-retrieval.html
        ("169.254.169.254", "the cloud metadata service"),
        ("fd00:ec2::254", "the cloud metadata service"),
        # Alibaba Cloud ECS metadata: https://www.alibabacloud.com/help/en/ecs/user-guide/view-instance-metadata
        ("100.100.100.200", "the cloud metadata service"),
        ("127.0.0.1", "a loopback address"),  # RFC 1122 3.2.1.3: 127/8
        ("127.8.9.10", "a loopback address"),
        ("::1", "a loopback address"),  # RFC 4291 2.5.3
        ("[::1]", "a loopback address"),
        ("::ffff:127.0.0.1", "a loopback address"),  # IPv4-mapped (RFC 4291 2.5.5.2)
        ("169.254.1.1", "a link-local address"),  # RFC 3927
        ("fe80::1", "a link-local address"),  # RFC 4291 2.5.6
        ("10.0.0.1", "a private address"),  # RFC 1918
        ("172.16.5.4", "a private address"),
        ("192.168.1.1", "a private address"),
        ("fd12:3456::1", "a private address"),  # RFC 4193 unique local
        ("0.0.0.0", "the unspecified address"),
        ("100.64.0.1", "a non-public address"),  # RFC 6598 shared address space
    ],
)
def test_non_public_literals_are_refused_naming_what_they_are(host: str, kind: str) -> None:
    assert literal_refusal(host) == f"{host} is {kind}"


@pytest.mark.parametrize("host", ["8.8.8.8", "2606:4700:4700::1111", "example.com", "localhost"])
def test_public_literals_and_names_pass_the_offline_check(host: str) -> None:
    # Names are not resolved offline: localhost is caught by resolution (warning, delivery).
    assert literal_refusal(host) is None


def test_names_resolving_privately_are_warned_about() -> None:
    assert (
        private_name_warning("localhost", 80)
        == "localhost resolves to 127.0.0.1, a loopback address"
    )
    assert private_name_warning("kbridge-nowhere.invalid", 80) is None  # unresolvable: silent
    assert private_name_warning("127.0.0.1", 80) is None  # literals: validation's job


@pytest.mark.parametrize(
    ("target", "field"),
    [
        ({"kind": "webhook", "url": "http://169.254.169.254/latest/meta-data/"}, "url"),
        ({"kind": "function", "url": "http://10.0.0.7:8080/fn"}, "url"),
        ({"kind": "mysql", "url": "mysql+pymysql://u:p@127.0.0.1:3306/db", "table": "t"}, "url"),
        (
            {
                "kind": "kafka",
                "topic": "t",
                "cluster": {"bootstrap_servers": "pub.example.com,10.1.1.1:9092"},
            },
            "cluster",
        ),
        ({"kind": "slack", "url": "http://[::1]:9/services/T/B/x"}, "url"),
        ({"kind": "dingtalk", "url": "http://192.168.0.9/robot/send?access_token=x"}, "url"),
        ({"kind": "wecom", "url": "http://172.20.0.2/cgi-bin/webhook/send?key=x"}, "url"),
        ({"kind": "feishu", "url": "http://127.0.0.1/open-apis/bot/v2/hook/x"}, "url"),
        (
            {"kind": "email", "host": "169.254.169.254", "from_addr": "a@b.c", "to": ["x@y.z"]},
            "host",
        ),
    ],
)
def test_every_kind_refuses_private_literals_at_validation(
    target: dict[str, Any], field: str
) -> None:
    # The management API validates with parse_object, kbridge validate/apply with the
    # same models: one rule for both.
    with pytest.raises(ConfigValidationError) as info:
        parse_object("target", {"name": "t", **target})
    [line] = info.value.lines
    assert line.startswith(f"api: targets[t].{field}: ")
    assert "set allow_private_network: true on the target" in line
    parse_object("target", {"name": "t", "allow_private_network": True, **target})


def test_kbridge_validate_names_file_field_and_hint_and_warns_for_names(tmp_path: Path) -> None:
    config = tmp_path / "kbridge.yaml"
    config.write_text(
        "buses: [{name: b}]\n"
        "targets:\n"
        "  - {name: meta, kind: webhook, url: 'http://169.254.169.254/latest'}\n"
    )
    result = CliRunner().invoke(build_app(), ["validate", "-f", str(config)])
    assert result.exit_code == 1
    assert (
        f"{config}:3:33: targets[meta].url: 169.254.169.254 is the cloud metadata service; "
        "set allow_private_network: true on the target"
    ) in result.output
    assert "Traceback" not in result.output

    config.write_text(
        "buses: [{name: b}]\n"
        "targets:\n"
        "  - {name: local, kind: slack, url: 'http://localhost:9/services/T/B/x'}\n"
    )
    result = CliRunner().invoke(build_app(), ["validate", "-f", str(config)])
    assert result.exit_code == 0  # a warning, not a refusal: DNS may differ where it runs
    assert (
        f"{config}: warning: targets[local].url: localhost resolves to 127.0.0.1, a loopback "
        "address; deliveries will be refused"
    ) in result.output


IM_TARGETS: dict[str, dict[str, Any]] = {
    "dingtalk": {"url": "http://localhost:9/robot/send?access_token=secret-token"},
    "wecom": {"url": "http://localhost:9/cgi-bin/webhook/send?key=secret-token"},
    "feishu": {"url": "http://localhost:9/open-apis/bot/v2/hook/secret-token"},
    "slack": {"url": "http://localhost:9/services/T/B/secret-token"},
    "email": {"host": "localhost", "port": 9, "from_addr": "a@b.c", "to": ["x@y.z"]},
}


@pytest.mark.parametrize("kind", sorted(IM_TARGETS))
async def test_a_refused_im_destination_fails_records_not_the_setup(kind: str) -> None:
    # Issue 22.4: the worker retries a failing setup() forever; a refusal is instead a
    # non-retriable per-record outcome, which the worker dead-letters.
    from processor.config.records import parse_object as parse

    target = parse("target", {"name": f"im-{kind}", "kind": kind, **IM_TARGETS[kind]})
    sink = build_sink(kind, target)
    await sink.setup()
    batch = [Delivery(value=b"alarm", headers={"ce_id": f"e{i}"}, offset=i) for i in range(3)]
    outcomes = await sink.deliver(batch)
    await sink.close()
    assert len(outcomes) == 3
    for outcome in outcomes:
        assert isinstance(outcome, SsrfRefused) and not outcome.retriable
        assert outcome.code == "ssrf-refused"
        assert "secret-token" not in str(outcome)


def test_name_warnings_are_resolved_at_once_and_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    from processor.config import targets

    def slow_or_private(host: str, port: int) -> str | None:
        if host == "stuck.example.com":
            time.sleep(5)  # a resolver that does not answer
        return f"{host} resolves to 10.0.0.1, a private address"

    monkeypatch.setattr(targets, "private_name_warning", slow_or_private)
    models = [
        targets.WebhookTarget(name=f"t{i}", url=f"https://{host}/x")
        for i, host in enumerate(["a.example.com", "b.example.com", "stuck.example.com"])
    ]
    started = time.monotonic()
    lines = targets.private_name_warnings(models, timeout=0.5)
    assert time.monotonic() - started < 2.0
    assert [line.split(":")[0] for line in lines] == ["targets[t0].url", "targets[t1].url"]
