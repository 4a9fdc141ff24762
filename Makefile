# The two commands of the README: `make run` and `make test`. Both create .venv from the lock file first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: run test serve dev check lock clean bench

run: $(INSTALLED)
	$(BIN)/newsimpact run --config newsimpact.toml

test: $(INSTALLED)
	# Older DuckDB and SQLAlchemy readers of the published file, each in its own venv (tests/readers).
	bash tests/readers/make_envs.sh $(PYTHON)
	$(BIN)/python -m pytest

# The nightly schedule (Dagster daemon) and the UI at http://127.0.0.1:3000, on the sample config.
serve: $(INSTALLED)
	$(BIN)/newsimpact serve --config newsimpact.toml

# Dagster's development mode (re-parses dbt on reload), at http://127.0.0.1:3000
dev: $(INSTALLED)
	$(BIN)/newsimpact dev --config newsimpact.toml

# The Great Expectations suites alone, on the warehouse as it is.
check: $(INSTALLED)
	$(BIN)/newsimpact check --config newsimpact.toml

# The benchmark (docs/performance.md): SCALE=tiny|small|medium|full, or TICKERS= YEARS= DOCS= NIGHTS=.
# Inputs and the bench warehouse go to bench-data/<scale>/ (git-ignored); rewrites docs/performance.md.
SCALE ?= small
bench: $(INSTALLED)
	$(BIN)/python -m newsimpact.bench --scale $(SCALE) \
		$(if $(TICKERS),--tickers $(TICKERS)) $(if $(YEARS),--years $(YEARS)) \
		$(if $(DOCS),--docs $(DOCS)) $(if $(NIGHTS),--nights $(NIGHTS))

$(INSTALLED): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	@# The lock is a complete, hashed resolution: install exactly it, without re-resolving (-qq: errors only).
	$(BIN)/python -m pip install --quiet --quiet --disable-pip-version-check --no-deps --require-hashes -r requirements.lock
	$(BIN)/python -m pip install --quiet --quiet --disable-pip-version-check --no-deps -e .
	touch $@

# Re-pin every dependency after editing pyproject.toml (needs `uv`: pip install uv).
lock:
	uv pip compile pyproject.toml --extra dev --universal --python-version 3.11 \
		--generate-hashes --output-file requirements.lock

clean:
	rm -rf $(VENV) .venv-readers bench-data warehouse/*.duckdb warehouse/.newsimpact warehouse/newsimpact_data_docs dbt_project/target
