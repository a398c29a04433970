"""Fixtures of the webhook connector tests."""

from __future__ import annotations

import processor.gateway.webhooks  # noqa: F401 - registers every connector kind
