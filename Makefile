# Two entry points for a fresh machine (README quick start):
#   make run   - set up, then run the workflow on the embedded toy data
#   make test  - set up, then lint the workflow and run the whole test suite
# Setup = Debian packages (R + DADA2, BLAST, vsearch, the RDP 16S set; only as root) and a venv.

VENV ?= .venv
PYTHON ?= python3
CORES ?= 2
BIN := $(abspath $(VENV))/bin
export PATH := $(BIN):$(PATH)

SYSTEM_PACKAGES := r-base-core r-bioc-dada2 r-bioc-biostrings r-cran-optparse r-cran-jsonlite \
	r-cran-data.table ncbi-blast+ vsearch microbiomeutil-data

.PHONY: setup system-deps run test lint dry-run clean

setup: system-deps $(VENV)/.installed

$(VENV)/.installed: pyproject.toml requirements/constraints-cpu.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c requirements/constraints-cpu.txt -e ".[workflow,interpret,embed,r,dev]"
	touch $@

system-deps:
	@missing=$$(for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then \
		echo "installing Debian packages: $$missing"; \
		apt-get -o DPkg::Lock::Timeout=600 update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
			--no-install-recommends $$missing >/dev/null; \
	else \
		echo "warning: not root, so these Debian packages are not installed: $$missing"; \
		echo "         R, BLAST and taxonomy steps need them (sudo apt-get install --no-install-recommends $$missing);"; \
		echo "         tests that need them are skipped with that reason."; \
	fi

run: setup
	$(BIN)/snakemake --cores $(CORES) --configfile config/toy.yaml

lint: setup
	$(BIN)/snakemake --lint
	$(BIN)/snakefmt --check Snakefile rules

dry-run: setup
	$(BIN)/snakemake -n --quiet rules --cores $(CORES)
	$(BIN)/snakemake -n --quiet rules --cores $(CORES) --configfile config/toy.yaml

test: lint dry-run
	$(BIN)/python -m pytest -q --timeout 900 tests

clean:
	rm -rf results .snakemake
