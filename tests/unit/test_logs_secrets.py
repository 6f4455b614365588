"""No token or password ever reaches a log line."""

from __future__ import annotations

import logging

from bot.runtime.logs import SecretFilter, TextFormatter


def test_secrets_and_token_shapes_are_scrubbed():
    record = logging.LogRecord(
        "x", logging.INFO, __file__, 1,
        "login %s with Bearer abc.DEF-123 and access_token=syt_Zm9v_bar and pw hunter2-long",
        ("user",), None,
    )  # fmt: skip
    SecretFilter(["hunter2-long"]).filter(record)
    line = TextFormatter().format(record)
    assert "abc.DEF-123" not in line
    assert "syt_Zm9v_bar" not in line
    assert "hunter2-long" not in line
    assert "login user" in line
