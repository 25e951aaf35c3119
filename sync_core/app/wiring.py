"""Builds the real services (HTTP session, sign-in, adapters, stores, queue) lazily, once per worker.

Nothing here runs at import, and nothing else builds a real client. ``services()`` is cached: one
``requests.Session`` (connection pool), one msal confidential client (its token cache serves both
scopes) per worker.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import requests

from sync_core import telemetry
from sync_core.mapping.catalog import Catalog, default_catalog, load_catalog
from sync_core.mapping.overrides import EffectiveCatalog
from sync_core.odata.auth import BearerAuth, LazyConfidentialApp, MsalTokenProvider
from sync_core.odata.client import ODataClient
from sync_core.sales.availability import AvailabilityCache
from sync_core.settings import CONTROL_QUEUE, DOCUMENT_QUEUE, RECORD_QUEUE, Settings, load_settings
from sync_core.state.full_sync_review import FullSyncReviewStore
from sync_core.state.full_sync_review_tables import full_sync_review_store
from sync_core.state.mapping_settings import MappingSettingsStore, mapping_settings_store
from sync_core.state.ports import MessageQueue
from sync_core.state.queues import AzureMessageQueue
from sync_core.state.stores import StateStores, table_stores
from sync_core.sync.context import BcReferenceData, SyncContext
from sync_core.systems.bc import BcAdapter
from sync_core.systems.bc_subscriptions import BcSubscriptionApi
from sync_core.systems.dataverse import DataverseAdapter


@dataclass
class Services:
    settings: Settings
    catalog: Catalog
    bc: BcAdapter
    dataverse: DataverseAdapter
    stores: StateStores
    record_queue: MessageQueue
    bc_tokens: MsalTokenProvider
    dataverse_tokens: MsalTokenProvider
    reference: BcReferenceData
    mapping_settings: MappingSettingsStore
    full_sync_review: FullSyncReviewStore
    control_queue: MessageQueue
    document_queue: MessageQueue
    availability: AvailabilityCache
    bc_subscriptions: BcSubscriptionApi

    def sync_context(self) -> SyncContext:
        """One job run's or message's view: the catalog with the operators' runtime settings as
        stored now (read once, on first use), so a ``mapping-set`` applies to the next one."""
        return SyncContext(
            EffectiveCatalog(self.catalog, self.mapping_settings),
            self.bc,
            self.dataverse,
            self.stores,
            self.record_queue,
            reference=self.reference,
        )


def build_services(settings: Settings, *, catalog: Catalog | None = None) -> Services:
    session = requests.Session()
    app = LazyConfidentialApp(
        tenant_id=settings.tenant_id,
        client_id=settings.client_id,
        client_secret=settings.client_secret,
        certificate=settings.client_certificate,  # one of the two is given (settings validated it)
        authority_host=settings.authority_host,
        http_client=session,
    )
    bc_tokens = MsalTokenProvider(app, settings.bc_scope)
    dv_tokens = MsalTokenProvider(app, settings.dataverse_scope)
    bc_auth, dv_auth = BearerAuth(bc_tokens), BearerAuth(dv_tokens)
    v2 = ODataClient(session, settings.bc_api_url, system="bc", auth=bc_auth)
    companion = ODataClient(session, settings.bc_companion_root, system="bc", auth=bc_auth)
    dv = ODataClient(session, settings.dataverse_api_root, system="dataverse", auth=dv_auth)
    bc = BcAdapter(v2, companion, settings.bc_company_id)
    catalog = catalog or default_catalog()
    return Services(
        settings=settings,
        catalog=catalog,
        bc=bc,
        dataverse=DataverseAdapter(dv),
        stores=table_stores(settings.storage),
        record_queue=AzureMessageQueue(settings.storage, RECORD_QUEUE),
        bc_tokens=bc_tokens,
        dataverse_tokens=dv_tokens,
        reference=BcReferenceData(bc),
        mapping_settings=mapping_settings_store(settings.storage),
        full_sync_review=full_sync_review_store(settings.storage),
        control_queue=AzureMessageQueue(settings.storage, CONTROL_QUEUE),
        document_queue=AzureMessageQueue(settings.storage, DOCUMENT_QUEUE),
        availability=AvailabilityCache(),
        bc_subscriptions=BcSubscriptionApi(v2, companion, settings.bc_company_id),
    )


def catalog_from_environment() -> Catalog:
    """The built-in catalog, plus the mapping files of ``SYNC_MAPPINGS_DIR`` when it is set."""
    extra = os.environ.get("SYNC_MAPPINGS_DIR", "").strip()
    return load_catalog([Path(extra)]) if extra else default_catalog()


@functools.cache
def services() -> Services:
    """The worker's services, built on first use from the environment's settings."""
    telemetry.configure()  # Application Insights export, once per worker, only when its setting is set
    return build_services(load_settings(), catalog=catalog_from_environment())


def reset() -> None:
    """Forget the cached settings and services (tests and the local runner change the environment)."""
    services.cache_clear()
    load_settings.cache_clear()
