"""Entry point for AWS's local runner (`dex-local-runner`), with one fix for latency.

The runner's HTTP handler writes headers and body in separate sends on a kept-alive
connection, so Nagle's algorithm meets the client's delayed ACK and every response
waits about 40 ms. Setting TCP_NODELAY (the standard library's
`disable_nagle_algorithm`) removes the stall without touching the runner's behaviour.
"""

from __future__ import annotations

import sys

from aws_durable_execution_sdk_python_testing.cli import main
from aws_durable_execution_sdk_python_testing.web.server import RequestHandler

RequestHandler.disable_nagle_algorithm = True

if __name__ == "__main__":
    sys.exit(main())
