# The two commands a new user needs; both install what is missing first (scripts/bootstrap.sh).
.PHONY: run test lint lock bench package check-workspace example-form rotate-secrets token

# `make run PORT=7072 AZURITE_PORTS=10010,10011,10012` when the default ports (7071; 10000-10002) are taken.
run:
	@bash scripts/run.sh $(if $(PORT),--port $(PORT)) $(if $(AZURITE_PORTS),--azurite-ports $(AZURITE_PORTS))

# Lint (lock files, ruff, mypy), then the whole suite.
test:
	@bash scripts/test.sh

lint:
	@bash scripts/lint.sh

# Rewrite the lock files from requirements*.in; `make lock UPGRADE=1` also moves every pin to its newest version.
lock:
	@bash scripts/lock.sh $(if $(UPGRADE),--upgrade)

bench:
	@bash scripts/bootstrap.sh && for f in benchmarks/*.py; do .venv/bin/python $$f; done

# The deployment zip for `az functionapp deployment source config-zip --build-remote true` (README, Deploy to Azure):
# dist/conduit-<git short sha>.zip, or `make package OUTPUT=path.zip`. Honours .funcignore (gitignore syntax).
package:
	@bash scripts/bootstrap.sh && .venv/bin/python scripts/package.py $(if $(OUTPUT),--output $(OUTPUT))

# A workspace's load report before deploying it: modules, functions, every load error and skipped path with its
# reason; exit 1 on load errors. `make check-workspace WORKSPACE=path` (default: CONDUIT_WORKSPACE, else ./workspace).
check-workspace:
	@bash scripts/bootstrap.sh && .venv/bin/python scripts/load_report.py $(WORKSPACE)

# The example form (platform/forms/plan_trip.json: a city dropdown that depends on the country) on a running
# `make run`; run again to update it. `make example-form PORT=7072` for another port.
example-form:
	@bash scripts/bootstrap.sh && PORT=$(or $(PORT),7071) .venv/bin/python scripts/example_form.py

# Re-encrypt every stored config secret with the first key of CONDUIT_SECRETS_KEY (README, Config and secrets: key
# rotation). Settings from the environment, else local.settings.json. Idempotent; exit 1 while anything is left.
rotate-secrets:
	@bash scripts/bootstrap.sh && .venv/bin/python scripts/rotate_secrets.py

# A development JWT (HS256, CONDUIT_JWT_SECRET from local.settings.json) and a curl line using it:
# `make token ARGS="--user alice --org org-a --role OrgAdmin"`.
token:
	@bash scripts/bootstrap.sh && .venv/bin/python scripts/mint_token.py $(ARGS)
