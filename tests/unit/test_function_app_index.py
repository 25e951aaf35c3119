"""The app indexes with no settings at all, and declares the functions and bindings we expect."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent

SCRIPT = """
import json, function_app
out = {}
for f in function_app.app.get_functions():
    out[f.get_function_name()] = [json.loads(b) for b in f.get_raw_bindings()]
print(json.dumps(out))
"""


def _index(extra_env: dict[str, str] | None = None) -> dict[str, list[dict]]:
    env = {"PATH": os.environ.get("PATH", ""), **(extra_env or {})}  # no app settings at all
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_indexes_without_settings_and_declares_every_function() -> None:
    functions = _index()
    timers = {
        "sync_salespeople", "sync_currency", "sync_unit_of_measure", "sync_payment_terms",
        "sync_shipment_method", "sync_shipping_agent", "sync_customer", "sync_contact",
        "sync_item_product", "sync_resource_product", "sync_custprcgrp_price",
        "sync_salesprc_prodprice", "sync_postedsalesinv_inv", "sync_salesorder_order",
    }  # fmt: skip
    # OPPORTUNITY and POSTEDSALESLINE-INV have no job queue entry in BC, so no timer
    manage = {
        "manage_mappings",
        "manage_mapping_set",
        "manage_mapping_action",
        "manage_jobs",
        "manage_errors",
        "manage_full_sync_start",
        "manage_full_sync_status",
        "manage_full_sync_restart",
    }
    queues = {"process_record", "process_control", "process_document"}
    # BC's sales-document jobs (fixed names, design.md)
    documents = {
        "auto_create_sales_orders",
        "auto_process_sales_quotes",
        "order_status_updates",
        "customer_statistics",
        "renew_bc_subscriptions",
    }
    routes = {"dataverse_webhook", "bc_webhook", "health", "item_availability", "status_page"}
    assert set(functions) == timers | manage | queues | documents | routes
    timer = functions["sync_currency"][0]
    assert (timer["type"], timer["schedule"], timer["runOnStartup"]) == (
        "timerTrigger",
        "0 */30 * * * *",
        False,
    )
    queue = functions["process_record"][0]
    assert (queue["type"], queue["queueName"], queue["connection"]) == (
        "queueTrigger",
        "sync-records",
        "AzureWebJobsStorage",
    )
    control = functions["process_control"][0]
    assert (control["type"], control["queueName"], control["connection"]) == (
        "queueTrigger",
        "sync-control",
        "AzureWebJobsStorage",
    )
    document = functions["process_document"][0]
    assert (document["type"], document["queueName"]) == ("queueTrigger", "sync-documents")
    schedules = {name: functions[name][0]["schedule"] for name in sorted(documents)}
    assert schedules == {
        "auto_create_sales_orders": "0 */30 * * * *",
        "auto_process_sales_quotes": "0 */30 * * * *",
        "order_status_updates": "0 */7 * * * *",  # BC's CRM Order Status Update Job
        "customer_statistics": "0 */30 * * * *",  # BC's CRM Statistics Job
        "renew_bc_subscriptions": "0 0 */4 * * *",  # subscriptions expire after 3 days
    }
    hook = functions["dataverse_webhook"][0]
    assert (hook["route"], hook["methods"], hook["authLevel"]) == (
        "webhooks/dataverse",
        ["POST"],
        "ANONYMOUS",
    )
    stock = functions["item_availability"][0]
    assert (stock["route"], stock["methods"], stock["authLevel"]) == (
        "availability/{productid}",
        ["GET"],
        "FUNCTION",
    )
    health = functions["health"][0]
    assert (health["route"], health["methods"], health["authLevel"]) == ("health", ["GET"], "FUNCTION")
    status = functions["status_page"][0]
    assert (status["route"], status["methods"], status["authLevel"]) == ("status", ["GET"], "FUNCTION")


def test_schedule_comes_from_the_app_setting() -> None:
    functions = _index({"SYNC_CURRENCY_SCHEDULE": "0 */5 * * * *"})
    assert functions["sync_currency"][0]["schedule"] == "0 */5 * * * *"


def test_host_json_has_explicit_queue_settings() -> None:
    host = json.loads((ROOT / "host.json").read_text())
    queues = host["extensions"]["queues"]
    assert {"maxDequeueCount", "visibilityTimeout", "batchSize", "messageEncoding"} <= set(queues)
    assert queues["messageEncoding"] == "base64" and host["functionTimeout"]


def test_settings_sample_lists_every_contract_setting() -> None:
    sample = json.loads((ROOT / "local.settings.sample.json").read_text())["Values"]
    contract = {
        "AzureWebJobsStorage", "SYNC_TENANT_ID", "SYNC_CLIENT_ID", "SYNC_CLIENT_SECRET",
        "SYNC_AUTHORITY_HOST", "BC_API_URL", "BC_COMPANY_ID", "BC_SCOPE", "DATAVERSE_URL", "WEBHOOK_SECRET",
    }  # fmt: skip
    assert contract <= set(sample)
    readme = (ROOT / "README.md").read_text()
    assert all(f"`{name}`" in readme for name in contract)
