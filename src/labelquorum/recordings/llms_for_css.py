"""Recorded zero-shot outputs of 13 LLMs on 13 computational-social-science tasks, as
replay judgements.

The recordings come from Ziems et al., "Can Large Language Models Transform Computational
Social Science?" (Computational Linguistics 50(1), 2024): each task's items and prompt,
and every model's raw text output. They stay outside the package; point :func:`load` at a
directory holding

* ``items.csv`` — ``dataset, item_key, text, gold, prompt`` (one prompt per task; options
  lettered ``A: Name``, or a True/False question);
* ``predictions.csv`` — ``dataset, item_key, row_index, model, gold_in_answer_file,
  raw_output`` (the unparsed model text);
* ``label_map.csv`` — ``dataset, gold_value_lowercase, maps_to`` (gold strings to the
  option letters or words of the prompt), optional.

Usage::

    from labelquorum.recordings import llms_for_css as css

    tasks = css.load("../shared/data/llms_for_css")
    rec = tasks["emotion"]
    rec.labels          # ('Fear', 'Anger', 'Joy', 'Sadness', 'Love', 'Surprise')
    rec.answers         # one row per recorded call: item, model, raw, label, error, tokens
    css.failure_rates(tasks)            # per task and model: parsed, failed, missing, ...
    replay = css.replay_frame(rec, prices={"flan-ul2": (0.3, 0.3)})  # for `replay`
    project = css.build_project(rec, "emotion-project", models=["flan-ul2", "chatgpt"],
                                prices=PRICES, policy={"type": "chain",
                                                       "links": ["flan-ul2", "chatgpt"]})
    project.run()

**Label set.** A task's labels are the option names of its prompt (``A: Fear`` gives
``Fear``; a parenthesised description or example after the name is dropped), or
``True``/``False`` for the yes/no tasks, whose prompts list no lettered options.

**Gold.** An item's gold is matched, after normalisation, to an option name, an option
letter, ``true``/``false``/``yes``/``no`` (yes/no tasks), or through ``label_map.csv``
(``discourse``'s ``question`` maps to letter ``A``, ``persuasion``'s ``1.0`` to ``True``).
Option names win over ``label_map.csv``: the prompt is what the models saw (on
``indian_english_dialect`` the map swaps the letters of the two resumptive-pronoun options
against the prompt). A gold value that ``label_map.csv`` sends to a letter the prompt does
not offer becomes an extra label that no model can give (``indian_english_dialect``'s
``None of the Above``, 117 of 266 items). Any other gold value that matches nothing is a
:class:`~labelquorum.errors.RecordingError`.

**Parsing an output** (:func:`parse_output`). Normalisation: ``&`` characters (padding
left by the collection scripts) are removed; case, punctuation, quotes and whitespace are
ignored. Then, in order:

1. the whole output is an option letter, an option name, or (yes/no tasks) one of
   ``true, false, yes, no`` — ``"B"``, ``"anger"``, ``"False."``;
2. otherwise, the text before the first ``.``, ``:``, ``!`` or line break is one of those —
   ``"E: LoveFFFF"`` gives ``E``, ``"False. While humor is subjective..."`` gives False;
3. otherwise the output is a **failed call**: counted, recorded with its error, never a
   label. Refusals (``"I'm sorry, but as an AI language model..."``), run-together
   answers (``"FalseTrueTrueFalse"``) and empty outputs land here.

**Misaligned rows.** Each prediction row repeats the gold of its answer file; a row whose
answer-file gold does not map to the item's gold is dropped and counted as
``misaligned`` (the answer belonged to another item — the case of ``roberta`` on
``persuasion``).

**Missing rows.** Items a model has no row for (incomplete answer files) are counted as
``missing``; the replay annotator abstains on them.

**Cost.** No token counts were recorded, so tokens are estimated from lengths:
``ceil((len(prompt) + len(text)) / CHARS_PER_TOKEN)`` input tokens and
``max(1, ceil(len(raw_output) / CHARS_PER_TOKEN))`` output tokens, with
``CHARS_PER_TOKEN = 4`` (the usual rule of thumb for English under BPE tokenizers). A price
is ``(USD per 1M input tokens, USD per 1M output tokens)``.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import RecordingError

CHARS_PER_TOKEN = 4.0
BOOLEAN_LABELS = ("True", "False")
_BOOL_ALIASES = {"true": "True", "yes": "True", "false": "False", "no": "False"}
_OPTION = re.compile(r"^\s*([A-Z])\s*:\s*(.+?)\s*$", re.MULTILINE)
_FIRST_SEGMENT = re.compile(r"^([^.:!\n]+?)\s*[.:!\n]")
Price = tuple[float, float]


def normalise(text: str) -> str:
    """Lower case; quotes, punctuation and ``&`` dropped; whitespace collapsed."""
    text = str(text).replace("&", " ").lower()
    text = re.sub(r"[^\w\s]|_", " ", text)
    return " ".join(text.split())


@dataclass(frozen=True)
class LabelSet:
    """A task's labels and every spelling that maps to one of them."""

    labels: tuple[str, ...]
    letters: dict[str, str]  # option letter -> label ({} for yes/no tasks)
    aliases: dict[str, str]  # normalised spelling -> label

    @classmethod
    def from_prompt(cls, prompt: str) -> LabelSet:
        options = [(m.group(1), _option_name(m.group(2))) for m in _OPTION.finditer(prompt)]
        if len(options) >= 2:
            letters = dict(options)
            aliases = {normalise(name): name for _, name in options}
            aliases.update({letter.lower(): name for letter, name in options})
            return cls(tuple(name for _, name in options), letters, aliases)
        return cls(BOOLEAN_LABELS, {}, dict(_BOOL_ALIASES))

    def match(self, text: str) -> str | None:
        return self.aliases.get(normalise(text))


