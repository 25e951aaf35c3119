"""Option-set (picklist) metadata of the Dataverse emulator, as the Web API serves it.

* ``GET EntityDefinitions(LogicalName='account')/Attributes(LogicalName='paymenttermscode')/
  Microsoft.Dynamics.CRM.PicklistAttributeMetadata?$select=LogicalName&$expand=OptionSet($select=Options)``
  -> the attribute with ``OptionSet.Options`` (``Value``, ``Label.LocalizedLabels``,
  ``Label.UserLocalizedLabel``);
* ``POST InsertOptionValue`` -> ``{"NewOptionValue": n}`` (the next free value from the default
  publisher's prefix, 100000000, unless ``Value`` is given); a label already in the set -> 400;
* ``POST UpdateOptionValue`` -> 204 (relabels one option); ``POST DeleteOptionValue`` -> 204;
* writing an option attribute of account / salesorder / quote / invoice with a value that is
  not in its option set -> 400, as Dataverse's validation does.

The option sets are metadata, not data: the out-of-box options are there in every store (also
after a wipe), and added ones are kept in the store's ``__optionsets`` table, so a ``$batch``
change set that fails rolls them back too. The document attributes (salesorder / quote / invoice
``paymenttermscode``, ``shippingmethodcode``, ``freighttermscode``) share the account's option
sets: BC translates them through the account attributes' option mappings (bc-integration §4.8).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

from sandbox.dataverse_model import dv_error
from sandbox.odata.engine import QueryError, Store, parse_query
from sandbox.odata.protocol import Request, Response

TABLE = "__optionsets"
LANGUAGE = 1033
FIRST_CUSTOM_VALUE = 100000000  # the default publisher's option value prefix (10000) * 10000
INVALID = "0x80040203"
VALIDATION = "0x80044331"

DEFAULT_OPTIONS: dict[tuple[str, str], dict[int, str]] = {
    ("account", "paymenttermscode"): {1: "Net 30", 2: "2% 10, Net 30", 3: "Net 45", 4: "Net 60"},
    ("account", "address1_freighttermscode"): {1: "FOB", 2: "No Charge"},
    ("account", "address1_shippingmethodcode"): {
        1: "Airborne",
        2: "DHL",
        3: "FedEx",
        4: "UPS",
        5: "Postal Mail",
        6: "Full Load",
        7: "Will Call",
    },
}
_DOCUMENT = {
    "paymenttermscode": ("account", "paymenttermscode"),
    "shippingmethodcode": ("account", "address1_shippingmethodcode"),
    "freighttermscode": ("account", "address1_freighttermscode"),
}
SHARED: dict[tuple[str, str], tuple[str, str]] = {
    (doc, attr): target for doc in ("salesorder", "quote", "invoice") for attr, target in _DOCUMENT.items()
}
ACTIONS = ("InsertOptionValue", "UpdateOptionValue", "DeleteOptionValue")
ATTRIBUTE_RE = re.compile(
    r"^EntityDefinitions\(LogicalName='(?P<entity>\w+)'\)/Attributes\(LogicalName='(?P<attr>\w+)'\)"
    r"(?:/Microsoft\.Dynamics\.CRM\.(?P<cast>\w+))?$"
)


def option_set_of(entity: str, attribute: str) -> tuple[str, str] | None:
    """The option set behind an attribute (its own, or the account's it shares), or None."""
    key = (entity.lower(), attribute.lower())
    key = SHARED.get(key, key)
    return key if key in DEFAULT_OPTIONS else None


class OptionSets:
    """The option sets kept in one emulator store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def options(self, key: tuple[str, str]) -> dict[int, str]:
        with self.store.lock:
            row = self.store.table(TABLE).get(".".join(key))
        if row is None:
            return dict(DEFAULT_OPTIONS[key])
        return {int(value): label for value, label in row["options"]}

    def _save(self, key: tuple[str, str], options: dict[int, str]) -> None:
        row = {"key": ".".join(key), "options": tuple(sorted(options.items()))}
        self.store.table(TABLE)[row["key"]] = row  # rows are replaced, never mutated (snapshots)

    def insert(self, key: tuple[str, str], label: str, value: int | None = None) -> int:
        with self.store.lock:
            options = self.options(key)
            _check_unique_label(key, options, label, None)
            if value is None:
                value = max([FIRST_CUSTOM_VALUE - 1, *options]) + 1
            elif value in options:
                raise dv_error(
                    400, INVALID, f"The value {value} is already used in the option set of {key[1]}."
                )
            options[value] = label
            self._save(key, options)
            return value

    def update(self, key: tuple[str, str], value: int, label: str) -> None:
        with self.store.lock:
            options = self.options(key)
            if value not in options:
                raise dv_error(
                    400, INVALID, f"The option value {value} does not exist in the option set of {key[1]}."
                )
            _check_unique_label(key, options, label, value)
            options[value] = label
            self._save(key, options)

    def delete(self, key: tuple[str, str], value: int) -> None:
        with self.store.lock:
            options = self.options(key)
            if options.pop(value, None) is None:
                raise dv_error(
                    400, INVALID, f"The option value {value} does not exist in the option set of {key[1]}."
                )
            self._save(key, options)

    def check_values(self, entity: str, body: Any) -> None:
        """400 when a written option attribute holds a value that is not in its option set."""
        if not isinstance(body, dict):
            return
        for name, value in body.items():
            key = option_set_of(entity, name)
            if key is None or value is None:
                continue
            options = self.options(key)
            if isinstance(value, bool) or not isinstance(value, int) or value not in options:
                accepted = ",".join(str(v) for v in sorted(options))
                raise dv_error(
                    400,
                    VALIDATION,
                    f"A validation error occurred. The value {value} of '{name}' on record of type "
                    f"'{entity}' is outside the valid range. Accepted Values: {accepted}.",
                )


def _check_unique_label(key: tuple[str, str], options: dict[int, str], label: str, own: int | None) -> None:
    for value, existing in options.items():
        if value != own and existing.strip().lower() == label.strip().lower():
            raise dv_error(
                400,
                INVALID,
                f"An option with the label '{label}' already exists in the option set of "
                f"{key[0]}.{key[1]} (value {value}).",
            )


# -- HTTP ---------------------------------------------------------------------------------------


def route(options: OptionSets, api_url: str, req: Request, rest: str) -> Response | None:
    """Answer an option-set metadata request or action; None when ``rest`` is not one."""
    rest = unquote(rest)
    if rest.startswith("EntityDefinitions"):
        if req.method != "GET":
            raise dv_error(405, "0x80060888", f"The HTTP method '{req.method}' is not allowed here.")
        return _attribute(options, api_url, req, rest)
    if rest in ACTIONS:
        if req.method != "POST":
            raise dv_error(405, "0x80060888", f"The HTTP method '{req.method}' is not allowed here.")
        body = req.json()
        if not isinstance(body, dict):
            raise dv_error(400, "0x80060888", "The request body must be a JSON object.")
        if rest == "InsertOptionValue":
            return _insert(options, api_url, body)
        if rest == "DeleteOptionValue":
            options.delete(_target(body), _int_param(body, "Value"))
            return Response(204)
        return _update(options, body)
    return None


def _attribute(options: OptionSets, api_url: str, req: Request, rest: str) -> Response:
    match = ATTRIBUTE_RE.match(rest)
    if match is None:
        raise dv_error(404, "0x8006088a", f"Resource not found for the segment '{rest}'.")
    entity, attr, cast = match.group("entity"), match.group("attr"), match.group("cast")
    key = option_set_of(entity, attr)
    if key is None:
        raise dv_error(404, "0x80040217", f"Could not find an option set attribute {attr} on {entity}.")
    if cast not in (None, "PicklistAttributeMetadata"):
        raise dv_error(400, "0x80060888", f"The attribute {attr} is not of type {cast}.")
    try:
        opts = parse_query(req.query)
    except QueryError as exc:
        raise dv_error(400, "0x80060888", exc.message) from exc
    expand = [i.name for i in opts.expand]
    if expand and (cast is None or expand != ["OptionSet"]):
        raise dv_error(400, "0x80060888", f"Could not find a property named '{expand[0]}' on type "
                       "'Microsoft.Dynamics.CRM.AttributeMetadata'.")  # fmt: skip
    body: dict[str, Any] = {
        "@odata.context": f"{api_url}$metadata#EntityDefinitions('{entity}')/Attributes/"
        f"Microsoft.Dynamics.CRM.PicklistAttributeMetadata/$entity",
        "LogicalName": attr,
        "EntityLogicalName": entity,
        "AttributeType": "Picklist",
    }
    if opts.select:
        body = {k: v for k, v in body.items() if k.startswith("@") or k in opts.select}
    if expand:
        values = options.options(key)
        body["OptionSet"] = {
            "Name": f"{key[0]}_{key[1]}",
            "Options": [_option(v, values[v]) for v in sorted(values)],
        }
    return Response(200, body)


def _label(text: str) -> dict[str, Any]:
    localized = {"Label": text, "LanguageCode": LANGUAGE}
    return {"LocalizedLabels": [localized], "UserLocalizedLabel": dict(localized)}


def _option(value: int, label: str) -> dict[str, Any]:
    return {
        "Value": value,
        "Color": None,
        "IsManaged": value < FIRST_CUSTOM_VALUE,
        "ExternalValue": None,
        "Label": _label(label),
        "Description": {"LocalizedLabels": [], "UserLocalizedLabel": None},
    }


def _target(body: dict[str, Any]) -> tuple[str, str]:
    entity, attr = body.get("EntityLogicalName"), body.get("AttributeLogicalName")
    if body.get("OptionSetName"):
        raise dv_error(400, INVALID, "Global option sets are not supported here; name the attribute.")
    if not isinstance(entity, str) or not isinstance(attr, str):
        raise dv_error(400, INVALID, "EntityLogicalName and AttributeLogicalName are required.")
    key = option_set_of(entity, attr)
    if key is None:
        raise dv_error(404, "0x80040217", f"Could not find an option set attribute {attr} on {entity}.")
    return key


def _label_text(body: dict[str, Any]) -> str:
    label = body.get("Label")
    localized = label.get("LocalizedLabels") if isinstance(label, dict) else None
    texts = [
        item.get("Label")
        for item in localized or []
        if isinstance(item, dict) and item.get("LanguageCode", LANGUAGE) == LANGUAGE
    ]
    if not texts or not isinstance(texts[0], str) or not texts[0].strip():
        raise dv_error(400, INVALID, "Label is required: a LocalizedLabels entry for LanguageCode 1033.")
    return texts[0]


def _int_param(body: dict[str, Any], name: str) -> int:
    value = body.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise dv_error(400, INVALID, f"{name} must be an integer.")
    return value


def _insert(options: OptionSets, api_url: str, body: dict[str, Any]) -> Response:
    key, label = _target(body), _label_text(body)
    value = options.insert(key, label, None if body.get("Value") is None else _int_param(body, "Value"))
    context = f"{api_url}$metadata#Microsoft.Dynamics.CRM.InsertOptionValueResponse"
    return Response(200, {"@odata.context": context, "NewOptionValue": value})


def _update(options: OptionSets, body: dict[str, Any]) -> Response:
    key, label = _target(body), _label_text(body)
    if not isinstance(body.get("MergeLabels"), bool):
        raise dv_error(400, INVALID, "MergeLabels (true or false) is required.")
    options.update(key, _int_param(body, "Value"), label)
    return Response(204)
