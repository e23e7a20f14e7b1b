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
	r-cran-data.table ncbi-blast+ vsearch microbiomeutil-data \
	slurmctld slurmd slurm-client munge

.PHONY: setup system-deps run test lint dry-run clean toy-checkpoints

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

# Rebuild resources/toy_checkpoints (the trained weights in the toy mirror's pretrainedmodels.zip
# and ensemble.zip) from a toy run that starts from random weights. Needed only after a change
# of the toy data or the toy model dimensions.
TOY_CKPT_RUN := results/toy_checkpoints
TOY_ENSEMBLE_TARGET := $(TOY_CKPT_RUN)/finetune/C/IBD/models/scores.tsv
TOY_ENSEMBLE_FLAG := --ensemble $(TOY_CKPT_RUN)/finetune/C/IBD/models
toy-checkpoints: setup
	$(BIN)/snakemake --cores $(CORES) $(TOY_CKPT_RUN)/pretrain/discriminator/metrics.tsv $(TOY_ENSEMBLE_TARGET) \
		--configfile config/toy.yaml config/toy_checkpoints.yaml
	$(BIN)/python -m microbiome_lm toy-pack-checkpoints --discriminators $(TOY_CKPT_RUN)/pretrain/discriminator \
		$(TOY_ENSEMBLE_FLAG) --out resources/toy_checkpoints

clean:
	rm -rf results .snakemake