def _option_name(text: str) -> str:
    """``Article Omission (e.g., '...')`` -> ``Article Omission``."""
    return re.sub(r"\s*\(.*$", "", text).strip()


def parse_output(raw: str, labels: LabelSet) -> tuple[str | None, str | None]:
    """One raw output -> ``(label, None)``, or ``(None, error)`` for a failed call."""
    text = str(raw).replace("&", "").strip()
    if not text:
        return None, "empty output"
    found = labels.match(text)
    if found is not None:
        return found, None
    first = _FIRST_SEGMENT.match(text)
    if first is not None:
        found = labels.match(first.group(1))
        if found is not None:
            return found, None
    shown = text if len(text) <= 60 else text[:57] + "..."
    return None, f"no label of the task in the output {shown!r}"


@dataclass(frozen=True)
class TaskRecording:
    """One task: its items with gold, and every model's recorded call.

    ``items``: ``item, text, gold`` (gold is a label of ``labels``). ``answers``: one row
    per aligned recorded call — ``item, model, raw, label`` (empty for a failed call),
    ``error`` (empty when parsed), ``tokens_in, tokens_out``. ``misaligned``: rows dropped
    per model because their answer file's gold is not the item's.
    """

    name: str
    prompt: str
    label_set: LabelSet
    items: pd.DataFrame
    answers: pd.DataFrame
    misaligned: dict[str, int]

    @property
    def labels(self) -> tuple[str, ...]:
        return self.label_set.labels

    @property
    def models(self) -> list[str]:
        return list(dict.fromkeys(self.answers["model"]))

    def costs(self, prices: dict[str, Price], models: list[str] | None = None) -> pd.Series:
        """Estimated USD per recorded call (aligned with ``answers``) of ``models`` (default:
        every model recorded); other models' calls are NaN."""
        models = self.models if models is None else models
        missing = [m for m in models if m not in prices]
        if missing:
            raise RecordingError(f"no price for model(s) {', '.join(missing)} of task "
                                 f"{self.name!r}; give prices[model] = (USD per 1M input "
                                 "tokens, USD per 1M output tokens)")
        priced = self.answers["model"].where(self.answers["model"].isin(models))
        p_in = priced.map(lambda m: prices[m][0] if isinstance(m, str) else np.nan)
        p_out = priced.map(lambda m: prices[m][1] if isinstance(m, str) else np.nan)
        return (self.answers["tokens_in"] * p_in.astype(float)
                + self.answers["tokens_out"] * p_out.astype(float)) / 1e6

    def cost_matrix(self, prices: dict[str, Price], models: list[str]) -> np.ndarray:
        """(items, models) estimated USD of each recorded call; a model's mean call cost
        where it has no row (what its replay annotator charges there)."""
        costs = self.costs(prices, models)
        pos = {item: i for i, item in enumerate(self.items["item"])}
        out = np.full((len(self.items), len(models)), np.nan)
        for j, model in enumerate(models):
            mine = self.answers["model"] == model
            out[self.answers.loc[mine, "item"].map(pos).to_numpy(dtype=np.int64), j] = costs[mine].to_numpy()
            out[np.isnan(out[:, j]), j] = float(costs[mine].mean()) if mine.any() else 0.0
        return out

    def failed_matrix(self, models: list[str]) -> np.ndarray:
        """(items, models): True where the recorded call failed (no label in the output)."""
        pos = {item: i for i, item in enumerate(self.items["item"])}
        out = np.zeros((len(self.items), len(models)), dtype=bool)
        for j, model in enumerate(models):
            rows = self.answers[(self.answers["model"] == model) & (self.answers["error"] != "")]
            out[rows["item"].map(pos).to_numpy(dtype=np.int64), j] = True
        return out

    def matrix(self, models: list[str]) -> np.ndarray:
        """(items, models) label indices; -1 where a model failed or has no row."""
        index = {lab: i for i, lab in enumerate(self.labels)}
        pos = {item: i for i, item in enumerate(self.items["item"])}
        out = np.full((len(self.items), len(models)), -1, dtype=np.int64)
        for j, model in enumerate(models):
            rows = self.answers[(self.answers["model"] == model) & (self.answers["label"] != "")]
            out[rows["item"].map(pos).to_numpy(dtype=np.int64), j] = rows["label"].map(index).to_numpy()
        return out


