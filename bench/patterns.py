"""Throughput of the pattern index: ``RuleIndex.matches`` events/s by rule kind and count.

For each rule kind (exact, prefix, numeric, anything-but, wildcard, cidr, mixed) and each
rule count, the same generated rules and events go to:

* kbridge's compiled :class:`processor.patterns.RuleIndex`, given parsed dicts (as the
  router does after its one orjson parse: "dict") and given the JSON bytes ("bytes", parse
  included, like for like with event-ruler, which parses each event itself);
* the naive reference matcher (every rule checked in turn: the baseline the index must
  beat);
* AWS's event-ruler, through the test harness in ``tests/interop/eventruler`` (its own
  in-JVM loop over ``Machine.rulesForJSONEvent``; needs Java 17 and Maven).

The corpus imitates what a bus carries: CloudEvents wrapping cloud audit logs, SaaS
webhooks and monitoring alarms, 0.5-2 KB each. The ``many-match`` kind has rules that most
events match (a guard on a few fields each), so the cost of confirming matches shows, not
only the near-zero-match lookups. Prints a markdown table and checks the targets:
exact/prefix at 10,000 rules keep >= 0.5x of their 10-rule rate, and the index is >= 50x
the naive matcher at 1,000 rules.

A second table times single events holding one array of 100 to 4,000 objects against 60
rules that use several fields of the same array element (array consistency, with
``exists: false``): milliseconds per event for kbridge and event-ruler, and the growth
from the smallest to the largest array (near-linear is about the size ratio). Target: the
4,000-object event in under 100 ms.

    python bench/patterns.py                       # everything, a few minutes
    python bench/patterns.py --kinds exact prefix --sizes 10 10000 --no-event-ruler
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # a script in bench/: the checkout's tests package too

from processor.patterns import RuleIndex, compile_pattern  # noqa: E402
from processor.patterns.reference import reference_matches  # noqa: E402

KINDS = ("exact", "prefix", "numeric", "anything-but", "wildcard", "cidr", "mixed", "many-match")
ARRAY_SIZES = (100, 1000, 4000)
SIZES = (10, 100, 1000, 10000)

REGIONS = ["us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-1", "cn-north-1"]
SERVICES = ["s3", "ec2", "iam", "kms", "lambda", "dynamodb", "sqs", "sns", "rds", "sts"]
VERBS = ["Get", "Put", "Delete", "List", "Create", "Update", "Describe", "Decrypt"]
NOUNS = ["Object", "Bucket", "Key", "Instance", "Role", "Function", "Table", "Queue", "Topic"]
ORGS = [f"org{i}" for i in range(400)]  # orgs that send webhooks
ACCOUNTS = [f"{100000000000 + 7919 * i:012d}" for i in range(30000)]  # first 3,000 active
SEVERITIES = ["critical", "major", "minor", "warning", "info"]


# --------------------------------------------------------------------------- corpus


def _account(rng: random.Random) -> str:
    return ACCOUNTS[rng.randrange(3000)]


def _ip(rng: random.Random) -> str:
    return f"10.{rng.randrange(40)}.{rng.randrange(256)}.{rng.randrange(256)}"


def _audit_log(rng: random.Random, i: int) -> dict[str, Any]:
    service = rng.choice(SERVICES)
    account = _account(rng)
    name = rng.choice(VERBS) + rng.choice(NOUNS)
    return {
        "specversion": "1.0",
        "id": f"audit-{i:08d}",
        "source": f"aws.{service}",
        "type": "AWS API Call via CloudTrail",
        "subject": f"arn:aws:{service}:{rng.choice(REGIONS)}:{account}:resource/{i}",
        "time": f"2026-11-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:00Z",
        "datacontenttype": "application/json",
        "data": {
            "eventVersion": "1.08",
            "eventSource": f"{service}.amazonaws.com",
            "eventName": name,
            "awsRegion": rng.choice(REGIONS),
            "sourceIPAddress": _ip(rng),
            "userAgent": rng.choice(["aws-cli/2.15.0", "Boto3/1.34.0", "console.amazonaws.com"]),
            "latencyMs": round(rng.lognormvariate(3.5, 1.0), 2),
            "bytesTransferred": rng.randrange(10**7),
            "userIdentity": {
                "type": rng.choice(["IAMUser", "AssumedRole", "Root"]),
                "principalId": f"AIDA{rng.randrange(10**15):015d}",
                "arn": f"arn:aws:iam::{account}:user/user{rng.randrange(500)}",
                "accountId": account,
                "sessionContext": {
                    "attributes": {"mfaAuthenticated": rng.choice(["true", "false"])},
                    "sessionIssuer": {"type": "Role", "userName": f"role{rng.randrange(50)}"},
                },
            },
            "requestParameters": {
                "bucketName": f"bucket-{rng.randrange(1000)}",
                "key": f"logs/{rng.randrange(100)}/part-{rng.randrange(10**6)}.json.gz",
            },
            "resources": [
                {"type": f"AWS::{service.upper()}::Thing", "ARN": f"arn:aws:{service}:::{i}-{k}"}
                for k in range(rng.randrange(1, 14))
            ],
            "readOnly": name.startswith(("Get", "List", "Describe")),
            "recipientAccountId": account,
        },
    }


def _webhook(rng: random.Random, i: int) -> dict[str, Any]:
    org = rng.choice(ORGS)
    repo = f"repo{rng.randrange(30)}"
    action = rng.choice(["opened", "closed", "synchronize", "labeled", "push"])
    return {
        "specversion": "1.0",
        "id": f"gh-{i:08d}",
        "source": "saas.github",
        "type": rng.choice(["pull_request", "push", "issues", "workflow_run"]),
        "subject": f"repos/{org}/{repo}/pulls/{rng.randrange(5000)}",
        "time": f"2026-11-{1 + i % 28:02d}T10:00:00Z",
        "data": {
            "action": action,
            "number": rng.randrange(5000),
            "repository": {
                "full_name": f"{org}/{repo}",
                "private": rng.random() < 0.5,
                "default_branch": "main",
                "stargazers_count": rng.randrange(10000),
                "topics": rng.sample(["python", "kafka", "events", "infra", "web"], 2),
            },
            "sender": {"login": f"user{rng.randrange(2000)}", "type": "User", "site_admin": False},
            "pull_request": {
                "title": "Fix " + " ".join(rng.choice(NOUNS).lower() for _ in range(5)),
                "state": rng.choice(["open", "closed"]),
                "additions": rng.randrange(2000),
                "deletions": rng.randrange(2000),
                "labels": [{"name": rng.choice(["bug", "feature", "docs", "ci"])}],
                "body": "Details: " + "lorem ipsum dolor sit amet " * rng.randrange(2, 40),
                "head": {
                    "ref": f"feature/{rng.randrange(900)}",
                    "sha": f"{rng.getrandbits(160):040x}",
                },
            },
        },
    }


def _alarm(rng: random.Random, i: int) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": f"alarm-{i:08d}",
        "source": "cloud.monitoring",
        "type": "alarm.state.change",
        "subject": f"alarms/{rng.choice(SERVICES)}-{rng.randrange(300)}",
        "time": f"2026-11-{1 + i % 28:02d}T08:00:00Z",
        "data": {
            "severity": rng.choice(SEVERITIES),
            "env": rng.choice(["prod", "staging", "dev"]),
            "region": rng.choice(REGIONS),
            "metric": {"name": "CPUUtilization", "value": round(rng.uniform(0, 100), 3)},
            "latencyMs": round(rng.lognormvariate(3.5, 1.0), 2),
            "sourceIPAddress": _ip(rng),
            "dimensions": [{"name": "InstanceId", "value": f"i-{rng.getrandbits(64):016x}"}],
            "description": "CPU above threshold for 3 datapoints within 15 minutes "
            * rng.randrange(2, 24),
        },
    }


def corpus(count: int, seed: int = 7) -> list[dict[str, Any]]:
    """``count`` CloudEvents: half audit logs, a quarter webhooks, a quarter alarms."""
    rng = random.Random(seed)
    makers: list[Callable[[random.Random, int], dict[str, Any]]] = [
        _audit_log,
        _audit_log,
        _webhook,
        _alarm,
    ]
    return [makers[i % 4](rng, i) for i in range(count)]


# --------------------------------------------------------------------------- rules


def _exact(rng: random.Random, i: int) -> dict[str, Any]:
    """Route one tenant's calls to one service: two exact values."""
    return {
        "source": [f"aws.{rng.choice(SERVICES)}"],
        "data": {"recipientAccountId": [rng.choice(ACCOUNTS)]},
    }


