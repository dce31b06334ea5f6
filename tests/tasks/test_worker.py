"""A failed task's message: never SQL or bound parameters."""

from __future__ import annotations

from sqlalchemy.exc import DataError

from fapiaohub.tasks.worker import failure_message


def test_a_database_error_is_reported_without_its_sql() -> None:
    exc = DataError("INSERT INTO invoice (xfmc) VALUES (%(xfmc)s)", {"xfmc": "秘密" * 200}, Exception("too long"))
    message = failure_message(exc)
    for leak in ("INSERT", "秘密", "xfmc"):
        assert leak not in message
    assert "数据库错误" in message


def test_other_errors_keep_a_bounded_reason() -> None:
    assert failure_message(ValueError("x" * 5000)) == "处理失败：ValueError: " + "x" * 200
