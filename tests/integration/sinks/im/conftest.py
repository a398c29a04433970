"""Fixtures: the IM platform stand-ins of :mod:`im_platforms`, one fresh server per test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TypeVar

import pytest
from im_platforms import DingTalkServer, FeishuServer, PlatformServer, SlackServer, WeComServer

S = TypeVar("S", bound=PlatformServer)


def _serve(server: S) -> Iterator[S]:
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def dingtalk_server() -> Iterator[DingTalkServer]:
    server = DingTalkServer(token="robot-token-1", secret="SECtest-secret+/=")
    yield from _serve(server)


@pytest.fixture
def wecom_server() -> Iterator[WeComServer]:
    server = WeComServer(key="693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa")
    yield from _serve(server)


@pytest.fixture
def feishu_server() -> Iterator[FeishuServer]:
    server = FeishuServer(hook_id="2ab7c3f0-hook", secret="demo-secret")
    yield from _serve(server)


@pytest.fixture
def slack_server() -> Iterator[SlackServer]:
    yield from _serve(SlackServer())
