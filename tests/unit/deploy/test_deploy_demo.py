"""Demo pieces (examples/kbridge_demo) that need no broker: the stand-in receivers, the config.

The full demo (`make demo`) runs against a real Kafka; these keep its receivers honest: they
accept what kbridge's own IM signers and email sink send, and print what a person would see.
"""

from __future__ import annotations

import asyncio
import json
import socket
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml
from deploy_helpers import ROOT
from kbridge_demo import receivers, run
from kbridge_demo.files import example_config

from processor.config.loader import load_config
from processor.sinks.im import dingtalk, feishu


def test_receiver_signatures_match_the_sinks() -> None:
    given = urllib.parse.unquote_plus(dingtalk.sign("SECdev", 1700000000000))
    assert receivers.dingtalk_sign("SECdev", "1700000000000") == given
    assert receivers.feishu_sign("s3cret", "1700000000") == feishu.sign("s3cret", 1700000000)


def test_what_a_person_sees() -> None:
    assert receivers.im_text("dingtalk", {"msgtype": "markdown",
                                     "markdown": {"title": "t", "text": "### hi"}}) == "### hi"
    assert receivers.im_text("wecom", {"msgtype": "markdown", "markdown": {"content": "x"}}) == "x"
    assert receivers.im_text("feishu", {"msg_type": "text", "content": {"text": "y"}}) == "y"
    assert receivers.im_text("slack", {"text": "z"}) == "z"


def test_demo_config_is_the_example_with_a_short_digest(tmp_path: Path) -> None:
    path = run.demo_config(tmp_path)
    data = yaml.safe_load(path.read_text())
    example = yaml.safe_load(example_config().read_text())
    [email] = [t for t in data["targets"] if t["kind"] == "email"]
    assert email["digest"]["window_seconds"] == 5
    assert [r["name"] for r in data["rules"]] == [r["name"] for r in example["rules"]]
    load_config(path, env={})  # valid as the router and sinks will read it


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_receivers_answer_like_the_platforms_and_print(capsys: pytest.CaptureFixture[str]) -> None:
    import aiosmtplib

    inbox = receivers.Inbox(echo=True)
    http_port, smtp_port = _free_port(), _free_port()
    with receivers.receivers(inbox, http_port=http_port, smtp_port=smtp_port):
        ts = "1700000000000"
        query = f"timestamp={ts}&sign={dingtalk.sign('SECdev', int(ts))}"
        body = {"msgtype": "markdown", "markdown": {"title": "a", "text": "### disk full"}}
        req = urllib.request.Request(
            f"http://127.0.0.1:{http_port}/dingtalk/robot/send?{query}",
            data=json.dumps(body).encode(), headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=5) as resp:
            assert json.loads(resp.read()) == {"errcode": 0, "errmsg": "ok"}
        req = urllib.request.Request(
            f"http://127.0.0.1:{http_port}/slack/services/T/B/x",
            data=b'{"text": "hello"}', headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=5) as resp:
            assert resp.read() == b"ok"

        from email.message import EmailMessage

        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = "kbridge@example.com", "oncall@example.com", "hi"
        msg.set_content("line one\n.starts with a dot")
        asyncio.run(aiosmtplib.send(msg, hostname="127.0.0.1", port=smtp_port,
                                    start_tls=False, use_tls=False))
    assert [i.text for i in inbox.texts("dingtalk")] == ["### disk full"]
    assert inbox.texts("dingtalk")[0].note == "signature ok"
    assert [i.text for i in inbox.texts("slack")] == ["hello"]
    [mail] = inbox.texts("email")
    assert "Subject: hi" in mail.text and ".starts with a dot" in mail.text
    assert "### disk full" in capsys.readouterr().out


def test_compose_receiver_runs_the_demo_receiver() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    entry = compose["services"]["receiver"]["entrypoint"]
    assert entry[:4] == ["python", "-m", "kbridge_demo", "receiver"]
    with pytest.raises(SystemExit) as exc:
        run.main(["receiver", "--help"])
    assert exc.value.code == 0


def test_an_install_finds_the_example_config_in_its_data_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From a wheel there is no checkout: the config is the data file pyproject ships."""
    import sysconfig
    import tomllib

    from processor import resources

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    shipped = project["tool"]["setuptools"]["data-files"]["share/kbridge/examples"]
    assert shipped == ["examples/kbridge.yaml"]
    installed = tmp_path / "share" / "kbridge" / "examples" / "kbridge.yaml"
    installed.parent.mkdir(parents=True)
    installed.write_text((ROOT / "examples" / "kbridge.yaml").read_text())
    monkeypatch.setattr(resources, "_REPOSITORY", tmp_path / "no-checkout")
    monkeypatch.setattr(sysconfig, "get_path", lambda name: str(tmp_path))
    assert example_config() == installed
    installed.unlink()
    with pytest.raises(FileNotFoundError, match="example configuration is missing"):
        example_config()


def test_survey_function_entry_point_lives_in_the_demo_package() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    functions = project["project"]["entry-points"]["kbridge.functions"]
    assert functions == {"survey-aggregate": "kbridge_demo.survey:aggregate_answers"}
    assert not (ROOT / "processor" / "demo.py").exists()
