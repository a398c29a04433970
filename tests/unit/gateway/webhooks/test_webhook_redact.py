"""URL tokens of webhook sources never reach the access log."""

from __future__ import annotations

import logging

import pytest

from processor.gateway.webhooks import WebhookTokenFilter, install_token_filter
from processor.gateway.webhooks.redact import redact_path


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/v1/webhooks/wj/tok-0123456789abcdef", "/v1/webhooks/wj/***"),
        ("/v1/webhooks/wj/tok-0123?x=1", "/v1/webhooks/wj/***?x=1"),
        ('"POST /v1/webhooks/wj/secret HTTP/1.1" 200', '"POST /v1/webhooks/wj/*** HTTP/1.1" 200'),
        ("/v1/webhooks/github", "/v1/webhooks/github"),
        ("/v1/buses/default/events", "/v1/buses/default/events"),
    ],
)
def test_redact_path(text: str, expected: str) -> None:
    assert redact_path(text) == expected


def test_filter_rewrites_uvicorn_access_records(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.webhooks.access")
    token_filter = install_token_filter(logger.name)
    try:
        assert install_token_filter(logger.name) is token_filter
        with caplog.at_level(logging.INFO, logger=logger.name):
            # uvicorn.access's call shape: (client, method, path, http version, status)
            logger.info(
                '%s - "%s %s HTTP/%s" %d',
                "203.0.113.9:5000",
                "POST",
                "/v1/webhooks/wj/tok-0123456789abcdef",
                "1.1",
                200,
            )
        assert "tok-0123456789abcdef" not in caplog.text
        assert '"POST /v1/webhooks/wj/*** HTTP/1.1" 200' in caplog.text
    finally:
        logger.removeFilter(token_filter)
    assert isinstance(token_filter, WebhookTokenFilter)
