# Developer shortcuts. Benchmarks are run by hand, never in CI; they print their figures.
PYTHON ?= python
DATA ?= ../shared/data

.PHONY: test bench bench-run bench-memory bench-import bench-accuracy bench-embedding bench-spans bench-css bench-autoannotator bench-auto bench-active bench-quality bench-celeba bench-million

test:
	scripts/test

bench: bench-run bench-import bench-accuracy bench-embedding bench-css
	$(PYTHON) benchmarks/embedding_backends.py --data $(DATA)

bench-run:
	$(PYTHON) benchmarks/run_overhead.py

# peak memory of runs at 100,000 to 1,000,000 items (minutes)
bench-memory:
	$(PYTHON) benchmarks/run_memory.py

bench-import:
	$(PYTHON) benchmarks/import_speed.py

bench-accuracy:
	$(PYTHON) benchmarks/accuracy.py --data $(DATA)

bench-embedding:
	$(PYTHON) benchmarks/embedding_in_run.py --data $(DATA)

# needs the spacy extra
bench-spans:
	$(PYTHON) benchmarks/spans_conll.py --data $(DATA)

bench-css:
	$(PYTHON) benchmarks/llms_for_css.py --data $(DATA)

# the AutoAnnotator shape against the LLM alone, 5 splits (about an hour on 2 cores);
# POLICY=file.toml compares another policy with the same harness
bench-autoannotator:
	$(PYTHON) benchmarks/autoannotator.py --data $(DATA) $(if $(POLICY),--policy-config $(POLICY))

# the auto policy on the 13 recorded llms_for_css tasks, 20 splits (about 15 minutes)
bench-auto:
	$(PYTHON) benchmarks/auto_llms.py --data $(DATA) --splits 20

# people's labels bought most-uncertain first against random (active learning)
bench-active:
	$(PYTHON) benchmarks/active_people.py --data $(DATA)

# golden-question quality (zheng_sentiment) and label issues (sst2 with flipped labels)
bench-quality:
	$(PYTHON) benchmarks/golden_theta.py --data $(DATA)
	$(PYTHON) benchmarks/label_issues.py --data $(DATA)

# the CelebA VLM study through a project: the paper's 79.5 % / 89.1 %, then per-attribute
# trust of the VLM on 3 calibration splits of 10 % and 20 % (about 12 minutes)
bench-celeba:
	$(PYTHON) benchmarks/celeba_vlm.py --data $(DATA) --splits 3

# 1,000,000 items: import, run, status, export (csv, jsonl, parquet) per stage, with peak
# memory and the database's raw write rate; DB=postgres starts a throwaway server (long)
DB ?= sqlite
bench-million:
	$(PYTHON) benchmarks/million.py --items 1000000 --db $(DB)
