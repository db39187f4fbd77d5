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

from . import plugins
from .annotators import Annotator, Context, build_annotator
from .config import CONFIG_NAME, Config, load_config, parse_config
from .errors import AnnotatorError, ConfigError, LabelquorumError, ProjectError
from .importing import ImportResult, prepare_items, store_items
from .policies import build_policy
from .run import Runner, RunReport, request_key
from .store import Store, schema
from .task import Task

DB_NAME = "labelquorum.db"
URL_ENV = "LABELQUORUM_DATABASE_URL"


def _toml_str(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def config_template(name: str, labels: list[str], kind: str) -> str:
    first, annotators = plugins.task_kind(kind).starter
    task_lines = plugins.task_kind(kind).starter_task
    label_lines = "\n".join(f"[[task.labels]]\nname = {_toml_str(lab)}\ndescription = \"\"\n"
                            for lab in labels)
    return f"""# labelquorum project configuration. Every key is described in the config reference
# (docs/reference/config.md).

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
{task_lines}

{label_lines}
{annotators}
# [annotators.people]
# type = "human"
# cost_per_call = 0.05

[policy]
type = "cascade"
aggregator = "weighted"
# budget = 10.0        # USD; escalation stops before a call would exceed it

[[policy.tiers]]
name = "small models"
annotators = ["{first}"]
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
        # the store's URL is where this process reaches the database, not what it does:
        # workers on other hosts reach one project through URLs of their own
        dumped = self.config.model_dump_json(exclude={"store": {"url"}})
        return hashlib.sha1(dumped.encode()).hexdigest()[:16]

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- items -------------------------------------------------------------------------
    def import_file(self, path: str | os.PathLike[str], **options: Any) -> ImportResult:
        """Import a file (or a ``save_to_disk`` directory); see :meth:`import_items`."""
        return self.import_items(Path(path), **options)

    def import_items(self, source: Any, *, format: str | None = None, id_column: str | None = None,
                     gold_column: str | None = None, gold_role: str = "evaluation",
                     split: str | None = None, allow_duplicates: bool = False) -> ImportResult:
        """Import items, all or nothing, from a path (CSV, JSONL, Parquet, Label Studio
        JSON, CoNLL, spaCy DocBin, a Hugging Face ``save_to_disk`` directory; ``format``
        overrides the guess from the suffix), a DataFrame, or a Hugging Face
        Dataset/DatasetDict. Label Studio annotations and predictions are stored as
        judgements with the items (see :mod:`labelquorum.formats.labelstudio`); other
        options as for :meth:`import_dataframe`."""
        from .formats import read_source

        src = read_source(source, self.task, format)
        name, answers, items = src.name, src.judgements, src.items
        del src  # the source table is not needed to store: free it before storing
        prepared = prepare_items(items, self.task, source=name, id_column=id_column,
                                 gold_column=gold_column, gold_role=gold_role, split=split,
                                 allow_duplicates=allow_duplicates, seed=self.config.project.seed)
        del items
        rows = None
        if answers is not None and len(answers):
            rows = self._imported_judgements(answers, prepared["id"].tolist())
        return store_items(self.store, prepared, name, rows)

    def _imported_judgements(self, answers: pd.DataFrame, ids: list[str]) -> list[tuple]:
        """Rows for the judgements table from a format's answers: people under the
        config's human annotator (``people`` unless the config has exactly one other), each
        model under its own name, with the kind the config gives it when it has one."""
        from datetime import UTC, datetime

        humans = [n for n, a in self.config.annotators.items() if a.type == "human"]
        people = humans[0] if len(humans) == 1 else "people"
        now = self.store.timestamp(datetime.now(UTC))
        vtype = self.task.value_type
        rows = []
        for r in answers.itertuples(index=False):
            if r.kind == "human":
                name, worker, kind = people, r.who, "human"
            else:
                name, worker, kind = r.who, None, _config_kind(self.config.annotators.get(r.who))
            conf = None if pd.isna(r.confidence) else float(r.confidence)
            rows.append((ids[r.row], name, worker, kind, vtype, r.label,
                         None if r.value is None else json.dumps(r.value), conf, 0.0, "ok",
                         False, now))
        return rows

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
            progress: Callable[[int, int, str], None] | None = None,
            executor: str | None = None, address: str | None = None,
            join: bool = False) -> RunReport:
        """Run the policy over open items; resumes an unfinished run.

        ``policy`` and ``annotators`` override the config's (for experiments and tests);
        ``executor`` (``"local"`` or ``"ray"``) and ``address`` override ``[run]``. With
        ``join`` (``[run] workers = "many"``, PostgreSQL), only join the run in progress as
        a worker: never start a new one (the report's ``role`` is ``"worker"``).
        ``progress(decided, total, stage)`` is called as items are decided and answers
        arrive.
        """
        policy = policy or build_policy(self.config.policy)
        if annotators is None:
            annotators = self.build_annotators(policy.annotators())
        return Runner(self, annotators, policy, progress=progress, seed=seed,
                      executor=executor, address=address, join=join).run()

    def plan(self, sample: int = 20):
        """Estimate the tokens and cost of running the policy over the open items, from the
        real prompts of a sample of them; no calls are made (:mod:`labelquorum.planning`)."""
        from .planning import plan_run

        return plan_run(self, sample=sample)

    def add_judgements(self, rows: Iterable[dict[str, Any]]) -> int:
        """Answers from people: ``item``, ``annotator`` (a human annotator of the config),
        ``label``, and optionally ``worker`` (who answered, e.g. their user name in the web
        app), ``confidence``, ``latency`` (seconds spent) and ``cost``.

        Each answers the item's open task for that annotator. A task takes the annotator's
        ``overlap`` answers, each from a different worker, and is done (the next run uses
        the answers) when they are all in; with ``overlap`` above 1 every answer needs a
        ``worker``. With ``overlap = 1`` an answer without one is stored with no worker,
        and aggregators see it as the annotator itself. Returns the number stored. An
        unknown item, annotator or label, an answer to a task that has all its answers, a
        second answer from one worker, or a task of an annotator that is not human raises
        before anything is stored.
        """
        from datetime import UTC, datetime

        from .annotators.human import HumanAnswer, answer_cost, answers_so_far, store_answers

        rq = schema.requests
        rows = list(rows)
        now = datetime.now(UTC)
        humans = {n: a for n, a in self.config.annotators.items() if a.type == "human"}
        overlap = {n: int(a.overlap) for n, a in humans.items()}
        out: list[HumanAnswer] = []
        with self.store.begin_write() as conn:
            pending = {(r.item_id, r.annotator): r for r in conn.execute(
                select(rq.c.key, rq.c.item_id, rq.c.annotator, rq.c.annotator_version)
                .where((rq.c.project_id == self.store.project_id)
                       & rq.c.state.in_(("pending", "sent"))
                       & rq.c.annotator.in_(list(humans))))}
            wanted = {(str(r.get("item")), str(r.get("annotator"))) for r in rows}
            workers = answers_so_far(conn, self.store.project_id,
                                     {req.key: req.item_id for pair, req in pending.items()
                                      if pair in wanted})
            for n, row in enumerate(rows, start=1):
                missing = [k for k in ("item", "annotator", "label") if k not in row]
                if missing:
                    raise LabelquorumError(f"answer {n} has no {', '.join(missing)}; each answer "
                                           "needs item, annotator and label")
                item, who = str(row["item"]), str(row["annotator"])
                if who not in humans:
                    raise LabelquorumError(
                        f"answer {n}: {who!r} is not a human annotator of this project "
                        f"(human annotators: {', '.join(sorted(humans)) or 'none'}); "
                        "nothing was stored")
                worker = row.get("worker")
                worker = None if worker is None else str(worker).strip()
                if worker == "":
                    raise LabelquorumError(f"answer {n} (item {item!r}): worker is empty; give "
                                           "who answered (a user name), or leave the key out; "
                                           "nothing was stored")
                if worker is None and overlap[who] > 1:
                    raise LabelquorumError(
                        f"answer {n} (item {item!r}): annotator {who!r} takes {overlap[who]} "
                        "answers per item from different people (overlap), so each answer "
                        "needs a worker (who answered, e.g. a user name); nothing was stored")
                req = pending.get((item, who))
                if req is None:
                    raise LabelquorumError(
                        f"answer {n}: no open task for item {item!r} and annotator {who!r}: "
                        "it may be answered or decided already, or the run has not asked this "
                        "annotator yet ('labelquorum run' creates tasks); nothing was stored")
                so_far = workers[req.key]
                if len(so_far) >= overlap[who]:
                    raise LabelquorumError(
                        f"answer {n}: no open task for item {item!r} and annotator {who!r}: "
                        f"it has all its answers ({len(so_far)} of {overlap[who]}, the "
                        "annotator's overlap); nothing was stored")
                if worker is not None and worker in so_far:
                    raise LabelquorumError(
                        f"answer {n}: worker {worker!r} has answered item {item!r} for "
                        f"{who!r} already; each of its {overlap[who]} answers comes from a "
                        "different person; nothing was stored")
                try:
                    value = self.task.parse_label(row["label"], text=self._text(conn, item)
                                                  if self.task.strategy.needs_text else None)
                except LabelquorumError as exc:
                    raise LabelquorumError(f"answer {n} (item {item!r}): {exc}; nothing "
                                           "was stored") from None
                confidence = row.get("confidence")
                if confidence is not None and not 0.0 <= float(confidence) <= 1.0:
                    raise LabelquorumError(f"answer {n} (item {item!r}): confidence "
                                           f"{confidence!r} is outside [0, 1]; nothing was stored")
                latency, cost = (_seconds_or_usd(n, item, row, key) for key in ("latency", "cost"))
                so_far.append(worker)
                out.append(HumanAnswer(
                    req.key, item, who, req.annotator_version, worker,
                    self.task.format_label(value),
                    self.task.strategy.stored(self.task, value)[1],
                    None if confidence is None else float(confidence),
                    answer_cost(humans[who], latency, cost), latency))
            store_answers(conn, self.store.project_id, self.task.value_type, out, overlap, now)
        return len(out)

    def _text(self, conn, item: str) -> str:
        it = schema.items
        fields = conn.execute(select(it.c.fields).where(
            (it.c.project_id == self.store.project_id) & (it.c.id == item))).scalar()
        return str(json.loads(fields or "{}").get(self.task.text_field, ""))

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
                out[r.id] = self.task.strategy.gold_value(self.task, json.loads(r.gold))
        return out

    def judgements(self) -> pd.DataFrame:
        """The long judgement table (latest rows included, superseded ones too), ready for
        any aggregator: ``item``, ``annotator``, ``label`` and the rest of the stored row.

        ``annotator`` is who answered, the identity truth inference learns a skill for: the
        config's name for a model (``tfidf``), ``name:worker`` for a person (``people:alice``;
        just ``people`` for an answer stored without a worker). ``annotator_name`` is the
        config's annotator the row answers for (``people`` for every person: the run pools
        their answers under it), and ``worker`` the person (None for models).
        """
        j = schema.judgements
        with self.store.connect() as conn:
            df = pd.read_sql(select(j).where(j.c.project_id == self.store.project_id)
                             .order_by(j.c.id), conn)
        df = df.rename(columns={"item_id": "item", "annotator": "annotator_name"})
        name, worker = df["annotator_name"], df["worker"]
        df["annotator"] = name.mask(worker.notna(), name + ":" + worker.fillna("").astype(str))
        first = list(df.columns).index("annotator_name")
        order = [c for c in df.columns if c not in ("annotator", "worker")]
        order[first:first] = ["annotator"]
        order.insert(order.index("annotator_name") + 1, "worker")
        return df[order]

    def to_dataframe(self, fields: str | list[str] | None = "none") -> pd.DataFrame:
        """The export as a DataFrame; ``fields`` as for :meth:`export` (default none)."""
        from .export import export_frame

        return export_frame(self, fields)

    def export(self, path: str | os.PathLike[str], *, fields: str | list[str] | None = "all",
               format: str | None = None, judgements: bool = False,
               table: str | None = None) -> int:
        """Write one row per item (the label, its provenance and the item's ``fields``:
        ``"all"``, ``"none"``, ``"a,b"`` or a list) as CSV, JSONL or Parquet, or in
        ``format`` (default: from the suffix): ``labelstudio`` (.json), ``hf`` (a
        ``save_to_disk`` directory), ``conll`` (.conll) or ``docbin`` (.spacy). With
        ``judgements``, the long judgement table instead; with ``table``, that result table
        of the task kind (pairwise: ``systems``) as CSV, JSONL or Parquet. Returns rows or
        items written."""
        from .export import write_export, write_table

        if table is not None:
            return write_table(self, Path(path), table, format=format)
        return write_export(self, Path(path), fields=fields, format=format,
                            judgements=judgements)

    def status(self):
        from .status import project_status

        return project_status(self)


def _config_kind(cfg: Any) -> str:
    """The judgement kind of a configured annotator (``model`` for unknown names)."""
    if cfg is None:
        return "model"
    if cfg.type in ("llm", "rules", "human"):
        return cfg.type
    return str(getattr(cfg, "kind", None) or getattr(cfg, "stands_for", None) or "model")


def _seconds_or_usd(n: int, item: str, row: dict[str, Any], key: str) -> float | None:
    """An answer's ``latency`` (seconds) or ``cost`` (USD): None, or a number >= 0."""
    raw = row.get(key)
    if raw is None:
        return None
    try:
        value = float(raw)
    except (TypeError, ValueError):
        value = -1.0
    if not value >= 0.0:
        unit = "seconds spent" if key == "latency" else "USD"
        raise LabelquorumError(f"answer {n} (item {item!r}): {key} {raw!r} is not a number of "
                               f"{unit} (0 or more); nothing was stored")
    return value


def init_project(path: str | os.PathLike[str], labels: list[str] | None = None,
                 kind: str = "classification", name: str | None = None,
                 config_text: str | None = None) -> Project:
    """Create a project directory with a starter config (from ``labels`` and ``kind``), or
    with ``config_text`` as its whole config, and an empty store. The config is validated
    before anything is written."""
    kinds = plugins.task_kinds.names()
    if kind not in kinds:
        raise ProjectError(f"unknown task kind {kind!r}; valid kinds: {', '.join(kinds)}")
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
