"""The one error model: raise HttpError or BusinessError anywhere; one handler renders the Ekuaibao answer.

    Exception
     ├── HttpError(status, message)     → HTTP status with Ekuaibao's error object
     │                                    {"errorCode", "errorMessage", ...} (400 parameters, 403 auth, 413 size,
     │                                    503 database out of reach)
     └── BusinessError(code, message)   → HTTP 200 with the envelope {"value": {..., "success": false,
                                          "code", "message"}} (the seed's 失败响应; codes from codes.RESULT_CODES)

Services raise them; routes never catch and wrap; api/app.py turns them into responses. The CLI
prints their message on one line.
"""

from __future__ import annotations

INVALID_KEYS = "密钥无效"  # getAccessToken with wrong keys (Ekuaibao's text)
UNAUTHORIZED = "未授权"  # any call with a dead or foreign token
# 503: the database went away under a request (a restart, a cut connection); the next request works
DATABASE_UNAVAILABLE = "数据库连接中断或暂时不可用，请稍后重试"


class HttpError(Exception):
    """An answer with a non-200 status and Ekuaibao's error object."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class BusinessError(Exception):
    """A business failure: HTTP 200, success false, this code and message (the seed's 失败响应)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
