# Developer shortcuts. Benchmarks are run by hand, never in CI; they print their figures.
PYTHON ?= python
DATA ?= ../shared/data

.PHONY: test bench bench-run bench-memory bench-import bench-accuracy bench-embedding bench-spans bench-css bench-autoannotator

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
