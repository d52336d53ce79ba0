# The two commands a new user needs; both install what is missing first (scripts/bootstrap.sh).
.PHONY: run test lint bench

run:
	@bash scripts/run.sh

test:
	@bash scripts/test.sh

lint:
	@bash scripts/bootstrap.sh && .venv/bin/ruff check . && .venv/bin/mypy

bench:
	@bash scripts/bootstrap.sh && for f in benchmarks/*.py; do .venv/bin/python $$f; done
