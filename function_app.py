"""The Azure Functions app (v2 programming model): registers the blueprints, nothing else.

No settings are read and no client is built here; ``app.get_functions()`` indexes with an empty
environment. The use-cases build their services on first call (``sync_core.app.wiring``).
"""

import azure.functions as func

from functions.admin import bp as admin_bp
from functions.admin_full_sync import bp as admin_full_sync_bp
from functions.control import bp as control_bp
from functions.documents import bp as documents_bp
from functions.http import bp as http_bp
from functions.queues import bp as queues_bp
from functions.status import bp as status_bp
from functions.timers import bp as timers_bp

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(timers_bp)
app.register_functions(queues_bp)
app.register_functions(http_bp)
app.register_functions(admin_bp)
app.register_functions(control_bp)
app.register_functions(admin_full_sync_bp)
app.register_functions(documents_bp)
app.register_functions(status_bp)
