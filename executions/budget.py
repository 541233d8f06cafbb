"""One call budget per (account or endpoint, Region, API), shared by every worker.

Lambda throttles its read APIs per account and Region, and the quota is shared with
every other tool in the account (the Lambda console, the CLI, other consoles). So every
read call the console makes takes a token from a bucket in Redis first: one bucket per
scope and API, refilled at `quota x share` calls per second, with half a second of
burst. An atomic Lua script does the arithmetic with Redis's own clock, so any number
of worker processes on any number of machines share one budget.

A call that finds the bucket empty reserves the next token and waits for it (tokens
may go below zero by up to `max_wait` seconds' worth), so waiting callers are served in
order instead of racing. A call that would wait longer is refused: the caller leaves the
work for a later poll, and nothing is lost.

Throttles that get through anyway (someone else spent the account's quota) shrink the
bucket's rate: multiplicative decrease (halve, at most once a second, down to a tenth),
then additive increase (back to the full rate over about half a minute).

Counts per scope and API (calls, throttles, waits, refusals) are kept in five-second
slots for the sync health page. Like lambda_api, this module knows nothing of Django.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# Requests per second per account and Region (Lambda's quotas page, "Durable functions").
# Writes are far looser (StopDurableExecution 300/s, callbacks 3,000/s) and an operator
# sends them one at a time, so only the reads are budgeted.
READ_QUOTAS: dict[str, float] = {
    "GetDurableExecutionHistory": 15.0,
    "ListDurableExecutionsByFunction": 15.0,
    "GetDurableExecution": 30.0,
}
DEFAULT_SHARE = 0.7  # of each quota; the rest stays free for people and other tools


def budget_rate(api: str, share: float, overrides: dict[str, float] | None = None) -> float:
    """Calls per second a source may make of `api`: its share of the quota (Lambda's,
    or the account's own where it was raised through Service Quotas)."""
    quota = (overrides or {}).get(api, READ_QUOTAS[api])
    return float(quota) * max(0.01, min(share, 1.0))


BURST_SECONDS = 0.5
DECREASE = 0.5  # multiplicative decrease on a throttle
FLOOR = 0.1  # the rate never drops below this share of the budget
RECOVERY_PER_SECOND = 0.02  # additive increase: +2 % of the budget per second
SLOT_SECONDS = 5
STATS_TTL_SECONDS = 900

# KEYS[1] bucket, KEYS[2] stats slot prefix. ARGV: rate, burst seconds, recovery/s,
# mode (take | peek), max wait seconds. Returns {wait or -1 if refused, tokens, rate}.
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local rate = tonumber(ARGV[1])
local v = redis.call('HMGET', KEYS[1], 'tokens', 'ts', 'factor')
local ts = tonumber(v[2]) or now
local elapsed = math.max(0, now - ts)
local factor = math.min(1, (tonumber(v[3]) or 1) + elapsed * tonumber(ARGV[3]))
local eff = rate * factor
local burst = math.max(1, eff * tonumber(ARGV[2]))
local tokens = tonumber(v[1])
if tokens == nil then tokens = burst end
tokens = math.min(burst, tokens + elapsed * eff)
local wait = 0
if ARGV[4] == 'take' then
  local slot = KEYS[2] .. ':' .. math.floor(now / 5)
  if tokens - 1 < -eff * tonumber(ARGV[5]) then
    wait = -1
    redis.call('HINCRBY', slot, 'refused', 1)
  else
    tokens = tokens - 1
    if tokens < 0 then wait = -tokens / eff end
    redis.call('HINCRBY', slot, 'calls', 1)
    if wait > 0 then redis.call('HINCRBYFLOAT', slot, 'waited', wait) end
    redis.call('HINCRBY', KEYS[1], 'calls_total', 1)
  end
  redis.call('EXPIRE', slot, 900)
end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'ts', now, 'factor', factor, 'rate', rate)
redis.call('EXPIRE', KEYS[1], 86400)
return {tostring(wait), tostring(tokens), tostring(eff)}
"""

# KEYS[1] bucket, KEYS[2] stats slot prefix. ARGV: decrease, floor, recovery/s.
_THROTTLED = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local slot = KEYS[2] .. ':' .. math.floor(now / 5)
redis.call('HINCRBY', slot, 'throttles', 1)
redis.call('EXPIRE', slot, 900)
redis.call('HINCRBY', KEYS[1], 'throttles_total', 1)
local v = redis.call('HMGET', KEYS[1], 'tokens', 'ts', 'factor', 'cut_at')
local ts = tonumber(v[2]) or now
local factor = math.min(1, (tonumber(v[3]) or 1) + math.max(0, now - ts) * tonumber(ARGV[3]))
if now - (tonumber(v[4]) or 0) >= 1 then
  factor = math.max(tonumber(ARGV[2]), factor * tonumber(ARGV[1]))
  redis.call('HSET', KEYS[1], 'cut_at', now)
end
local tokens = math.min(tonumber(v[1]) or 0, 0)
redis.call('HSET', KEYS[1], 'tokens', tokens, 'ts', now, 'factor', factor)
redis.call('EXPIRE', KEYS[1], 86400)
return tostring(factor)
"""


