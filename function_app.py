"""The Azure Functions (v2) app: one Blueprint per file in functions/, and nothing else."""

import azure.functions as func

from functions.http import executions, health, scripts, workflows
from functions.queue import executions as queued_executions
from functions.queue import poison
from functions.timer import cleanup, recovery

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

for blueprint_module in (workflows, executions, scripts, health, queued_executions, poison, cleanup, recovery):
    app.register_functions(blueprint_module.bp)