def _read(path: Path, columns: tuple[str, ...]) -> pd.DataFrame:
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise RecordingError(f"no file at {path}; the recordings directory needs items.csv "
                             "and predictions.csv (label_map.csv is optional)") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise RecordingError(f"cannot read {path} as CSV: {exc}") from None
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise RecordingError(f"{path} has no column(s) {', '.join(missing)}; expected "
                             f"{', '.join(columns)}; found {', '.join(df.columns)}")
    return df


def _unquote(value: str) -> str:
    """Undo the CSV-style double quoting some answer files carry around gold strings."""
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1].replace('""', '"')
    return value


def _map_key(value: str) -> str:
    """How gold values are looked up in ``label_map.csv``: unquoted, trimmed, lower case
    (punctuation kept: ``-1`` and ``1`` are different gold values)."""
    return " ".join(_unquote(value).lower().split())


def _gold_mapper(task: str, labels: LabelSet, label_map: dict[str, str]):
    def gold(value: str) -> str | None:
        value = _unquote(value)
        found = labels.match(value)
        if found is None and _map_key(value) in label_map:
            target = label_map[_map_key(value)]
            found = labels.letters.get(target) or labels.match(target)
        if found is None and not labels.letters:
            found = _BOOL_ALIASES.get(normalise(value))
        return found

    return gold


def _with_unoffered_gold(labels: LabelSet, gold: pd.Series,
                         label_map: dict[str, str]) -> LabelSet:
    """Gold values that ``label_map.csv`` sends to a letter the prompt never offered (the
    dialect task's ``None of the Above`` -> ``W``) become extra labels no model can say."""
    extra: dict[str, str] = {}
    for value in dict.fromkeys(_unquote(g) for g in gold):
        target = label_map.get(_map_key(value))
        if (labels.letters and labels.match(value) is None and target is not None
                and len(target) == 1 and target not in labels.letters):
            extra.setdefault(target, value)
    if not extra:
        return labels
    aliases = dict(labels.aliases)
    aliases.update({normalise(v): v for v in extra.values()})
    aliases.update({k.lower(): v for k, v in extra.items()})
    return LabelSet(labels.labels + tuple(extra.values()), labels.letters | extra, aliases)


