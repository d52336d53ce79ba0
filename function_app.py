"""The Azure Functions (v2) app: the HTTP route table and one Blueprint per queue and timer trigger, nothing else."""

import azure.functions as func

from functions import http
from functions.queue import executions as queued_executions
from functions.queue import poison
from functions.timer import cleanup, recovery, schedules

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

for blueprint_module in (http, queued_executions, poison, cleanup, recovery, schedules):
    app.register_functions(blueprint_module.bp)
