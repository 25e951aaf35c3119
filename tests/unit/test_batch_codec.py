"""$batch encoding and decoding: Dataverse multipart (with change sets) and BC JSON batch."""

from __future__ import annotations

import json
import re

import pytest

from sync_core.errors import ConflictError
from sync_core.odata.batch import (
    BatchRequest,
    decode_bc_batch,
    decode_dataverse_batch,
    encode_bc_batch,
    encode_dataverse_batch,
    first_error,
)

ROOT = "/api/data/v9.2/"


def _boundary(content_type: str) -> str:
    match = re.search(r"boundary=(\S+)", content_type)
    assert match
    return match.group(1)


def test_changeset_encoding() -> None:
    requests = [
        BatchRequest("POST", "accounts", {"name": "Fabrikam"}, content_id="1"),
        BatchRequest("POST", "contacts", {"lastname": "Smith", "parentcustomerid_account@odata.bind": "$1"}),
        BatchRequest("PATCH", "accounts(6f1e3c2a-0000-4000-8000-000000000001)", {"name": "X"},
                     headers={"If-Match": 'W/"1"'}),
    ]  # fmt: skip
    content_type, body = encode_dataverse_batch(requests, changeset=True, root_path=ROOT)
    text = body.decode()
    batch = _boundary(content_type)
    assert content_type.startswith("multipart/mixed; boundary=batch_")
    assert text.startswith(f"--{batch}\r\nContent-Type: multipart/mixed; boundary=changeset_")
    assert text.endswith(f"--{batch}--\r\n")
    assert "\r\nContent-ID: 1\r\n" in text and "\r\nContent-ID: 2\r\n" in text
    assert "POST /api/data/v9.2/accounts HTTP/1.1\r\nContent-Type: application/json; type=entry" in text
    assert "PATCH /api/data/v9.2/accounts(6f1e3c2a-0000-4000-8000-000000000001) HTTP/1.1" in text
    assert 'If-Match: W/"1"' in text
    assert '"parentcustomerid_account@odata.bind":"$1"' in text
    changeset = re.search(r"boundary=(changeset_\w+)", text)
    assert changeset and text.count(f"--{changeset.group(1)}\r\n") == 3
    assert f"--{changeset.group(1)}--" in text


def test_get_is_refused_inside_a_changeset() -> None:
    with pytest.raises(ValueError):
        encode_dataverse_batch([BatchRequest("GET", "accounts")], changeset=True, root_path=ROOT)


def test_batch_size_limit() -> None:
    many = [BatchRequest("GET", f"accounts?$top={i}") for i in range(1001)]
    with pytest.raises(ValueError):
        encode_dataverse_batch(many, changeset=False, root_path=ROOT)


def test_gets_without_changeset() -> None:
    content_type, body = encode_dataverse_batch(
        [BatchRequest("GET", "accounts?$select=name"), BatchRequest("GET", "WhoAmI")],
        changeset=False,
        root_path="/api/data/v9.2",
    )
    text = body.decode()
    assert "GET /api/data/v9.2/accounts?$select=name HTTP/1.1\r\nAccept: application/json\r\n" in text
    assert "GET /api/data/v9.2/WhoAmI HTTP/1.1" in text
    assert "Content-ID" not in text
    assert text.count(f"--{_boundary(content_type)}\r\n") == 2


# A response shaped like the Web API's (documentation example), with a failed part.
RESPONSE = (
    "--batchresponse_c1bd45c1-dd81-470d-b897-e965846aad2f\r\n"
    "Content-Type: multipart/mixed; boundary=changesetresponse_ff83b4f1-ab48-430c-b81c-926a2c596abc\r\n"
    "\r\n"
    "--changesetresponse_ff83b4f1-ab48-430c-b81c-926a2c596abc\r\n"
    "Content-Type: application/http\r\n"
    "Content-Transfer-Encoding: binary\r\n"
    "Content-ID: 1\r\n"
    "\r\n"
    "HTTP/1.1 204 No Content\r\n"
    "OData-Version: 4.0\r\n"
    "Location: https://org.crm.dynamics.com/api/data/v9.2/tasks(a59c24ad-0000-4000-8000-000000000001)\r\n"
    "OData-EntityId: https://org.crm.dynamics.com/api/data/v9.2/tasks(a59c24ad-0000-4000-8000-000000000001)\r\n"
    "\r\n"
    "\r\n"
    "--changesetresponse_ff83b4f1-ab48-430c-b81c-926a2c596abc\r\n"
    "Content-Type: application/http\r\n"
    "Content-Transfer-Encoding: binary\r\n"
    "Content-ID: 2\r\n"
    "\r\n"
    "HTTP/1.1 201 Created\r\n"
    "Content-Type: application/json; odata.metadata=minimal\r\n"
    "OData-Version: 4.0\r\n"
    "\r\n"
    '{"@odata.etag":"W/\\"1\\"","accountid":"b59c24ad-0000-4000-8000-000000000002","name":"Fabrikam"}\r\n'
    "--changesetresponse_ff83b4f1-ab48-430c-b81c-926a2c596abc--\r\n"
    "--batchresponse_c1bd45c1-dd81-470d-b897-e965846aad2f\r\n"
    "Content-Type: application/http\r\n"
    "Content-Transfer-Encoding: binary\r\n"
    "\r\n"
    "HTTP/1.1 412 Precondition Failed\r\n"
    "Content-Type: application/json; odata.metadata=minimal\r\n"
    "OData-Version: 4.0\r\n"
    "\r\n"
    '{"error":{"code":"0x80060882","message":"The version of the existing record doesn\'t match"}}\r\n'
    "--batchresponse_c1bd45c1-dd81-470d-b897-e965846aad2f--\r\n"
)
RESPONSE_TYPE = "multipart/mixed; boundary=batchresponse_c1bd45c1-dd81-470d-b897-e965846aad2f"


