"""Golden probes in the run: what they cost in time, and how soon the monitor notices a drop.

The packaged SST-2 sample (2,000 sentences), 5 % of it control gold, through a cascade of
VADER, then TF-IDF trained on 200 seed sentences, then a simulated LLM (accuracy 0.9,
$0.001 a call). The items are imported in two halves, each run on its own; before the
second run the LLM's "provider" degrades it to ``--after`` accuracy (a new version).

Prints the wall time of the two runs with ``quality.control_rate`` 0 and the default 0.05,
the probes each annotator answered, and, for the LLM, how many golden answers of its new
version came before the first quality-drop alert.

    python benchmarks/golden_probes.py [--after 0.6]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd

from labelquorum import init_project, open_project
from labelquorum.quality.watch import golden_quality, stored_alerts

DATA = Path(__file__).parent.parent / "src" / "labelquorum" / "data" / "sst2_sample.csv"

CONFIG = """
[project]
name = "golden-probes"
seed = 1
[task]
labels = ["negative", "positive"]
[annotators.lexicon]
type = "vader"
[annotators.model]
type = "tfidf"
[annotators.llm]
type = "simulated"
stands_for = "llm"
accuracy = {accuracy}
cost_per_call = 0.001
[policy]
type = "cascade"
[[policy.tiers]]
annotators = ["lexicon"]
min_confidence = 0.9
[[policy.tiers]]
annotators = ["model"]
min_confidence = 0.8
[[policy.tiers]]
annotators = ["llm"]
[quality]
control_rate = {rate}
"""


def one(root: Path, rate: float, after: float) -> dict:
    df = pd.read_csv(DATA)
    half = len(df) // 2
    project = init_project(root, config_text=CONFIG.format(accuracy=0.9, rate=rate))
    t0 = time.perf_counter()
    project.import_dataframe(df.iloc[:half], id_column="id", gold_column="label",
                             split="seed=200,control=50")
    project.run()
    (root / "labelquorum.toml").write_text(CONFIG.format(accuracy=after, rate=rate))
    project.close()
    project = open_project(root)
    project.import_dataframe(df.iloc[half:], id_column="id", gold_column="label",
                             split="control=50")
    report = project.run()
    seconds = time.perf_counter() - t0
    alerts = stored_alerts(project.store)
    table = golden_quality(project.store, project.task, project.config.quality)
    out = {"seconds": seconds, "probes_run2": report.probes,
           "golden": table.set_index("annotator")[["golden", "theta"]].to_dict("index"),
           "cost": project.status().total_cost}
    llm = alerts[(alerts["annotator"] == "llm")]
    changed = llm[llm["kind"] == "version_change"]
    drops = llm[llm["kind"] == "quality_drop"]
    if len(changed) and len(drops):
        out["answers_to_alert"] = int(drops["position"].iloc[0] - changed["position"].iloc[0] + 1)
    project.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--after", type=float, default=0.6,
                    help="the LLM's accuracy after its provider update")
    args = ap.parse_args()
    for rate in (0.0, 0.05):
        with tempfile.TemporaryDirectory() as tmp:
            result = one(Path(tmp) / "p", rate, args.after)
        print(f"control_rate {rate}: {result['seconds']:.1f} s for both runs, cost "
              f"${result['cost']:.3f}; probes in run 2 {result['probes_run2']}; golden "
              f"answers per annotator (current version) {result['golden']}; golden answers "
              f"of the degraded LLM before its first alert: "
              f"{result.get('answers_to_alert', 'no alert')}")


if __name__ == "__main__":
    main()