def _prefix(rng: random.Random, i: int) -> dict[str, Any]:
    """Everything done by the users of one account."""
    return {
        "data": {
            "userIdentity": {"arn": [{"prefix": f"arn:aws:iam::{rng.choice(ACCOUNTS)}:user/"}]}
        }
    }


def _numeric(rng: random.Random, i: int) -> dict[str, Any]:
    """Transfers in a size band (the numeric range is the only condition)."""
    lo = rng.randrange(10**7)
    return {"data": {"bytesTransferred": [{"numeric": [">=", lo, "<", lo + 1000]}]}}


def _anything_but(rng: random.Random, i: int) -> dict[str, Any]:
    """A tenant's activity outside its allowed regions (anything-but as a guard)."""
    return {
        "data": {
            "userIdentity": {"accountId": [rng.choice(ACCOUNTS)]},
            "awsRegion": [{"anything-but": rng.sample(REGIONS, 2)}],
        },
    }


def _wildcard(rng: random.Random, i: int) -> dict[str, Any]:
    """Pull-request events of one organisation's repositories."""
    return {
        "subject": [{"wildcard": f"repos/org{rng.randrange(4000)}/*/pulls/{rng.randrange(10)}*"}]
    }


def _cidr(rng: random.Random, i: int) -> dict[str, Any]:
    """Calls from one /24 network."""
    return {
        "data": {"sourceIPAddress": [{"cidr": f"10.{rng.randrange(40)}.{rng.randrange(256)}.0/24"}]}
    }


