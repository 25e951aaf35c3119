"""Sales documents: the document queue function and BC's two auto jobs as timers.

``process_document``: one CRM order or quote per message (from the Dataverse webhook, the timers
or ``auto-*`` commands). ``auto_create_sales_orders`` / ``auto_process_sales_quotes``: BC's
"Auto Create Sales Orders" / "Auto Process Sales Quotes" jobs; schedules from the app settings
``AUTO_CREATE_SALES_ORDERS_SCHEDULE`` / ``AUTO_PROCESS_SALES_QUOTES_SCHEDULE`` (NCRONTAB),
BC's 30-minute default. ``order_status_updates``: BC's "CRM Order Status Update Job" (every 7
minutes, ``ORDER_STATUS_UPDATES_SCHEDULE``): timeline posts and order states from BC's events.
``customer_statistics``: BC's "CRM Statistics Job" (every 30 minutes, ``CUSTOMER_STATISTICS_SCHEDULE``):
invoice payment states and account statistics. ``renew_bc_subscriptions`` (every 4 hours,
``RENEW_BC_SUBSCRIPTIONS_SCHEDULE``): BC webhook subscriptions renewed before their 3-day expiry,
re-created when BC dropped them.
"""

import os

import azure.functions as func

from sync_core.app.bc_webhooks import run_subscription_renewal
from sync_core.app.documents import (
    process_document_message,
    run_customer_statistics,
    run_document_timer,
    run_order_status_updates,
)
from sync_core.settings import DEFAULT_SCHEDULE, DOCUMENT_QUEUE, schedule_setting_name

bp = func.Blueprint()


ORDER_STATUS_SCHEDULE = "0 */7 * * * *"  # BC's CRM Order Status Update Job: every 7 minutes
RENEW_SUBSCRIPTIONS_SCHEDULE = "0 0 */4 * * *"  # BC subscriptions live 3 days: check every 4 hours


def _schedule(function_name: str, default: str = DEFAULT_SCHEDULE) -> str:
    return os.environ.get(schedule_setting_name(function_name), "").strip() or default


@bp.function_name("process_document")
@bp.queue_trigger(arg_name="msg", queue_name=DOCUMENT_QUEUE, connection="AzureWebJobsStorage")
def process_document(msg: func.QueueMessage) -> None:
    process_document_message(msg.get_body(), dequeue_count=msg.dequeue_count)


@bp.function_name("auto_create_sales_orders")
@bp.timer_trigger(arg_name="timer", schedule=_schedule("auto_create_sales_orders"), use_monitor=True)
def auto_create_sales_orders(timer: func.TimerRequest) -> None:
    run_document_timer("order")


@bp.function_name("order_status_updates")
@bp.timer_trigger(
    arg_name="timer", schedule=_schedule("order_status_updates", ORDER_STATUS_SCHEDULE), use_monitor=True
)
def order_status_updates(timer: func.TimerRequest) -> None:
    run_order_status_updates()


@bp.function_name("auto_process_sales_quotes")
@bp.timer_trigger(arg_name="timer", schedule=_schedule("auto_process_sales_quotes"), use_monitor=True)
def auto_process_sales_quotes(timer: func.TimerRequest) -> None:
    run_document_timer("quote")


@bp.function_name("customer_statistics")
@bp.timer_trigger(arg_name="timer", schedule=_schedule("customer_statistics"), use_monitor=True)
def customer_statistics(timer: func.TimerRequest) -> None:
    run_customer_statistics()


@bp.function_name("renew_bc_subscriptions")
@bp.timer_trigger(
    arg_name="timer",
    schedule=_schedule("renew_bc_subscriptions", RENEW_SUBSCRIPTIONS_SCHEDULE),
    use_monitor=True,
)
def renew_bc_subscriptions(timer: func.TimerRequest) -> None:
    run_subscription_renewal()
