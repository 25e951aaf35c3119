"""Platform tables of the Dataverse emulator: webhook registration and the quote-close activity.

* ``serviceendpoints`` (api-facts §D.1, §I): a webhook is a row with ``contract`` 8 and an
  ``authtype`` (4 WebhookKey, 5 HttpHeader, 6 HttpQueryString); ``authvalue`` is write-only
  (IsValidForRead = False: never returned, not selectable, not filterable).
* ``sdkmessages`` and ``sdkmessagefilters``: seeded, read-only through the Web API (one filter per
  message and ``primaryobjecttypecode``).
* ``sdkmessageprocessingsteps`` (statecode 0 Enabled / 1 Disabled) bound to a service endpoint
  (``eventhandler_serviceendpoint@odata.bind``), a message and a filter; deleting the endpoint
  deletes its steps, deleting a step its ``sdkmessageprocessingstepimages``.
* ``quotecloses``: the activity ``WinQuote`` / ``CloseQuote`` record (key ``activityid``).

The definitions are built with the schema module's factory, passed in (no import cycle).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sandbox.dataverse_schema import EntityDef

Factory = Callable[..., "EntityDef"]
ORG: dict[str, Any] = {"ownership": "org"}


def platform_entities(entity: Factory, statuses: Callable[[str], dict[int, int]]) -> list[EntityDef]:
    return [_quoteclose(entity, statuses), *_webhook_tables(entity, statuses)]


def _quoteclose(entity: Factory, statuses: Callable[[str], dict[int, int]]) -> EntityDef:
    definition = entity(
        "quotecloses",
        "quoteclose",
        "subject description actualstart actualend actualdurationminutes category subcategory revision",
        "quoteid:quotes",
        states={0: 1, 1: 2, 2: 3},  # Open / Completed / Canceled
        statuses=statuses("1:0 2:1 3:2"),
        required=("_quoteid_value",),
    )
    return replace(definition, key="activityid")


def _webhook_tables(entity: Factory, statuses: Callable[[str], dict[int, int]]) -> list[EntityDef]:
    return [_endpoint(entity), *_messages(entity), _step(entity, statuses), _image(entity)]


def _endpoint(entity: Factory) -> EntityDef:
    return entity(
        "serviceendpoints",
        "serviceendpoint",
        "name description url contract authtype authvalue messageformat messagecharset "
        "connectionmode namespaceaddress namespaceformat path solutionnamespace userclaim "
        "isauditenabled",
        required=("name", "contract"),
        write_only=frozenset({"authvalue"}),
        children={
            "serviceendpoint_sdkmessageprocessingstep": (
                "sdkmessageprocessingsteps",
                "_eventhandler_value",
            )
        },
        **ORG,
    )


def _messages(entity: Factory) -> list[EntityDef]:
    return [
        entity(
            "sdkmessages",
            "sdkmessage",
            "name categoryname isprivate isreadonly isactive availability autotransact expand "
            "template workflowsdkstepenabled",
            required=("name",),
            unique=(("name",),),
            platform=True,
            children={"sdkmessageid_sdkmessagefilter": ("sdkmessagefilters", "_sdkmessageid_value")},
            **ORG,
        ),
        entity(
            "sdkmessagefilters",
            "sdkmessagefilter",
            "primaryobjecttypecode secondaryobjecttypecode iscustomprocessingstepallowed isvisible "
            "availability",
            "sdkmessageid:sdkmessages",
            required=("_sdkmessageid_value", "primaryobjecttypecode"),
            platform=True,
            **ORG,
        ),
    ]


def _image(entity: Factory) -> EntityDef:
    return entity(
        "sdkmessageprocessingstepimages",
        "sdkmessageprocessingstepimage",
        "name entityalias imagetype messagepropertyname attributes description",
        "sdkmessageprocessingstepid:sdkmessageprocessingsteps",
        required=("entityalias", "imagetype", "_sdkmessageprocessingstepid_value"),
        parent=("sdkmessageprocessingsteps", "_sdkmessageprocessingstepid_value"),
        **ORG,
    )


def _step(entity: Factory, statuses: Callable[[str], dict[int, int]]) -> EntityDef:
    return entity(
        "sdkmessageprocessingsteps",
        "sdkmessageprocessingstep",
        "name description stage mode rank supporteddeployment asyncautodelete filteringattributes "
        "configuration invocationsource category",
        "eventhandler:serviceendpoints sdkmessageid:sdkmessages sdkmessagefilterid:sdkmessagefilters "
        "impersonatinguserid:systemusers",
        ownership="org",
        states={0: 1, 1: 2},  # Enabled / Disabled
        statuses=statuses("1:0 2:1"),
        required=("name", "stage", "mode", "_sdkmessageid_value", "_eventhandler_value"),
        parent=("serviceendpoints", "_eventhandler_value"),
        children={
            "sdkmessageprocessingstepid_sdkmessageprocessingstepimage": (
                "sdkmessageprocessingstepimages",
                "_sdkmessageprocessingstepid_value",
            )
        },
    )