def _many_match(rng: random.Random, i: int) -> dict[str, Any]:
    """Broad guards most events pass: a source prefix and a region or severity exclusion."""
    if i % 2:
        return {
            "source": [{"prefix": "aws."}],
            "data": {"awsRegion": [{"anything-but": [rng.choice(REGIONS)]}]},
        }
    return {"source": [{"anything-but": {"prefix": "aws."}}], "id": [{"exists": True}]}


def _mixed(rng: random.Random, i: int) -> dict[str, Any]:
    kind = RULE_MAKERS[KINDS[i % 6]]
    rule = kind(rng, i)
    if i % 7 == 0:
        rule = {"$or": [rule, {"data": {"severity": ["critical"], "env": [f"prod{i}"]}}]}
    return rule


RULE_MAKERS: dict[str, Callable[[random.Random, int], dict[str, Any]]] = {
    "exact": _exact,
    "prefix": _prefix,
    "numeric": _numeric,
    "anything-but": _anything_but,
    "wildcard": _wildcard,
    "cidr": _cidr,
    "mixed": _mixed,
    "many-match": _many_match,
}


def rules(kind: str, count: int, seed: int = 11) -> list[tuple[str, str]]:
    """``count`` valid rules of ``kind`` as (name, pattern JSON)."""
    rng = random.Random(f"{seed}-{kind}")
    return [(f"{kind}-{i}", json.dumps(RULE_MAKERS[kind](rng, i))) for i in range(count)]


def array_event(n: int) -> dict[str, Any]:
    """An order with ``n`` line items (objects) and a few plain fields."""
    items = [
        {
            "sku": f"sku{i}",
            "qty": i % 7,
            "state": "err" if i % 97 == 0 else "ok",
            ("even" if i % 2 == 0 else "odd"): True,
            **({"note": "backorder"} if i % 5 == 0 else {}),
        }
        for i in range(n)
    ]
    return {
        "specversion": "1.0",
        "id": f"order-{n}",
        "source": "shop.orders",
        "type": "OrderPlaced",
        "data": {"customer": "c-1", "items": items, "tags": ["a", "b"]},
    }


