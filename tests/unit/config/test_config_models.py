"""Every model: defaults, limits, unknown keys, secrets, per-kind rules."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from processor.config import (
    ApiKeyConnection,
    BasicConnection,
    Bus,
    Connection,
    KbridgeConfig,
    OAuthClientCredentialsConnection,
    RetryPolicy,
    Rule,
    RuleTarget,
    Source,
    Target,
)
from processor.config.sources import KafkaSource, ScheduleSource, TokenSource
from processor.config.targets import (
    DingtalkTarget,
    EmailTarget,
    FunctionTarget,
    KafkaTarget,
    MysqlTarget,
    WebhookTarget,
)

TARGETS: TypeAdapter[Any] = TypeAdapter(Target)
SOURCES: TypeAdapter[Any] = TypeAdapter(Source)
CONNECTIONS: TypeAdapter[Any] = TypeAdapter(Connection)


def messages(exc: pytest.ExceptionInfo[ValidationError]) -> list[str]:
    return [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.value.errors()]


class TestBus:
    def test_defaults(self) -> None:
        bus = Bus(name="saas")
        assert (bus.partitions, bus.retention, bus.max_event_bytes) == (6, 604800.0, 262144)
        assert bus.retention_ms == 604_800_000

    def test_retention_accepts_durations(self) -> None:
        assert Bus(name="b", retention="36h").retention == 129600.0  # type: ignore[arg-type]

    def test_retention_below_a_minute_is_rejected(self) -> None:
        with pytest.raises(ValidationError, match="greater than or equal to 60"):
            Bus(name="b", retention="10s")  # type: ignore[arg-type]

    @pytest.mark.parametrize("name", ["", "a b", "a/b", "a.b", "x" * 201])
    def test_names_that_would_break_topic_names_are_rejected(self, name: str) -> None:
        with pytest.raises(ValidationError, match="invalid name"):
            Bus(name=name)

    def test_unknown_keys_are_rejected(self) -> None:
        with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
            Bus.model_validate({"name": "b", "partition": 3})

    def test_models_are_frozen(self) -> None:
        bus = Bus(name="b")
        with pytest.raises(ValidationError):
            bus.partitions = 12  # type: ignore[misc]


class TestRule:
    def test_retry_defaults_are_eventbridges(self) -> None:
        retry = RetryPolicy()
        assert (retry.max_attempts, retry.max_age) == (185, 86400.0)

    @pytest.mark.parametrize(("value", "seconds"), [("24h", 86400.0), ("90s", 90.0), (120, 120.0)])
    def test_max_age_accepts_durations(self, value: object, seconds: float) -> None:
        assert RetryPolicy.model_validate({"max_age": value}).max_age == seconds

    @pytest.mark.parametrize(
        ("field", "value", "message"),
        [
            ("max_attempts", 186, "less than or equal to 185"),
            ("max_attempts", -1, "greater than or equal to 0"),
            ("max_age", "59s", "greater than or equal to 60"),
            ("max_age", "25h", "less than or equal to 86400"),
            ("max_age", "soon", "invalid duration"),
        ],
    )
    def test_retry_limits(self, field: str, value: object, message: str) -> None:
        with pytest.raises(ValidationError, match=message):
            RetryPolicy.model_validate({field: value})

    def test_max_attempts_zero_means_no_retry(self) -> None:
        assert RetryPolicy(max_attempts=0).max_attempts == 0

    def test_rule_fields_and_target_names(self) -> None:
        rule = Rule.model_validate(
            {
                "name": "r",
                "bus": "saas",
                "pattern": {"source": ["a"]},
                "targets": [{"target": "t1"}, {"target": "t2", "transform": {"path": "$.data"}}],
            }
        )
        assert rule.enabled and rule.description == ""
        assert rule.target_names() == ["t1", "t2"]
        assert rule.targets[1].transform == {"path": "$.data"}
        assert rule.targets[0].retry == RetryPolicy()

    def test_pattern_and_transform_may_be_json_strings(self) -> None:
        rule = Rule.model_validate(
            {
                "name": "r",
                "bus": "b",
                "pattern": '{"source": ["a"]}',
                "targets": [{"target": "t", "transform": '{"path": "$.data"}'}],
            }
        )
        assert rule.pattern == {"source": ["a"]}
        assert rule.targets[0].transform == {"path": "$.data"}

    def test_pattern_string_that_is_not_json(self) -> None:
        with pytest.raises(ValidationError, match="not valid JSON"):
            Rule.model_validate({"name": "r", "bus": "b", "pattern": "{source"})

    def test_pattern_is_required(self) -> None:
        with pytest.raises(ValidationError, match="pattern\n  Field required"):
            Rule.model_validate({"name": "r", "bus": "b"})

    def test_a_target_may_appear_once_per_rule(self) -> None:
        with pytest.raises(ValidationError, match="'t' is listed twice"):
            Rule(
                name="r",
                bus="b",
                pattern={},
                targets=[RuleTarget(target="t"), RuleTarget(target="t")],
            )


class TestConnections:
    def test_each_kind(self) -> None:
        basic = CONNECTIONS.validate_python(
            {"name": "c1", "kind": "basic", "username": "u", "password": "p"}
        )
        api = CONNECTIONS.validate_python({"name": "c2", "kind": "api_key", "value": "k"})
        oauth = CONNECTIONS.validate_python(
            {
                "name": "c3",
                "kind": "oauth_client_credentials",
                "token_url": "https://auth/token",
                "client_id": "id",
                "client_secret": "s",
                "scope": "events",
            }
        )
        assert isinstance(basic, BasicConnection)
        assert isinstance(api, ApiKeyConnection) and api.header == "Authorization"
        assert isinstance(oauth, OAuthClientCredentialsConnection)
        assert not oauth.allow_private_network

    def test_secrets_are_masked(self) -> None:
        conn = BasicConnection(name="c", username="u", password="hunter2")  # type: ignore[arg-type]
        assert "hunter2" not in repr(conn)
        assert "hunter2" not in str(conn.model_dump(mode="json"))
        assert conn.password.get_secret_value() == "hunter2"


class TestTargets:
    def test_common_defaults(self) -> None:
        target = TARGETS.validate_python({"name": "h", "kind": "webhook", "url": "https://x/y"})
        assert isinstance(target, WebhookTarget)
        assert (target.partitions, target.format, target.allow_private_network) == (
            3,
            "binary",
            False,
        )
        assert (target.method, target.body, target.timeout) == ("POST", "binary", 5.0)

    def test_webhook_url_must_be_http(self) -> None:
        with pytest.raises(ValidationError, match="http:// or https://"):
            TARGETS.validate_python({"name": "h", "kind": "webhook", "url": "ftp://x"})

    def test_mysql_masks_the_password_in_repr(self) -> None:
        target = MysqlTarget(name="db", url="mysql+pymysql://u:s3cret@db:3306/x", table="t")
        assert "s3cret" not in repr(target) and "s3cret" not in str(target)
        assert "mysql+pymysql://u:***@db:3306/x" in repr(target)
        assert "s3cret" not in target.destination()
        assert target.url.endswith("s3cret@db:3306/x")
        assert target.batch_size == 500 and target.columns == {}

    def test_mysql_url_must_look_like_sqlalchemy(self) -> None:
        with pytest.raises(ValidationError, match="SQLAlchemy URL"):
            MysqlTarget(name="db", url="db.example.com", table="t")

    @pytest.mark.parametrize("fields", [{}, {"url": "http://f", "entry_point": "survey-aggregate"}])
    def test_function_needs_exactly_one_callee(self, fields: dict[str, str]) -> None:
        with pytest.raises(ValidationError, match="exactly one of url and entry_point"):
            FunctionTarget(name="f", **fields)

    def test_function_by_entry_point(self) -> None:
        target = FunctionTarget(name="f", entry_point="survey-aggregate", publish_to_bus="saas")
        assert target.timeout == 30.0 and target.url is None

    def test_kafka_target_with_and_without_cluster(self) -> None:
        local = KafkaTarget(name="k", topic="audit.events")
        remote = TARGETS.validate_python(
            {
                "name": "k2",
                "kind": "kafka",
                "topic": "t",
                "cluster": {"bootstrap_servers": "other:9092", "sasl_password": "pw"},
            }
        )
        assert local.cluster is None
        assert remote.cluster.bootstrap_servers == "other:9092"
        with pytest.raises(ValidationError):
            KafkaTarget(name="k", topic="bad topic")

    def test_im_targets(self) -> None:
        ding = TARGETS.validate_python(
            {"name": "d", "kind": "dingtalk", "url": "https://oapi.dingtalk.com/robot/send?a=1"}
        )
        assert isinstance(ding, DingtalkTarget)
        assert (ding.msgtype, ding.title, ding.rate_per_minute, ding.digest) == (
            "markdown",
            "kbridge",
            20,
            None,
        )
        assert ding.destination() == "https://oapi.dingtalk.com/robot/send"
        wecom = TARGETS.validate_python({"name": "w", "kind": "wecom", "url": "https://q/x"})
        feishu = TARGETS.validate_python({"name": "f", "kind": "feishu", "url": "https://f/x"})
        slack = TARGETS.validate_python(
            {"name": "s", "kind": "slack", "url": "https://s/x", "digest": {}}
        )
        assert wecom.msgtype == "markdown" and wecom.rate_per_minute == 20
        assert feishu.msgtype == "text" and feishu.rate_per_minute == 100
        assert slack.rate_per_second == 1.0
        assert (slack.digest.window_seconds, slack.digest.max_items) == (60, 5)

    def test_im_msgtype_is_a_closed_set(self) -> None:
        with pytest.raises(ValidationError, match="'text' or 'markdown'"):
            TARGETS.validate_python(
                {"name": "w", "kind": "wecom", "url": "https://q/x", "msgtype": "image"}
            )

    def test_email(self) -> None:
        email = TARGETS.validate_python(
            {
                "name": "e",
                "kind": "email",
                "host": "smtp.example.com",
                "from_addr": "kbridge@example.com",
                "to": ["ops@example.com"],
                "password": "pw",
            }
        )
        assert isinstance(email, EmailTarget)
        assert (email.tls, email.subject, email.html) == ("starttls", "{type} from {source}", False)
        assert "pw" not in repr(email)
        with pytest.raises(ValidationError, match="not an email address"):
            TARGETS.validate_python(
                {"name": "e", "kind": "email", "host": "h", "from_addr": "x", "to": ["a@b"]}
            )
        with pytest.raises(ValidationError, match="at least 1 item"):
            TARGETS.validate_python(
                {"name": "e", "kind": "email", "host": "h", "from_addr": "a@b", "to": []}
            )

    def test_unknown_kind(self) -> None:
        with pytest.raises(ValidationError, match="does not match any of the expected tags"):
            TARGETS.validate_python({"name": "x", "kind": "carrier-pigeon"})


class TestSources:
    def test_broker_sources(self) -> None:
        mqtt = SOURCES.validate_python(
            {"name": "m", "kind": "mqtt", "bus": "iot", "url": "mqtt://h", "topics": ["s/#"]}
        )
        amqp = SOURCES.validate_python(
            {"name": "a", "kind": "amqp", "bus": "b", "url": "amqp://h", "queue": "q"}
        )
        nats = SOURCES.validate_python(
            {"name": "n", "kind": "nats", "bus": "b", "url": "nats://h", "subject": "x.>"}
        )
        assert mqtt.qos == 1 and mqtt.client_id is None
        assert amqp.routing_key == "#" and amqp.prefetch == 100
        assert nats.stream is None
        with pytest.raises(ValidationError, match="set queue, exchange, or both"):
            SOURCES.validate_python({"name": "a", "kind": "amqp", "bus": "b", "url": "amqp://h"})

    def test_kafka_source_needs_a_cluster(self) -> None:
        with pytest.raises(ValidationError, match="cluster\n  Field required"):
            KafkaSource.model_validate({"name": "k", "bus": "b", "topics": ["t"]})

    @pytest.mark.parametrize(
        # docs/connectors.md: five-field cron with or without cron(...) is accepted too
        "expression",
        ["rate(5 minutes)", "rate(1 hour)", "cron(0 12 * * ? *)", "cron(*/5 9-17 * * 1-5)"],
    )
    def test_schedule_expressions(self, expression: str) -> None:
        source = ScheduleSource(name="s", bus="b", expression=expression)
        assert source.timezone == "UTC" and source.data == {}

    @pytest.mark.parametrize(
        ("expression", "message"),
        [
            ("every 5 minutes", "must be rate"),
            ("rate(0 minutes)", "must be positive"),
            ("cron(0 12 * *)", "6 fields"),
            ("cron(0 12 * * * *)", "exactly one of day-of-month and day-of-week must be '?'"),
        ],
    )
    def test_bad_schedule_expressions(self, expression: str, message: str) -> None:
        with pytest.raises(ValidationError, match=message):
            ScheduleSource(name="s", bus="b", expression=expression)

    def test_schedule_timezone_must_exist(self) -> None:
        assert ScheduleSource(
            name="s", bus="b", expression="rate(1 day)", timezone="Asia/Shanghai"
        ).timezone == ("Asia/Shanghai")
        with pytest.raises(ValidationError, match="unknown time zone"):
            ScheduleSource(name="s", bus="b", expression="rate(1 day)", timezone="Mars/Base")

    @pytest.mark.parametrize("kind", ["github", "slack", "stripe", "dingtalk"])
    def test_signed_webhooks_need_a_secret(self, kind: str) -> None:
        source = SOURCES.validate_python({"name": "w", "kind": kind, "bus": "b", "secret": "s"})
        assert source.secret.get_secret_value() == "s"
        with pytest.raises(ValidationError, match="secret\n  Field required"):
            SOURCES.validate_python({"name": "w", "kind": kind, "bus": "b"})

    def test_timestamped_platforms_have_a_replay_window(self) -> None:
        slack = SOURCES.validate_python({"name": "s", "kind": "slack", "bus": "b", "secret": "x"})
        assert slack.tolerance_seconds == 300

    def test_token_source_allowlist(self) -> None:
        source = TokenSource.model_validate(
            {
                "name": "survey",
                "bus": "saas",
                "platform": "questionnaire",
                "token": "a-long-enough-token-1234",
                "ip_allowlist": ["10.0.0.0/8", "2001:db8::1"],
            }
        )
        assert source.ip_allowlist == ["10.0.0.0/8", "2001:db8::1"]
        with pytest.raises(ValidationError, match="not an IP address or CIDR block"):
            TokenSource.model_validate(
                {
                    "name": "survey",
                    "bus": "saas",
                    "platform": "questionnaire",
                    "token": "a-long-enough-token-1234",
                    "ip_allowlist": ["intranet"],
                }
            )


class TestKbridgeConfig:
    def test_empty_and_lookups(self) -> None:
        config = KbridgeConfig.model_validate(
            {
                "buses": [{"name": "saas"}],
                "targets": [{"name": "t", "kind": "webhook", "url": "http://x"}],
                "rules": [
                    {"name": "r1", "bus": "saas", "pattern": {}, "targets": [{"target": "t"}]},
                    {"name": "r2", "bus": "saas", "pattern": {}, "enabled": False},
                    {"name": "r3", "bus": "other", "pattern": {}},
                ],
            }
        )
        assert KbridgeConfig().counts() == dict.fromkeys(
            ("buses", "connections", "targets", "sources", "rules"), 0
        )
        assert config.bus("saas") is config.buses[0]
        assert config.target("t") is config.targets[0]
        assert config.rule("missing") is None and config.connection("x") is None
        assert config.source("x") is None
        assert [r.name for r in config.rules_for_bus("saas")] == ["r1"]
        assert [r.name for r in config.rules_for_bus("saas", enabled_only=False)] == ["r1", "r2"]
        assert [kind for kind, _ in config.objects()] == ["bus", "target", "rule", "rule", "rule"]
        assert config.get("rule", "r3") is config.rules[2]

    def test_from_objects_rebuilds_the_sections(self) -> None:
        bus = Bus(name="b")
        rule = Rule(name="r", bus="b", pattern={})
        config = KbridgeConfig.from_objects([("rule", rule), ("bus", bus)])
        assert config.buses == (bus,) and config.rules == (rule,)
