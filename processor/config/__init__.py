"""The routing configuration: models, kbridge.yaml loading, cross-checks, the live store.

Models validate one object each (``extra="forbid"``, frozen). :func:`load_config` /
:func:`parse_config` read kbridge.yaml with ``${ENV}`` references and report every problem
as ``file: object.field: message``. :class:`~processor.config.store.ConfigStore` (import it
from :mod:`processor.config.store`) serves the live configuration from ``kbridge.rules``.
"""

from __future__ import annotations

from processor.config.buses import Bus
from processor.config.checks import check_config
from processor.config.connections import (
    ApiKeyConnection,
    BasicConnection,
    Connection,
    OAuthClientCredentialsConnection,
)
from processor.config.durations import Duration, format_duration, parse_duration
from processor.config.loader import load_config, parse_config
from processor.config.model import (
    KINDS,
    SECTIONS,
    AnyConnection,
    ConfigObject,
    KbridgeConfig,
    ObjectKind,
)
from processor.config.problems import ConfigProblem, ConfigValidationError
from processor.config.rules import RetryPolicy, Rule, RuleTarget
from processor.config.sources import AnySource, Source
from processor.config.targets import AnyTarget, Digest, Target

__all__ = [
    "KINDS",
    "SECTIONS",
    "AnyConnection",
    "AnySource",
    "AnyTarget",
    "ApiKeyConnection",
    "BasicConnection",
    "Bus",
    "ConfigObject",
    "ConfigProblem",
    "ConfigValidationError",
    "Connection",
    "Digest",
    "Duration",
    "KbridgeConfig",
    "OAuthClientCredentialsConnection",
    "ObjectKind",
    "RetryPolicy",
    "Rule",
    "RuleTarget",
    "Source",
    "Target",
    "check_config",
    "format_duration",
    "load_config",
    "parse_config",
    "parse_duration",
]
