"""The SDK's exceptions: transport/HTTP failures, refused credentials, business errors."""

from __future__ import annotations


class FapiaohubError(Exception):
    """A call failed: the server could not be reached, or answered with an HTTP error."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class AuthError(FapiaohubError):
    """HTTP 403: wrong appKey/appSecurity, or a token the server no longer accepts."""

    def __init__(self, message: str) -> None:
        super().__init__(message, status=403)


class BusinessError(FapiaohubError):
    """The server answered ``success: false``: ``code`` and ``message`` are the API's, ``req_id``
    finds the call in the server's logs."""

    def __init__(self, code: str, message: str, req_id: str = "") -> None:
        super().__init__(f"{code}: {message}" + (f" (reqId {req_id})" if req_id else ""), status=200)
        self.code = code
        self.message = message
        self.req_id = req_id
