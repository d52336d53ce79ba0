"""The Azure Functions (v2) app: one Blueprint per file in functions/, and nothing else."""

import azure.functions as func

from functions.http import executions, health, scripts, workflows

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

for blueprint_module in (workflows, executions, scripts, health):
    app.register_functions(blueprint_module.bp)
