"""The one domain error of every call to a Lambda endpoint or its SQS queue."""

from __future__ import annotations

from typing import Any

TRANSIENT_CODES = {
    "TooManyRequestsException",
    "ThrottlingException",
    "Throttling",
    "ServiceException",
    "ServiceUnavailableException",
    "InternalFailure",
    "InternalServerError",
    "RequestTimeout",
    "RequestTimeoutException",
    "EC2ThrottledException",
    "ResourceNotReadyException",
}
THROTTLING_CODES = {"TooManyRequestsException", "ThrottlingException", "Throttling"}
UNSUPPORTED_CODES = {"UnknownOperationException", "UnsupportedOperationException"}
# Not an error of the endpoint: the console's own call budget is spent for now.
BUDGET_EXHAUSTED = "BudgetExhausted"
NOT_FOUND_CODES = {"ResourceNotFoundException"}


class LambdaApiError(Exception):
    """A call to a Lambda endpoint failed. `permanent` says whether a retry could help."""

    def __init__(
        self,
        message: str,
        *,
        code: str = "",
        operation: str = "",
        permanent: bool = False,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.operation = operation
        self.permanent = permanent
        self.status = status

    @property
    def throttled(self) -> bool:
        return self.code in THROTTLING_CODES

    @property
    def unsupported(self) -> bool:
        return self.code in UNSUPPORTED_CODES

    @property
    def not_found(self) -> bool:
        return self.code in NOT_FOUND_CODES

    def __str__(self) -> str:
        if self.unsupported:
            return f"{self.operation} is not supported by this backend."
        return super().__str__()


def domain_error(exc: Any, operation: str) -> LambdaApiError:
    """The LambdaApiError of a botocore ClientError."""
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    message = error.get("Message") or str(exc)
    transient = code in TRANSIENT_CODES or (isinstance(status, int) and status >= 500)
    return LambdaApiError(
        f"{operation}: {code or status}: {message}",
        code=code,
        operation=operation,
        permanent=not transient,
        status=status,
    )