def array_rules(count: int = 60) -> list[tuple[str, str]]:
    """Rules using several fields of one array element; some match, most do not."""
    out = []
    for j in range(count):
        if j % 3 == 0:  # this item with more than 3 units
            pattern: dict[str, Any] = {
                "data": {"items": {"sku": [f"sku{j * 61}"], "qty": [{"numeric": [">", 3]}]}}
            }
        elif j % 3 == 1:  # a failed item without a note (exists:false per element)
            pattern = {
                "data": {
                    "items": {
                        "state": ["err"],
                        "sku": [{"prefix": f"sku{j % 10}"}],
                        "note": [{"exists": False}],
                    }
                }
            }
        elif j == 2:  # two values never in one element: the old quadratic case
            pattern = {"data": {"items": {"even": [True], "odd": [True]}}}
        else:  # a value no element has
            pattern = {"data": {"items": {"qty": [j % 7], "state": ["missing"]}}}
        out.append((f"array-{j}", json.dumps(pattern)))
    return out


# --------------------------------------------------------------------------- measuring


def _rate(run_one: Callable[[Any], object], events: Sequence[Any], seconds: float) -> float:
    """Events per second of ``run_one`` over ``events``, cycling for ``seconds``."""
    done = 0
    start = time.perf_counter()
    deadline = start + seconds
    now = start
    while now < deadline:
        run_one(events[done % len(events)])
        done += 1
        now = time.perf_counter()
    return done / (now - start)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS))
    parser.add_argument("--sizes", nargs="+", type=int, default=list(SIZES))
    parser.add_argument("--events", type=int, default=400, help="corpus size")
    parser.add_argument("--seconds", type=float, default=0.6, help="per measurement")
    parser.add_argument("--no-event-ruler", action="store_true")
    parser.add_argument("--arrays", nargs="*", type=int, default=list(ARRAY_SIZES))
    args = parser.parse_args(argv)

    events = corpus(args.events)
    texts = [orjson.dumps(e).decode() for e in events]
    sizes = sorted(len(t) for t in texts)
    print(
        f"corpus: {len(events)} events, {sizes[0]}-{sizes[-1]} bytes "
        f"(median {sizes[len(sizes) // 2]})",
        file=sys.stderr,
    )
    ruler = None
    if not args.no_event_ruler:
        from tests.interop.eventruler.eventruler_harness import EventRuler

        ruler = EventRuler()

    rows: list[dict[str, Any]] = []
    array_rows: list[dict[str, Any]] = []
    try:
        for kind in args.kinds:
            for size in args.sizes:
                rows.append(_measure(kind, size, events, texts, args.seconds, ruler))
                print(_row(rows[-1]), file=sys.stderr)
        for n in args.arrays:
            array_rows.append(_measure_array(n, args.seconds, ruler))
            print(_array_row(array_rows[-1]), file=sys.stderr)
    finally:
        if ruler is not None:
            ruler.close()
    print()
    print(
        "| kind | rules | kbridge dict ev/s | kbridge bytes ev/s | naive ev/s "
        "| event-ruler ev/s | dict vs naive | bytes vs event-ruler | matches/event "
        "| same matches |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|:---:|")
    for r in rows:
        print(_row(r))
    print()
    if array_rows:
        print(
            "| array of objects | rules | kbridge dict ms/event | kbridge bytes ms/event "
            "| event-ruler ms/event | matches | same matches |"
        )
        print("|---:|---:|---:|---:|---:|---:|:---:|")
        for r in array_rows:
            print(_array_row(r))
        small, large = array_rows[0], array_rows[-1]
        growth = large["ms"] / small["ms"]
        print(
            f"\ngrowth {small['n']:,} -> {large['n']:,} objects: {growth:.1f}x for "
            f"{large['n'] / small['n']:.0f}x the data"
        )
        print()
        rows.extend(array_rows)
    if any(r["agree"] is False for r in rows):
        print("event-ruler and kbridge disagree on some matches: see 'same matches'")
        return 1
    return _verdict(rows)


