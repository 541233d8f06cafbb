"""What the freshness benchmark measures and how it reports it (bench/bench_freshness.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bench.common import machine

READS = ("GetDurableExecutionHistory", "ListDurableExecutionsByFunction", "GetDurableExecution")


@dataclass
class Change:
    kind: str  # watched, unwatched, terminal
    arn: str
    # The callback's operation id: what the mirror has of it at once, whether a history
    # read or a telemetry record told of it (a record carries no callback id).
    operation_id: str
    sent: float
    seen: float | None = None


@dataclass
class ModeResult:
    name: str
    revision: str
    seconds: float = 0
    calls: dict[str, int] = field(default_factory=dict)
    throttled: dict[str, int] = field(default_factory=dict)
    changes: list[Change] = field(default_factory=list)
    check_ages: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def _parse_time(text: str | None) -> float | None:
    if not text:
        return None
    moment = datetime.fromisoformat(text.replace(" ", "T"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def report(results: list[ModeResult], args: Any) -> None:
    print(
        f"\n{machine()}; sandbox quotas on; {args.executions} running executions, "
        f"{args.watched} watched; warm-up {args.warmup} s, measured {args.seconds} s\n"
    )
    print("| mode | revision | API | calls/s | calls/min | quota/s | throttled |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: |")
    quota = {
        "GetDurableExecutionHistory": 15,
        "ListDurableExecutionsByFunction": 15,
        "GetDurableExecution": 30,
    }
    for r in results:
        for api in READS:
            print(
                f"| {r.name} | {r.revision} | {api} | {r.calls[api] / r.seconds:.1f} | "
                f"{r.calls[api] / r.seconds * 60:.0f} | {quota[api]} | "
                f"{r.throttled[api]:,} |"
            )
    print("\n| mode | changes | seen | p50 s | p95 s | max s |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for r in results:
        for kind in ("watched", "unwatched", "terminal"):
            changes = [c for c in r.changes if c.kind == kind]
            delays = [c.seen - c.sent for c in changes if c.seen is not None]
            print(
                f"| {r.name} | {kind} ({len(changes)}) | {len(delays)} | "
                f"{_percentile(delays, 0.5):.1f} | {_percentile(delays, 0.95):.1f} | "
                f"{max(delays, default=float('nan')):.1f} |"
            )
    print("\n| mode | samples | last check p50 s ago | p95 | max | checked within 60 s |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for r in results:
        ages = r.check_ages
        within = sum(1 for a in ages if a <= 60) / len(ages) if ages else float("nan")
        print(
            f"| {r.name} | {len(ages):,} | {_percentile(ages, 0.5):.0f} | "
            f"{_percentile(ages, 0.95):.0f} | {max(ages, default=float('nan')):.0f} | "
            f"{within:.0%} |"
        )
