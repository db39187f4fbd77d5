"""A project: a directory with ``labelquorum.toml``, its store, and the public Python API.

The CLI is a thin shell over this class::

    import labelquorum as lq
    project = lq.init_project("sentiment", labels=["negative", "positive"])
    project.import_file("items.csv", split="seed=100")
    report = project.run()
    df = project.to_dataframe()
"""

from __future__ import annotations

import hashlib
import json
import os
import tomllib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Self

import pandas as pd
from sqlalchemy import select

from .annotators import Annotator, Context, build_annotator
from .config import CONFIG_NAME, TASK_KINDS, Config, load_config, parse_config
from .errors import AnnotatorError, ConfigError, LabelquorumError, ProjectError
from .importing import ImportResult, prepare_items, read_table, store_items
from .policies import build_policy
from .run import REQUEST_STATE, Runner, RunReport, request_key
from .store import Store, schema
from .task import Task

DB_NAME = "labelquorum.db"
URL_ENV = "LABELQUORUM_DATABASE_URL"


def _toml_str(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def config_template(name: str, labels: list[str], kind: str) -> str:
    label_lines = "\n".join(f"[[task.labels]]\nname = {_toml_str(lab)}\ndescription = \"\"\n"
                            for lab in labels)
    return f"""# labelquorum project configuration. Every key is described in the README's
# config reference.

[project]
name = {_toml_str(name)}
seed = 0

[store]
# url = "postgresql+psycopg://user@localhost/labelquorum"   # default: SQLite file {DB_NAME}

[task]
kind = "{kind}"
guidelines = \"\"\"
Describe here how to choose a label.
\"\"\"
fields = ["text"]      # item fields shown to annotators
text_field = "text"    # the field models read

{label_lines}
# Annotators. tfidf trains on the project's seed gold (import with --split seed=N).
[annotators.tfidf]
type = "tfidf"

# [annotators.people]
# type = "human"
# cost_per_call = 0.05

[policy]
type = "cascade"
aggregator = "weighted"
# budget = 10.0        # USD; escalation stops before a call would exceed it

[[policy.tiers]]
name = "small models"
annotators = ["tfidf"]
min_confidence = 0.0
"""


class Project:
    """An open project. Create one with :func:`init_project`, open with :func:`open_project`."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path).resolve()
        config_path = self.path / CONFIG_NAME
        if not config_path.exists():
            raise ProjectError(f"{self.path} is not a labelquorum project (no {CONFIG_NAME}). "
                               "Run 'labelquorum init DIR --labels a,b' or pass --project DIR.")
        self.config: Config = load_config(config_path)
        self.task = Task.from_config(self.config.task)
        url = self.config.store.url or os.environ.get(URL_ENV) or f"sqlite:///{self.path / DB_NAME}"
        self.store = Store(url, self.config.project.name)

    @property
    def config_hash(self) -> str:
        return hashlib.sha1(self.config.model_dump_json().encode()).hexdigest()[:16]

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- items -------------------------------------------------------------------------
    def import_file(self, path: str | os.PathLike[str], **options: Any) -> ImportResult:
        """Import a CSV, JSONL or Parquet file; see :func:`import_dataframe` for options."""
        df = read_table(Path(path))
        return self.import_dataframe(df, source=str(path), **options)

    def import_dataframe(self, df: pd.DataFrame, *, source: str = "<dataframe>",
                         id_column: str | None = None, gold_column: str | None = None,
                         gold_role: str = "evaluation", split: str | None = None,
                         allow_duplicates: bool = False) -> ImportResult:
        """Validate and store items, all or nothing.

        ``split`` gives gold roles by count or fraction, like ``"seed=200,control=0.05"``;
        gold items it does not cover get ``gold_role``.
        """
        prepared = prepare_items(df, self.task, source=source, id_column=id_column,
                                 gold_column=gold_column, gold_role=gold_role, split=split,
                                 allow_duplicates=allow_duplicates, seed=self.config.project.seed)
        return store_items(self.store, prepared, source)

    # -- running -----------------------------------------------------------------------
    def build_annotators(self, names: Iterable[str] | None = None) -> dict[str, Annotator]:
        names = list(names) if names is not None else self.config.policy_annotators
        context = Context(self.path, self.config.project.seed, self.config.project.media_root)
        gold = self.gold_labels() if any(
            self.config.annotators[n].type == "simulated" for n in names) else None
        out = {}
        for name in names:
            try:
                out[name] = build_annotator(name, self.config.annotators[name], self.task,
                                            context, gold=gold)
            except LabelquorumError:
                raise
            except Exception as exc:
                raise AnnotatorError(f"annotator {name!r} could not be built: "
                                     f"{type(exc).__name__}: {exc}") from exc
        return out

    def run(self, *, seed: int | None = None, policy=None,
            annotators: dict[str, Annotator] | None = None,
            progress: Callable[[int, int, str], None] | None = None) -> RunReport:
        """Run the policy over open items; resumes an unfinished run.

        ``policy`` and ``annotators`` override the config's (for experiments and tests).
        ``progress(decided, total, stage)`` is called as items are decided and answers
        arrive.
        """
        policy = policy or build_policy(self.config.policy)
        if annotators is None:
            annotators = self.build_annotators(policy.annotators())
        return Runner(self, annotators, policy, progress=progress, seed=seed).run()

    def plan(self, sample: int = 20):
        """Estimate the tokens and cost of running the policy over the open items, from the
        real prompts of a sample of them; no calls are made (:mod:`labelquorum.planning`)."""
        from .planning import plan_run

        return plan_run(self, sample=sample)

    def add_judgements(self, rows: Iterable[dict[str, Any]]) -> int:
        """Answers from people (or any deferred annotator): ``item``, ``annotator``, ``label``,
        optionally ``confidence``, ``latency`` (seconds spent) and ``cost``.

        Each answers the item's open task for that annotator, once. Returns the number
        stored. An unknown item, annotator or label, a second answer to the same task, or a
        task of an annotator that is not deferred raises before anything is stored.
        """
        from datetime import UTC, datetime

        rq, j = schema.requests, schema.judgements
        rows = list(rows)
        now = datetime.now(UTC)
        deferred = {n for n, a in self.config.annotators.items() if a.type == "human"}
        out, keys = [], []
        with self.store.begin_write() as conn:
            pending = {(r.item_id, r.annotator): r for r in conn.execute(
                select(rq.c.key, rq.c.item_id, rq.c.annotator, rq.c.annotator_version)
                .where((rq.c.project_id == self.store.project_id)
                       & rq.c.state.in_(("pending", "sent"))))}
            for n, row in enumerate(rows, start=1):
                missing = [k for k in ("item", "annotator", "label") if k not in row]
                if missing:
                    raise LabelquorumError(f"answer {n} has no {', '.join(missing)}; each answer "
                                           "needs item, annotator and label")
                item, who = str(row["item"]), str(row["annotator"])
                if who not in deferred:
                    raise LabelquorumError(
                        f"answer {n}: {who!r} is not a human annotator of this project "
                        f"(human annotators: {', '.join(sorted(deferred)) or 'none'}); "
                        "nothing was stored")
                req = pending.pop((item, who), None)
                if req is None:
                    raise LabelquorumError(
                        f"answer {n}: no open task for item {item!r} and annotator {who!r}: "
                        "it may be answered or decided already, or the run has not asked this "
                        "annotator yet ('labelquorum run' creates tasks); nothing was stored")
                try:
                    value = self.task.parse_label(row["label"])
                except LabelquorumError as exc:
                    raise LabelquorumError(f"answer {n} (item {item!r}): {exc}; nothing "
                                           "was stored") from None
                confidence = row.get("confidence")
                if confidence is not None and not 0.0 <= float(confidence) <= 1.0:
                    raise LabelquorumError(f"answer {n} (item {item!r}): confidence "
                                           f"{confidence!r} is outside [0, 1]; nothing was stored")
                cfg = self.config.annotators[who]
                out.append({
                    "project_id": self.store.project_id, "request_key": req.key,
                    "item_id": item, "annotator": who, "annotator_kind": "human",
                    "annotator_version": req.annotator_version,
                    "value_type": self.task.value_type, "label": self.task.format_label(value),
                    "value": list(value) if isinstance(value, tuple) else None,
                    "probs": None,
                    "confidence": None if confidence is None else float(confidence),
                    "cost": _human_cost(row, cfg), "latency": row.get("latency"),
                    "call_id": None, "run_id": None, "status": "ok", "simulated": False,
                    "created": now})
                keys.append(req.key)
            if out:
                conn.execute(j.insert(), out)
                conn.execute(rq.update().where((rq.c.project_id == self.store.project_id)
                                               & rq.c.key.in_(keys))
                             .values(state=REQUEST_STATE["ok"], updated=now))
        return len(out)

    # -- reading -----------------------------------------------------------------------
    def gold_labels(self, roles: Iterable[str] | None = None) -> dict[str, Any]:
        it = schema.items
        q = select(it.c.id, it.c.gold, it.c.gold_role).where(
            (it.c.project_id == self.store.project_id) & it.c.gold.is_not(None))
        with self.store.connect() as conn:
            rows = conn.execute(q).all()
        roles = set(roles) if roles is not None else None
        out = {}
        for r in rows:
            if roles is None or r.gold_role in roles:
                value = json.loads(r.gold)
                out[r.id] = tuple(value) if isinstance(value, list) else value
        return out

    def judgements(self) -> pd.DataFrame:
        """The long judgement table (latest rows included, superseded ones too)."""
        j = schema.judgements
        with self.store.connect() as conn:
            df = pd.read_sql(select(j).where(j.c.project_id == self.store.project_id)
                             .order_by(j.c.id), conn)
        return df.rename(columns={"item_id": "item"})

    def to_dataframe(self) -> pd.DataFrame:
        from .export import export_frame

        return export_frame(self)

    def export(self, path: str | os.PathLike[str]) -> int:
        from .export import write_export

        return write_export(self, Path(path))

    def status(self):
        from .status import project_status

        return project_status(self)


def _human_cost(row: dict[str, Any], cfg: Any) -> float:
    """A given cost, else the annotator's price per call plus its hourly rate times the
    seconds spent (``latency``, capped at ``max_seconds``, the time reserved per task), so
    people's time and model calls share one ledger."""
    if row.get("cost") is not None:
        return float(row["cost"])
    if cfg is None:
        return 0.0
    seconds = min(float(row.get("latency") or 0.0), float(getattr(cfg, "max_seconds", 0.0)))
    return float(cfg.cost_per_call) + float(getattr(cfg, "cost_per_hour", 0.0)) * seconds / 3600


def init_project(path: str | os.PathLike[str], labels: list[str] | None = None,
                 kind: str = "classification", name: str | None = None,
                 config_text: str | None = None) -> Project:
    """Create a project directory with a starter config (from ``labels`` and ``kind``), or
    with ``config_text`` as its whole config, and an empty store. The config is validated
    before anything is written."""
    if kind not in TASK_KINDS:
        raise ProjectError(f"unknown task kind {kind!r}; valid kinds: {', '.join(TASK_KINDS)}")
    labels = [lab.strip() for lab in labels or [] if lab.strip()]
    if len(labels) < 2 and config_text is None:
        raise ProjectError("a task needs at least two labels, like --labels negative,positive")
    root = Path(path)
    if (root / CONFIG_NAME).exists():
        raise ProjectError(f"{root} is already a project ({CONFIG_NAME} exists)")
    text = config_text or config_template(name or root.resolve().name, labels, kind)
    try:
        parse_config(tomllib.loads(text))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"the config is not valid TOML: {exc}") from None
    root.mkdir(parents=True, exist_ok=True)
    (root / CONFIG_NAME).write_text(text, encoding="utf-8")
    return Project(root)


def open_project(path: str | os.PathLike[str] = ".") -> Project:
    return Project(path)


__all__ = ["Project", "init_project", "open_project", "request_key"]