def load(directory: str | Path, tasks: list[str] | None = None) -> dict[str, TaskRecording]:
    """Read and parse the recordings; ``tasks`` limits which (default: all, file order)."""
    root = Path(directory)
    items = _read(root / "items.csv", ("dataset", "item_key", "text", "gold", "prompt"))
    preds = _read(root / "predictions.csv", ("dataset", "item_key", "model",
                                             "gold_in_answer_file", "raw_output"))
    label_map: dict[str, dict[str, str]] = {}
    if (root / "label_map.csv").exists():
        lm = _read(root / "label_map.csv", ("dataset", "gold_value_lowercase", "maps_to"))
        for row in lm.itertuples(index=False):
            label_map.setdefault(row.dataset, {})[_map_key(row.gold_value_lowercase)] \
                = row.maps_to.strip()
    names = list(dict.fromkeys(items["dataset"]))
    if tasks is not None:
        unknown = [t for t in tasks if t not in names]
        if unknown:
            raise RecordingError(f"unknown task(s) {', '.join(unknown)}; tasks in "
                                 f"{root / 'items.csv'}: {', '.join(names)}")
        names = [t for t in names if t in tasks]
    by_task = dict(tuple(preds.groupby("dataset", sort=False)))
    return {name: _task(name, items[items["dataset"] == name],
                        by_task.get(name, preds.iloc[:0]), label_map.get(name, {}))
            for name in names}


def _task(name: str, items: pd.DataFrame, preds: pd.DataFrame,
          label_map: dict[str, str]) -> TaskRecording:
    prompts = items["prompt"].unique()
    if len(prompts) != 1:
        raise RecordingError(f"task {name!r} has {len(prompts)} different prompts; the "
                             "parser expects one prompt (one label set) per task")
    prompt = prompts[0]
    labels = _with_unoffered_gold(LabelSet.from_prompt(prompt), items["gold"], label_map)
    to_gold = _gold_mapper(name, labels, label_map)
    gold = items["gold"].map(to_gold)
    if gold.isna().any():
        bad = items.loc[gold.isna(), ["item_key", "gold"]].iloc[0]
        raise RecordingError(f"task {name!r}, item {bad.item_key!r}: gold {bad.gold!r} matches "
                             f"none of the labels ({', '.join(labels.labels)}), their option "
                             "letters or label_map.csv; add a label_map.csv row for it")
    if items["item_key"].duplicated().any():
        dup = items.loc[items["item_key"].duplicated(), "item_key"].iloc[0]
        raise RecordingError(f"task {name!r}: item_key {dup!r} appears twice in items.csv")
    item_frame = pd.DataFrame({"item": items["item_key"].to_numpy(),
                               "text": items["text"].to_numpy(), "gold": gold.to_numpy()})
    gold_of = dict(zip(item_frame["item"], item_frame["gold"]))
    text_len = dict(zip(item_frame["item"], item_frame["text"].str.len()))
    preds = preds[preds["item_key"].isin(gold_of)]
    aligned = preds["gold_in_answer_file"].map(to_gold).to_numpy() == \
        preds["item_key"].map(gold_of).to_numpy()
    misaligned = preds.loc[~aligned, "model"].value_counts().to_dict()
    preds = preds[aligned].drop_duplicates(subset=["item_key", "model"], keep="last")
    parsed = [parse_output(raw, labels) for raw in preds["raw_output"]]
    answers = pd.DataFrame({
        "item": preds["item_key"].to_numpy(),
        "model": preds["model"].to_numpy(),
        "raw": preds["raw_output"].to_numpy(),
        "label": [lab or "" for lab, _ in parsed],
        "error": [err or "" for _, err in parsed],
        "tokens_in": [math.ceil((len(prompt) + text_len[i]) / CHARS_PER_TOKEN)
                      for i in preds["item_key"]],
        "tokens_out": [max(1, math.ceil(len(str(r)) / CHARS_PER_TOKEN))
                       for r in preds["raw_output"]],
    })
    return TaskRecording(name, prompt, labels, item_frame, answers.reset_index(drop=True),
                         {str(k): int(v) for k, v in misaligned.items()})


def failure_rates(tasks: dict[str, TaskRecording]) -> pd.DataFrame:
    """Per task and model: items, recorded (aligned) calls, parsed, failed, missing and
    misaligned rows, and ``failure_rate`` = failed / recorded (NaN with no call recorded).
    Every model recorded on any of the tasks is listed for every task."""
    rows = []
    everyone = list(dict.fromkeys(m for rec in tasks.values()
                                  for m in [*rec.models, *rec.misaligned]))
    for name, rec in tasks.items():
        for model in everyone:
            mine = rec.answers[rec.answers["model"] == model]
            failed = int((mine["error"] != "").sum())
            rows.append({"task": name, "model": model, "items": len(rec.items),
                         "recorded": len(mine), "parsed": len(mine) - failed, "failed": failed,
                         "missing": len(rec.items) - len(mine),
                         "misaligned": rec.misaligned.get(model, 0),
                         "failure_rate": failed / len(mine) if len(mine) else float("nan")})
    return pd.DataFrame(rows, columns=["task", "model", "items", "recorded", "parsed", "failed",
                                       "missing", "misaligned", "failure_rate"])


