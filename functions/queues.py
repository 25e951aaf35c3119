"""Queue-triggered record processor: one message = one record of one mapping in one direction, or
one staged chunk of a full synchronization's records (``kind`` = ``chunk``)."""

import azure.functions as func

from sync_core.app.usecases import process_record_message
from sync_core.settings import RECORD_QUEUE

bp = func.Blueprint()


@bp.function_name("process_record")
@bp.queue_trigger(arg_name="msg", queue_name=RECORD_QUEUE, connection="AzureWebJobsStorage")
def process_record(msg: func.QueueMessage) -> None:
    process_record_message(msg.get_body(), dequeue_count=msg.dequeue_count)
