"""Queue-triggered control messages (``sync-control``): a full synchronization advances through
them alone, line by line (``full-sync-line``) and by delayed checks (``full-sync-check``)."""

import azure.functions as func

from sync_core.app.full_sync import process_control as process_control_message
from sync_core.settings import CONTROL_QUEUE

bp = func.Blueprint()


@bp.function_name("process_control")
@bp.queue_trigger(arg_name="msg", queue_name=CONTROL_QUEUE, connection="AzureWebJobsStorage")
def process_control(msg: func.QueueMessage) -> None:
    process_control_message(msg.get_body(), dequeue_count=msg.dequeue_count)
