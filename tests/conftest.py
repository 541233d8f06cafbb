from __future__ import annotations

from typing import Any

import pytest

from sandbox.client import lambda_client
from sandbox.runner import Sandbox


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One real sandbox (AWS's local runner + our sample functions) for the test session."""
    data = tmp_path_factory.mktemp("sandbox")
    with Sandbox(data_dir=data) as running:
        yield running


@pytest.fixture(scope="session")
def lambda_sandbox(sandbox: Sandbox) -> Any:
    """A boto3 Lambda client pointed at the sandbox, as an external system would hold one."""
    return lambda_client(sandbox.endpoint_url)