def replay_frame(rec: TaskRecording, prices: dict[str, Price] | None = None,
                 models: list[str] | None = None) -> pd.DataFrame:
    """The ``replay`` annotator's file: ``item, annotator, label, error[, cost]`` — a failed
    call has an empty label and its error; ``cost`` (estimated USD) when prices are given."""
    answers = rec.answers
    if models is not None:
        answers = answers[answers["model"].isin(models)]
    out = pd.DataFrame({"item": answers["item"], "annotator": answers["model"],
                        "label": answers["label"], "error": answers["error"]})
    if prices is not None:
        out["cost"] = rec.costs(prices, list(dict.fromkeys(answers["model"])))[answers.index]
    return out.reset_index(drop=True)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise RecordingError(f"cannot write {value!r} ({type(value).__name__}) into the config")


def _policy_toml(policy: dict[str, Any]) -> str:
    lines, tables = ["[policy]"], []
    for key, value in policy.items():
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            tables += [(key, v) for v in value]
        else:
            lines.append(f"{key} = {_toml_value(value)}")
    for key, table in tables:
        lines.append(f"\n[[policy.{key}]]")
        lines += [f"{k} = {_toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


def project_config(rec: TaskRecording, models: list[str], prices: dict[str, Price],
                   policy: dict[str, Any], *, seed: int = 0) -> str:
    """The ``labelquorum.toml`` text of a project over this task's recordings: one
    ``replay`` annotator per model (kind ``llm``, reading ``recorded.csv``), priced at its
    mean estimated cost per call (the reservation; each call is charged its own cost)."""
    unknown = [m for m in models if m not in rec.models]
    if unknown:
        raise RecordingError(f"task {rec.name!r} has no recordings of {', '.join(unknown)}; "
                             f"models recorded: {', '.join(rec.models)}")
    costs = rec.costs(prices, models)
    parts = [f"[project]\nname = {_toml_value('llms_for_css-' + rec.name)}\nseed = {seed}\n",
             "[task]\nlabels = " + _toml_value(list(rec.labels)) + "\n"]
    for model in models:
        mean = float(costs[rec.answers["model"] == model].mean())
        parts.append(f"[annotators.{_toml_value(model)}]\ntype = \"replay\"\n"
                     f"path = \"recorded.csv\"\nkind = \"llm\"\ncost_per_call = {mean!r}\n")
    parts.append(_policy_toml(policy))
    return "\n".join(parts)


def build_project(rec: TaskRecording, directory: str | Path, *, models: list[str],
                  prices: dict[str, Price], policy: dict[str, Any], seed: int = 0,
                  items: list[str] | None = None, split: str | None = None):
    """Create a labelquorum project for one task: the config of :func:`project_config`,
    ``recorded.csv`` (the replay file, with each call's estimated cost), and the items
    (``items`` limits which) imported with their gold (role ``evaluation``; ``split`` as
    in :meth:`~labelquorum.Project.import_dataframe`). Returns the open project."""
    from ..project import init_project

    root = Path(directory)
    project = init_project(root, config_text=project_config(rec, models, prices, policy,
                                                            seed=seed))
    replay_frame(rec, prices, models).to_csv(root / "recorded.csv", index=False)
    frame = rec.items if items is None else rec.items[rec.items["item"].isin(set(items))]
    project.import_dataframe(frame.rename(columns={"item": "id"}), source=f"llms_for_css:{rec.name}",
                             id_column="id", gold_column="gold", split=split)
    return project


__all__ = ["BOOLEAN_LABELS", "CHARS_PER_TOKEN", "LabelSet", "TaskRecording", "build_project",
           "failure_rates", "load", "normalise", "parse_output", "project_config",
           "replay_frame"]