def _measure(
    kind: str,
    size: int,
    events: list[dict[str, Any]],
    texts: list[str],
    seconds: float,
    ruler: Any,
) -> dict[str, Any]:
    named = rules(kind, size)
    index = RuleIndex()
    compiled = []
    for name, text in named:
        index.add(name, text)
        compiled.append(compile_pattern(text))
    references = [p._compiled for p in compiled]  # the reference matcher's input form
    matches = sum(len(index.matches(e)) for e in events) / len(events)
    ours = _rate(index.matches, events, seconds)
    raw = [t.encode() for t in texts]
    ours_bytes = _rate(index.matches, raw, seconds)

    def naive(event: dict[str, Any]) -> int:
        return sum(1 for p in references if reference_matches(p, event))

    naive_rate = _rate(naive, events, seconds)
    theirs = ruler.bench(named, texts, seconds) if ruler is not None else None
    agree = None
    if ruler is not None:
        # Same rules, same events, same answers: otherwise the speeds are not comparable.
        answer = ruler.match(named, texts)
        agree = not answer.errors and answer.results == [index.matches(e) for e in events]
    return {
        "kind": kind,
        "rules": size,
        "ours": ours,
        "ours_bytes": ours_bytes,
        "naive": naive_rate,
        "theirs": theirs,
        "matches": matches,
        "agree": agree,
    }


def _measure_array(n: int, seconds: float, ruler: Any) -> dict[str, Any]:
    named = array_rules()
    index = RuleIndex()
    for name, text in named:
        index.add(name, text)
    event = array_event(n)
    text = orjson.dumps(event).decode()
    matched = index.matches(event)
    ms = 1000 / _rate(index.matches, [event], seconds)
    ms_bytes = 1000 / _rate(index.matches, [text.encode()], seconds)
    theirs = agree = None
    if ruler is not None:
        theirs = 1000 / ruler.bench(named, [text], seconds)
        answer = ruler.match(named, [text])
        agree = not answer.errors and answer.results == [matched]
    return {
        "n": n,
        "rules": len(named),
        "ms": ms,
        "ms_bytes": ms_bytes,
        "theirs": theirs,
        "matches": len(matched),
        "agree": agree,
    }


def _array_row(r: dict[str, Any]) -> str:
    theirs = "-" if r["theirs"] is None else f"{r['theirs']:.2f}"
    same = "-" if r["agree"] is None else "yes" if r["agree"] else "NO"
    return (
        f"| {r['n']:,} | {r['rules']} | {r['ms']:.2f} | {r['ms_bytes']:.2f} | {theirs} "
        f"| {r['matches']} | {same} |"
    )


def _fmt(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:,.0f}" if x >= 100 else f"{x:,.1f}"


def _row(r: dict[str, Any]) -> str:
    vs_naive = f"{r['ours'] / r['naive']:,.1f}x"
    vs_theirs = f"{r['ours_bytes'] / r['theirs']:.2f}x" if r["theirs"] else "-"
    return (
        f"| {r['kind']} | {r['rules']:,} | {_fmt(r['ours'])} | {_fmt(r['ours_bytes'])} | "
        f"{_fmt(r['naive'])} | {_fmt(r['theirs'])} | {vs_naive} | {vs_theirs} | "
        f"{r['matches']:.2f} | {'-' if r['agree'] is None else 'yes' if r['agree'] else 'NO'} |"
    )


def _verdict(rows: list[dict[str, Any]]) -> int:
    by = {(r["kind"], r["rules"]): r for r in rows if "kind" in r}
    failures = 0
    largest = max((r for r in rows if "n" in r), key=lambda r: r["n"], default=None)
    if largest is not None and largest["n"] >= 4000:
        ok = largest["ms"] < 100
        failures += not ok
        print(
            f"target arrays: {largest['n']:,} objects in {largest['ms']:.1f} ms (< 100 ms): "
            f"{'ok' if ok else 'MISSED'}"
        )
    for kind in ("exact", "prefix"):
        small, large = by.get((kind, 10)), by.get((kind, 10000))
        if small and large:
            ratio = large["ours"] / small["ours"]
            ok = ratio >= 0.5
            failures += not ok
            print(
                f"target {kind}: 10,000 rules at {ratio:.2f}x of 10 rules (>= 0.5x): "
                f"{'ok' if ok else 'MISSED'}"
            )
    for kind in KINDS:
        if kind == "many-match":
            continue  # most rules match: each match is confirmed, no index can skip that
        r = by.get((kind, 1000))
        if r:
            ratio = r["ours"] / r["naive"]
            ok = ratio >= 50
            failures += not ok
            print(
                f"target {kind}: {ratio:,.0f}x naive at 1,000 rules (>= 50x): "
                f"{'ok' if ok else 'MISSED'}"
            )
    return 0 if failures == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