class BudgetExhausted(Exception):
    """The call would wait longer than allowed for its token; try again later."""

    def __init__(self, scope: str, api: str, rate: float) -> None:
        super().__init__(
            f"{api}: the console's share of the API quota for {scope} ({rate:.1f} calls/s) "
            "is spent for now; the call was left for a later poll"
        )
        self.scope = scope
        self.api = api
        self.rate = rate


@dataclass(frozen=True)
class Token:
    waited: float  # seconds the caller slept for it


# The buckets and their figures are the account's (or endpoint's) quota, which every
# console on the same Redis spends: they are shared, outside any console's prefix.
SHARED_PREFIX = "durable-console:budget"


class CallBudget:
    """Token buckets in Redis. `redis_factory` returns a redis-py client (created lazily,
    so that importing this module never connects). A bucket is per (scope, API): the
    scope is an account and Region (or an endpoint), whose quota every console on the
    same Redis shares, so buckets and their figures live under `shared_prefix`; what is
    the console's own (which scope each of its sources is) lives under `prefix`."""

    def __init__(
        self,
        redis_factory: Callable[[], Any],
        *,
        prefix: str,
        shared_prefix: str = SHARED_PREFIX,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._redis_factory = redis_factory
        self.prefix = prefix
        self.shared_prefix = shared_prefix
        self._scripts: dict[str, Any] = {}
        self.quotas = dict(READ_QUOTAS)
        self._sleep = sleep

    # ---- plumbing -----------------------------------------------------------------

    def _script(self, name: str, source: str) -> Any:
        if name not in self._scripts:
            self._scripts[name] = self._redis_factory().register_script(source)
        return self._scripts[name]

    def _keys(self, scope: str, api: str) -> list[str]:
        shared = self.shared_prefix
        return [f"{shared}:bucket:{scope}:{api}", f"{shared}:stats:{scope}:{api}"]

    def meters(self, api: str) -> bool:
        return api in self.quotas

    # ---- the budget ---------------------------------------------------------------

    def acquire(self, scope: str, api: str, rate: float, max_wait: float) -> Token:
        """Take a token for one call of a bucket refilled at `rate` calls per second,
        sleeping until it is due; BudgetExhausted when the wait would be longer than
        `max_wait` seconds."""
        wait, _, effective = self._script("take", _TAKE)(
            keys=self._keys(scope, api),
            args=[rate, BURST_SECONDS, RECOVERY_PER_SECOND, "take", max_wait],
        )
        wait = float(wait)
        if wait < 0:
            raise BudgetExhausted(scope, api, float(effective))
        if wait > 0:
            self._sleep(wait)
        return Token(waited=wait)

    def available(self, scope: str, api: str, rate: float) -> tuple[float, float]:
        """(tokens available now, effective calls per second), without taking any."""
        _, tokens, effective = self._script("take", _TAKE)(
            keys=self._keys(scope, api),
            args=[rate, BURST_SECONDS, RECOVERY_PER_SECOND, "peek", 0],
        )
        return float(tokens), float(effective)

    def throttled(self, scope: str, api: str) -> float:
        """A call was throttled anyway: shrink the rate. Returns the new share of it."""
        factor = self._script("throttled", _THROTTLED)(
            keys=self._keys(scope, api), args=[DECREASE, FLOOR, RECOVERY_PER_SECOND]
        )
        return float(factor)

    # ---- figures for the health page ---------------------------------------------

    def remember_scope(self, source: str, scope: str) -> None:
        """Which scope a source's calls were counted against (the health page reads it,
        without asking AWS which account a source is)."""
        self._redis_factory().hset(f"{self.prefix}:source-scopes", source, scope)

    def scope_of(self, source: str) -> str | None:
        value = self._redis_factory().hget(f"{self.prefix}:source-scopes", source)
        return value.decode() if isinstance(value, bytes) else value

    def stats(self, scope: str, api: str, rate: float, window: int = 60) -> dict[str, Any]:
        """Calls, throttles, waits and refusals over the last `window` seconds, and the
        bucket's rate now."""
        client = self._redis_factory()
        bucket_key, slot_prefix = self._keys(scope, api)
        now = time.time()
        first = int((now - window) // SLOT_SECONDS) + 1
        last = int(now // SLOT_SECONDS)
        pipe = client.pipeline()
        for slot in range(first, last + 1):
            pipe.hgetall(f"{slot_prefix}:{slot}")
        pipe.hgetall(bucket_key)
        *slots, bucket = pipe.execute()
        totals = {"calls": 0.0, "throttles": 0.0, "refused": 0.0, "waited": 0.0}
        for slot in slots:
            for name in totals:
                totals[name] += float(slot.get(name.encode(), 0) or 0)
        span = (now - first * SLOT_SECONDS) or 1.0
        factor = float(bucket.get(b"factor", 1) or 1)
        return {
            "api": api,
            "budget": rate,
            "effective": rate * factor,
            "calls_per_second": totals["calls"] / span,
            "calls": int(totals["calls"]),
            "throttles": int(totals["throttles"]),
            "refused": int(totals["refused"]),
            "waited_seconds": round(totals["waited"], 2),
            "calls_total": int(bucket.get(b"calls_total", 0) or 0),
            "throttles_total": int(bucket.get(b"throttles_total", 0) or 0),
            "window_seconds": round(span, 1),
        }
