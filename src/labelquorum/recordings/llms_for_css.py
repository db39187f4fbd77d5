"""Recorded zero-shot outputs of 13 LLMs on 13 computational-social-science tasks, as
replay judgements.

The recordings come from Ziems et al., "Can Large Language Models Transform Computational
Social Science?" (Computational Linguistics 50(1), 2024): each task's items and prompt,
and every model's raw text output. They stay outside the package; point :func:`load` at a
directory holding

* ``items.csv`` — ``dataset, item_key, text, gold, prompt`` (the prompt the models saw:
  options lettered ``A: Name``, or a True/False question; one prompt per task, or one per
  item);
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

**A prompt per item.** Where the prompt differs by item (the item's text, a stance target
or a speaker's name inside it), each item's options are read from its own prompt; lines of
the item's text quoted in the prompt (``A: Close it.`` in a dialogue) are never taken for
options. The options must name the same labels on every item — their letters, order and
descriptions may differ, and an item's outputs and letter-valued gold are read under its
own letters (:meth:`TaskRecording.label_set_of`); the labels keep the first item's order
and spelling. Items offering other options (another set of names, or a True/False
question among lettered ones) are a :class:`~labelquorum.errors.RecordingError` that
names one item of each.

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
``ceil((len(prompt) + len(text)) / CHARS_PER_TOKEN)`` input tokens (the text counted once
where the item's own prompt already quotes it) and
``max(1, ceil(len(raw_output) / CHARS_PER_TOKEN))`` output tokens, with
``CHARS_PER_TOKEN = 4`` (the usual rule of thumb for English under BPE tokenizers). A price
is ``(USD per 1M input tokens, USD per 1M output tokens)``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import RecordingError
from ._options import (
    BOOL_ALIASES,
    BOOLEAN_LABELS,
    LabelSet,
    item_label_sets,
    normalise,
    parse_output,
)

CHARS_PER_TOKEN = 4.0
Price = tuple[float, float]


@dataclass(frozen=True)
class TaskRecording:
    """One task: its items with gold, and every model's recorded call.

    ``items``: ``item, text, gold`` (gold is a label of ``labels``). ``answers``: one row
    per aligned recorded call — ``item, model, raw, label`` (empty for a failed call),
    ``error`` (empty when parsed), ``tokens_in, tokens_out``. ``misaligned``: rows dropped
    per model because their answer file's gold is not the item's.

    ``prompt`` is the task's prompt, or the first item's where the prompt differs by item;
    ``prompts`` then holds every item's (empty when one prompt is shared). ``label_set`` is
    read from ``prompt``; :meth:`label_set_of` gives the one an item's outputs were read
    with (its own option letters). ``item_label_sets`` lists only the items whose letters
    differ from ``label_set``'s.
    """

    name: str
    prompt: str
    label_set: LabelSet
    items: pd.DataFrame
    answers: pd.DataFrame
    misaligned: dict[str, int]
    prompts: dict[str, str] = field(default_factory=dict)
    item_label_sets: dict[str, LabelSet] = field(default_factory=dict)

    @property
    def labels(self) -> tuple[str, ...]:
        return self.label_set.labels

    @property
    def per_item_prompts(self) -> bool:
        """True where the prompt differs by item (the item's text or a name inside it)."""
        return bool(self.prompts)

    def label_set_of(self, item: str) -> LabelSet:
        """The label set an item's outputs are read with: the task's labels under the
        option letters of the item's own prompt."""
        return self.item_label_sets.get(item, self.label_set)

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


def _gold_mapper(task: str, label_map: dict[str, str]):
    def gold(value: str, labels: LabelSet) -> str | None:
        value = _unquote(value)
        found = labels.match(value)
        if found is None and _map_key(value) in label_map:
            target = label_map[_map_key(value)]
            found = labels.letters.get(target) or labels.match(target)
        if found is None and not labels.letters:
            found = BOOL_ALIASES.get(normalise(value))
        return found

    return gold


def _unoffered_gold(sets: list[LabelSet], gold: pd.Series,
                    label_map: dict[str, str]) -> dict[str, str]:
    """Gold values that ``label_map.csv`` sends to a letter their item's prompt never
    offered (the dialect task's ``None of the Above`` -> ``W``): letter -> gold value. They
    become extra labels no model can say."""
    extra: dict[str, str] = {}
    for labels, value in zip(sets, (_unquote(g) for g in gold)):
        target = label_map.get(_map_key(value))
        if (labels.letters and labels.match(value) is None and target is not None
                and len(target) == 1 and target not in labels.letters):
            extra.setdefault(target, value)
    return extra


def _with_extra(labels: LabelSet, extra: dict[str, str]) -> LabelSet:
    if not extra:
        return labels
    aliases = dict(labels.aliases)
    aliases.update({normalise(v): v for v in extra.values()})
    aliases.update({k.lower(): v for k, v in extra.items() if k not in labels.letters})
    letters = labels.letters | {k: v for k, v in extra.items() if k not in labels.letters}
    return LabelSet(labels.labels + tuple(v for v in dict.fromkeys(extra.values())
                                          if v not in labels.labels), letters, aliases)


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
    if items["item_key"].duplicated().any():
        dup = items.loc[items["item_key"].duplicated(), "item_key"].iloc[0]
        raise RecordingError(f"task {name!r}: item_key {dup!r} appears twice in items.csv")
    sets = item_label_sets(name, items)
    extra = _unoffered_gold(sets, items["gold"], label_map)
    extended: dict[int, LabelSet] = {}
    for labels in sets:
        extended.setdefault(id(labels), _with_extra(labels, extra))
    sets = [extended[id(labels)] for labels in sets]
    to_gold = _gold_mapper(name, label_map)
    gold = pd.Series([to_gold(v, labels) for v, labels in zip(items["gold"], sets)],
                     index=items.index, dtype=object)
    if gold.isna().any():
        bad = items.loc[gold.isna(), ["item_key", "gold"]].iloc[0]
        raise RecordingError(f"task {name!r}, item {bad.item_key!r}: gold {bad.gold!r} matches "
                             f"none of the labels ({', '.join(sets[0].labels)}), their option "
                             "letters or label_map.csv; add a label_map.csv row for it")
    keys = items["item_key"].tolist()
    prompts = dict(zip(keys, items["prompt"]))
    per_item = len(set(prompts.values())) > 1
    set_of = dict(zip(keys, sets))
    item_frame = pd.DataFrame({"item": items["item_key"].to_numpy(),
                               "text": items["text"].to_numpy(), "gold": gold.to_numpy()})
    gold_of = dict(zip(item_frame["item"], item_frame["gold"]))
    tokens_in = {key: math.ceil(_input_chars(prompts[key], text, per_item) / CHARS_PER_TOKEN)
                 for key, text in zip(keys, items["text"])}
    preds = preds[preds["item_key"].isin(gold_of)]
    aligned = np.array([to_gold(g, set_of[k]) == gold_of[k] for g, k
                        in zip(preds["gold_in_answer_file"], preds["item_key"])], dtype=bool)
    misaligned = preds.loc[~aligned, "model"].value_counts().to_dict()
    preds = preds[aligned].drop_duplicates(subset=["item_key", "model"], keep="last")
    parsed = [parse_output(raw, set_of[key])
              for raw, key in zip(preds["raw_output"], preds["item_key"])]
    answers = pd.DataFrame({
        "item": preds["item_key"].to_numpy(),
        "model": preds["model"].to_numpy(),
        "raw": preds["raw_output"].to_numpy(),
        "label": [lab or "" for lab, _ in parsed],
        "error": [err or "" for _, err in parsed],
        "tokens_in": [tokens_in[i] for i in preds["item_key"]],
        "tokens_out": [max(1, math.ceil(len(str(r)) / CHARS_PER_TOKEN))
                       for r in preds["raw_output"]],
    })
    own = {key: labels for key, labels in set_of.items() if labels != sets[0]}
    return TaskRecording(name, items["prompt"].iloc[0], sets[0], item_frame,
                         answers.reset_index(drop=True),
                         {str(k): int(v) for k, v in misaligned.items()},
                         prompts if per_item else {}, own)


def _input_chars(prompt: str, text: str, per_item: bool) -> int:
    """Characters sent for one item: its prompt and its text, the text once where a
    per-item prompt already quotes it."""
    if per_item and text and text in prompt:
        return len(prompt)
    return len(prompt) + len(text)


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
