"""Small HTTP clients and fake tokens for the emulator integration tests."""

from __future__ import annotations

from typing import Any

import requests

from sandbox.bc_emulator import BcEmulator
from sandbox.dataverse_emulator import DataverseEmulator
from sandbox.seed import SANDBOX_CLIENT_ID

BC_AUDIENCE = "https://api.businesscentral.dynamics.com"
BC_TOKENS: dict[str, dict[str, Any]] = {
    "good": {"appid": SANDBOX_CLIENT_ID, "oid": "sp-bcsync", "aud": BC_AUDIENCE},
    "other": {"appid": "someone-else", "oid": "sp-other", "aud": BC_AUDIENCE},
    "wrong-aud": {"appid": SANDBOX_CLIENT_ID, "oid": "sp-bcsync", "aud": "https://graph.microsoft.com"},
}
OTHER_APP = "00000000-0000-0000-0000-0000000000c2"


def dataverse_tokens(url: str) -> dict[str, dict[str, Any]]:
    """Fake bearer tokens -> claims for a Dataverse emulator at ``url``."""
    return {
        "good": {"appid": SANDBOX_CLIENT_ID, "oid": "sp-bcsync", "aud": url},
        "stranger": {"appid": OTHER_APP, "oid": "sp-other", "aud": url},
        "wrong-aud": {"appid": SANDBOX_CLIENT_ID, "oid": "sp-bcsync", "aud": "https://x.crm.dynamics.com"},
    }


def error(response: requests.Response) -> tuple[int, str]:
    """``(status, error code)`` of an error answer."""
    return response.status_code, response.json()["error"]["code"]


class _Client:
    base = ""

    def __init__(self, token: str, headers: dict[str, str] | None = None) -> None:
        self.session = requests.Session()
        self.session.headers.update({"Authorization": f"Bearer {token}", "Accept": "application/json"})
        self.session.headers.update(headers or {})

    def url(self, path: str) -> str:
        return path if path.startswith("http") else self.base + path

    def call(self, method: str, path: str, **kw: Any) -> requests.Response:
        return self.session.request(method, self.url(path), **kw)

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.call("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> requests.Response:
        return self.call("POST", path, **kw)

    def patch(self, path: str, **kw: Any) -> requests.Response:
        return self.call("PATCH", path, **kw)

    def delete(self, path: str, **kw: Any) -> requests.Response:
        return self.call("DELETE", path, **kw)

    def value(self, path: str, **kw: Any) -> list[dict[str, Any]]:
        response = self.get(path, **kw)
        assert response.status_code == 200, response.text
        return response.json()["value"]


class DataverseApi(_Client):
    """Paths are relative to the Web API root (``/api/data/v9.2/``)."""

    def __init__(self, dv: DataverseEmulator, token: str = "good") -> None:
        super().__init__(token, {"OData-MaxVersion": "4.0", "OData-Version": "4.0", "If-None-Match": "null"})
        self.base = dv.api_url


class BcApi(_Client):
    """Paths are relative to the company: v2.0 by default, companion with ``companion=True``."""

    def __init__(self, bc: BcEmulator, token: str = "good", *, companion: bool = False) -> None:
        super().__init__(token)
        root = bc.companion_url if companion else bc.api_url
        self.base = f"{root}/companies({bc.company_id})/"
        self.companion = BcApi(bc, token, companion=True) if not companion else self


def multipart_batch(parts: list[str], changeset: list[str] | None = None) -> tuple[str, bytes]:
    """A $batch body: ``changeset`` parts in one change set (Content-ID 1..n), then ``parts``."""
    lines: list[str] = []
    if changeset is not None:
        lines += ["--batch_x", "Content-Type: multipart/mixed; boundary=changeset_y", ""]
        for i, part in enumerate(changeset, 1):
            lines += [
                "--changeset_y",
                "Content-Type: application/http",
                "Content-Transfer-Encoding: binary",
                f"Content-ID: {i}",
                "",
                part,
            ]
        lines += ["--changeset_y--"]
    for part in parts:
        lines += [
            "--batch_x",
            "Content-Type: application/http",
            "Content-Transfer-Encoding: binary",
            "",
            part,
        ]
    lines += ["--batch_x--", ""]
    return "multipart/mixed; boundary=batch_x", "\r\n".join(lines).encode()
