"""One timer function per integration table mapping: ``sync_<mapping>`` runs that mapping's job.

The schedule comes from the app setting ``SYNC_<MAPPING>_SCHEDULE`` (NCRONTAB, 6 fields) with BC's
30-minute default. It is the one value looked up when the app is indexed: the host needs the
schedule then; looking it up builds nothing and works with no settings present.
"""

import os

import azure.functions as func

from sync_core.app.usecases import run_mapping_timer
from sync_core.mapping.catalog import default_catalog
from sync_core.settings import DEFAULT_SCHEDULE, schedule_setting_name

bp = func.Blueprint()


def _register(mapping_name: str, function_name: str) -> None:
    schedule = os.environ.get(schedule_setting_name(function_name), "").strip() or DEFAULT_SCHEDULE

    @bp.function_name(function_name)
    @bp.timer_trigger(arg_name="timer", schedule=schedule, run_on_startup=False, use_monitor=True)
    def mapping_timer(timer: func.TimerRequest) -> None:
        run_mapping_timer(mapping_name, past_due=timer.past_due)


for _mapping in default_catalog():
    if not _mapping.scheduled:  # BC creates no job queue entry for it (OPPORTUNITY, invoice lines)
        continue
    _register(_mapping.name, _mapping.function_name)
