"""The classification table: (system, status, code) -> error class."""

from __future__ import annotations

import json

import pytest

from sync_core.errors import (
    AlreadyExistsError,
    AuthError,
    ConfigError,
    ConflictError,
    DataError,
    NotFoundError,
    PermanentError,
    SyncError,
    TransientError,
)
from sync_core.odata.classify import error_from_response


def body(code: str, message: str = "something went wrong") -> str:
    return json.dumps({"error": {"code": code, "message": message}})


@pytest.mark.parametrize(
    ("system", "status", "code", "expected"),
    [
        ("bc", 400, "BadRequest_NotFound", DataError),
        ("dataverse", 400, "0x80044331", DataError),
        ("bc", 401, "Authentication_InvalidCredentials", AuthError),
        ("dataverse", 403, "0x80040220", ConfigError),
        ("bc", 404, "BadRequest_NotFound", NotFoundError),
        ("bc", 409, "Request_EntityChanged", ConflictError),
        ("bc", 412, "", ConflictError),
        ("dataverse", 412, "0x80060882", ConflictError),
        ("dataverse", 412, "0x80040237", AlreadyExistsError),
        ("bc", 413, "", DataError),
        ("bc", 408, "", TransientError),
        ("dataverse", 429, "0x80072322", TransientError),
        ("dataverse", 400, "0x80072321", TransientError),
        ("dataverse", 503, "0x80072326", TransientError),
        ("bc", 500, "Internal_ServerError", TransientError),
        ("bc", 502, "", TransientError),
        ("bc", 503, "", TransientError),
        ("bc", 504, "", TransientError),
        ("bc", 405, "", PermanentError),
        ("bc", 501, "", TransientError),
    ],
)
def test_table(system: str, status: int, code: str, expected: type[SyncError]) -> None:
    error = error_from_response(system, status, body(code), {})
    assert type(error) is expected
    assert error.status == status
    assert error.code == (code or None)


def test_not_exact_type_for_permanent_subclasses() -> None:
    assert isinstance(error_from_response("bc", 400, body("X"), {}), PermanentError)
    assert isinstance(error_from_response("bc", 401, body("X"), {}), ConfigError)


def test_message_carries_remote_message_and_remedy() -> None:
    error = error_from_response("bc", 400, body("Application_FieldValidation", "Name is too long"), {})
    assert "Name is too long" in str(error)
    assert "Application_FieldValidation" in str(error)
    assert error.remedy


def test_non_json_body_is_tolerated() -> None:
    error = error_from_response("bc", 502, "<html><body>Bad   Gateway</body></html>", {})
    assert isinstance(error, TransientError)
    assert error.code is None
    assert "Bad Gateway" in error.message
    error = error_from_response("dataverse", 404, "", {})
    assert isinstance(error, NotFoundError)


def test_transient_carries_retry_after() -> None:
    error = error_from_response("dataverse", 429, body("0x80072322"), {"retry-after": "12"})
    assert isinstance(error, TransientError)
    assert error.retry_after == 12.0  # type: ignore[attr-defined]


def test_oauth_style_error_body() -> None:
    text = json.dumps({"error": "invalid_client", "error_description": "bad secret"})
    error = error_from_response("bc", 401, text, {})
    assert isinstance(error, AuthError)
    assert error.code == "invalid_client"