def test_decode_realistic_response() -> None:
    responses = decode_dataverse_batch(RESPONSE_TYPE, RESPONSE.encode())
    assert [r.status for r in responses] == [204, 201, 412]
    assert [r.content_id for r in responses] == ["1", "2", None]
    assert responses[0].body is None
    assert responses[0].headers["OData-EntityId"].endswith("(a59c24ad-0000-4000-8000-000000000001)")
    assert responses[1].body["name"] == "Fabrikam"
    assert responses[2].body["error"]["code"] == "0x80060882"
    assert [r.ok for r in responses] == [True, True, False]
    error = first_error("dataverse", responses)
    assert isinstance(error, ConflictError) and error.code == "0x80060882"


def test_decode_quoted_boundary_and_lf_only() -> None:
    text = (
        "--b1\nContent-Type: application/http\n\nHTTP/1.1 200 OK\nContent-Type: application/json\n\n"
        '{"value":[]}\n--b1--\n'
    )
    responses = decode_dataverse_batch('multipart/mixed; boundary="b1"', text)
    assert len(responses) == 1 and responses[0].body == {"value": []}


def test_round_trip_through_a_fake_server_answer() -> None:
    """Encode, answer each part as a server would, and decode: order and ids survive."""
    requests = [BatchRequest("POST", "accounts", {"name": f"A{i}"}) for i in range(3)]
    _, body = encode_dataverse_batch(requests, changeset=True, root_path=ROOT)
    parts = re.findall(r"Content-ID: (\d+)\r\n\r\nPOST (\S+) HTTP/1.1\r\n.*?\r\n\r\n(\{.*?\})", body.decode())
    assert [p[0] for p in parts] == ["1", "2", "3"]
    cs = "changesetresponse_x"
    answer = "--batchresponse_y\r\nContent-Type: multipart/mixed; boundary=" + cs + "\r\n\r\n"
    for cid, _url, payload in parts:
        answer += (
            f"--{cs}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n"
            f"Content-ID: {cid}\r\n\r\nHTTP/1.1 201 Created\r\nContent-Type: application/json\r\n\r\n"
            f"{payload}\r\n"
        )
    answer += f"--{cs}--\r\n--batchresponse_y--\r\n"
    responses = decode_dataverse_batch("multipart/mixed; boundary=batchresponse_y", answer)
    assert [(r.content_id, r.status, r.body["name"]) for r in responses] == [
        ("1", 201, "A0"),
        ("2", 201, "A1"),
        ("3", 201, "A2"),
    ]


def test_bc_json_batch_encode_and_decode_out_of_order() -> None:
    requests = [
        BatchRequest("PATCH", "companies(c)/customers(1)", {"displayName": "A"}, {"If-Match": "*"}),
        BatchRequest("GET", "companies(c)/items", content_id="items"),
    ]
    document = encode_bc_batch(requests)
    assert document == {
        "requests": [
            {
                "id": "1",
                "method": "PATCH",
                "url": "companies(c)/customers(1)",
                "headers": {"If-Match": "*", "Content-Type": "application/json"},
                "body": {"displayName": "A"},
            },
            {"id": "items", "method": "GET", "url": "companies(c)/items"},
        ]
    }
    answer = json.loads(
        '{"responses": [{"id": "items", "status": 200, "headers": {}, "body": {"value": []}},'
        ' {"id": "1", "status": 409, "headers": {"content-type": "application/json"},'
        ' "body": {"error": {"code": "Request_EntityChanged", "message": "changed"}}}]}'
    )
    responses = decode_bc_batch(answer, requests)
    assert [(r.content_id, r.status) for r in responses] == [("1", 409), ("items", 200)]
    error = first_error("bc", responses)
    assert isinstance(error, ConflictError) and error.code == "Request_EntityChanged"
