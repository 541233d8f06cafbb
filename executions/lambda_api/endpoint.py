"""What the Lambda API layer needs to know of a Source (so it stays free of Django)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from executions.budget import DEFAULT_SHARE, budget_rate


@dataclass(frozen=True)
class Endpoint:
    """What lambda_api needs to know of a Source (so this module stays free of Django)."""

    name: str
    region: str
    endpoint_url: str = ""
    credentials: str = "default"  # "default", "profile" or "none"
    profile: str = ""
    role_arn: str = ""
    role_external_id: str = ""
    # The share of each API quota this source may spend (the rest is left to others),
    # and the account's own quotas where they differ from Lambda's defaults.
    quota_share: float = DEFAULT_SHARE
    quotas: tuple[tuple[str, float], ...] = ()
    # The SQS queue of the source's status events (blank: none), and its endpoint.
    queue_url: str = ""
    queue_endpoint_url: str = ""

    @classmethod
    def of(cls, source: Any) -> Endpoint:
        return cls(
            name=source.name,
            region=source.region,
            endpoint_url=source.endpoint_url or "",
            credentials=source.credentials,
            profile=source.profile or "",
            role_arn=source.role_arn or "",
            role_external_id=getattr(source, "role_external_id", "") or "",
            quota_share=source.quota_share / 100,
            quotas=tuple(sorted((source.api_quotas or {}).items())),
            queue_url=getattr(source, "events_queue_url", "") or "",
            queue_endpoint_url=getattr(source, "events_endpoint_url", "") or "",
        )

    def budget_rate(self, api: str) -> float:
        """Calls per second of `api` this source may make."""
        return budget_rate(api, self.quota_share, dict(self.quotas))
