"""The CelebA VLM study (Lu & Zhong 2024, "Can Vision-Language Models Replace Human
Annotators: A Case Study with CelebA Dataset") run as a labelquorum project.

The recording (``../shared/data/celeba_vlm``, from the authors' repository) holds, for
1,000 CelebA images × 40 binary attributes, LLaVA-NeXT's yes/no answer, whether it
disagrees with the original CelebA (crowd) label, and the authors' fresh re-annotation of
every disagreement. Point :func:`load` at a directory holding

* ``annotations.csv`` — ``image_id, attribute, vlm_label, vlm_disagrees_with_celeba_label,
  reannotated_label`` (labels 1 / -1; the re-annotation only where they disagree);
* ``questions.csv`` — ``attribute, question`` (the prompt the VLM saw).

In the project an item is one cell (``image_id:attribute``; its text is the attribute's
question and the image id, its fields ``attribute`` and ``image_id``), the task is
``yes`` / ``no``, and two ``replay`` annotators answer from :func:`replay_frame`: ``vlm``
(kind ``llm``) and ``celeba``, the original crowd label (kind ``human``). The re-annotation
arrives through the review path: the review backlog holds the cells where the people's
label (``celeba``) and the model's (``vlm``) disagree, and :func:`review_backlog` has a
reviewer account decide each of them with the authors' re-annotation, as a reviewer of
``labelquorum serve`` would. The adjudicated label of a cell is the crowd's (= the VLM's)
where the two agree and the re-annotation where they disagree (the study's rule).

Usage (the example in ``examples/celeba``; ``benchmarks/celeba_vlm.py`` runs it)::

    from labelquorum.recordings import celeba_vlm as celeba

    cells = celeba.load("../shared/data/celeba_vlm")
    project = celeba.build_project("celeba-project", cells, "examples/celeba/labelquorum.toml")
    project.run()
    celeba.review_backlog(project, cells)       # the re-annotations, through review
    celeba.figures(project, cells)              # agreement, VLM accuracy, reviews, ...
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import RecordingError

__all__ = ["Figures", "build_project", "calibration_sample", "figures", "load",
           "replay_frame", "review_backlog"]

LABELS = {1: "yes", -1: "no"}
REPLAY = "replay.csv"
REVIEWER = "reannotator"
ANSWER_INSTRUCTION = r"\s*Answer with only yes or no\.?\s*$"


def load(directory: str | os.PathLike[str]) -> pd.DataFrame:
    """One row per cell: ``id`` (``image_id:attribute``), ``image_id``, ``attribute``,
    ``question``, ``vlm`` and ``celeba`` (``yes``/``no``), ``reannotation`` (``yes``/``no``
    where the two disagree, else empty) and ``adjudicated`` (the study's final label)."""
    root = Path(directory)
    try:
        ann = pd.read_csv(root / "annotations.csv", dtype=str, keep_default_na=False)
        questions = pd.read_csv(root / "questions.csv", dtype=str, keep_default_na=False)
    except FileNotFoundError as exc:
        raise RecordingError(f"no {Path(exc.filename).name} in {root}; point load() at the "
                             "celeba_vlm recording (annotations.csv and questions.csv)") from None
    need = {"image_id", "attribute", "vlm_label", "vlm_disagrees_with_celeba_label",
            "reannotated_label"}
    if not need <= set(ann.columns) or not {"attribute", "question"} <= set(questions.columns):
        raise RecordingError(f"{root}: annotations.csv needs columns {', '.join(sorted(need))} "
                             "and questions.csv attribute, question; found "
                             f"{', '.join(ann.columns)} and {', '.join(questions.columns)}")

    def yes_no(column: str, allow_empty: bool = False) -> pd.Series:
        values = ann[column].str.strip()
        known = values.isin(["1", "-1"]) | (allow_empty & (values == ""))
        if not known.all():
            row = int(np.flatnonzero(~known.to_numpy())[0])
            raise RecordingError(f"{root / 'annotations.csv'}: row {row + 2} has {column} "
                                 f"{ann[column].iloc[row]!r}; expected 1 or -1"
                                 + (" (or empty)" if allow_empty else ""))
        return values.map({"1": "yes", "-1": "no", "": ""})

    vlm = yes_no("vlm_label")
    disagrees = ann["vlm_disagrees_with_celeba_label"].str.strip()
    if not disagrees.isin(["0", "1"]).all():
        raise RecordingError(f"{root / 'annotations.csv'}: vlm_disagrees_with_celeba_label "
                             "must be 0 or 1")
    disagrees = disagrees == "1"
    other = vlm.map({"yes": "no", "no": "yes"})
    celeba = vlm.where(~disagrees, other)
    reannotation = yes_no("reannotated_label", allow_empty=True).where(disagrees, "")
    missing = disagrees & (reannotation == "")
    if missing.any():
        row = int(np.flatnonzero(missing.to_numpy())[0])
        raise RecordingError(f"{root / 'annotations.csv'}: row {row + 2} is a disagreement "
                             "without a re-annotation")
    question = ann["attribute"].map(dict(zip(questions["attribute"], questions["question"])))
    if question.isna().any():
        attr = ann["attribute"][question.isna()].iloc[0]
        raise RecordingError(f"{root / 'questions.csv'} has no question for attribute {attr!r}")
    cells = pd.DataFrame({
        "id": ann["image_id"] + ":" + ann["attribute"], "image_id": ann["image_id"],
        "attribute": ann["attribute"], "question": question, "vlm": vlm, "celeba": celeba,
        "reannotation": reannotation,
        "adjudicated": celeba.where(~disagrees, reannotation)})
    if cells["id"].duplicated().any():
        raise RecordingError(f"{root / 'annotations.csv'} lists cell "
                             f"{cells['id'][cells['id'].duplicated()].iloc[0]!r} twice")
    return cells


def replay_frame(cells: pd.DataFrame) -> pd.DataFrame:
    """The ``replay`` file: ``item, annotator, label`` for ``vlm`` and ``celeba``."""
    return pd.concat([pd.DataFrame({"item": cells["id"], "annotator": name,
                                    "label": cells[name]}) for name in ("vlm", "celeba")],
                     ignore_index=True)


def items_frame(cells: pd.DataFrame) -> pd.DataFrame:
    """The items: the question without the prompt's answer instruction ("Answer with only
    yes or no.", which reads like an instruction to the annotator and would hold every
    cell back from the VLM alone) and the image id; ``attribute`` and ``image_id``."""
    question = cells["question"].str.replace(ANSWER_INSTRUCTION, "", regex=True)
    return pd.DataFrame({"id": cells["id"],
                         "text": question + " (CelebA image " + cells["image_id"] + ")",
                         "attribute": cells["attribute"], "image_id": cells["image_id"]})


def calibration_sample(cells: pd.DataFrame, share: float, seed: int) -> set[str]:
    """A random ``share`` of each attribute's cells (at least one), drawn with ``seed``."""
    rng = np.random.default_rng(seed)
    out: set[str] = set()
    for _, ids in cells.groupby("attribute", sort=True)["id"]:
        k = max(1, round(share * len(ids)))
        out.update(rng.choice(ids.to_numpy(), size=k, replace=False).tolist())
    return out


def build_project(directory: str | os.PathLike[str], cells: pd.DataFrame,
                  config: str | os.PathLike[str], calibration: set[str] | None = None):
    """A new project in ``directory`` with ``config`` (a ``labelquorum.toml``), the replay
    file and every cell imported as an item; the ``calibration`` cells carry their
    adjudicated label as calibration gold (for a calibrated gate)."""
    from ..project import init_project

    root = Path(directory)
    project = init_project(root, config_text=Path(config).read_text(encoding="utf-8"))
    replay_frame(cells).to_csv(root / REPLAY, index=False)
    items = items_frame(cells)
    calib = cells["id"].isin(calibration or set()).to_numpy()
    if calib.any():
        gold = items[calib].assign(adjudicated=cells["adjudicated"][calib].to_numpy())
        project.import_dataframe(gold, id_column="id", gold_column="adjudicated",
                                 gold_role="calibration", source="celeba calibration")
    if (~calib).any():
        project.import_dataframe(items[~calib], id_column="id", source="celeba cells")
    return project


def review_backlog(project, cells: pd.DataFrame, reviewer: str = REVIEWER) -> int:
    """Decide every item of the review backlog with the authors' re-annotation, as the
    reviewer account ``reviewer`` (made if missing); returns how many were reviewed. The
    backlog holds the cells where the crowd's label and the VLM's disagree; a cell in it
    without a re-annotation is a :class:`~labelquorum.errors.RecordingError`."""
    from ..errors import WebError
    from ..web.auth import Accounts, User
    from ..web.review import Review

    accounts = Accounts(project.store)
    try:
        uid = accounts.user_id(reviewer)
    except WebError:
        accounts.add_user(reviewer, "reviewer")
        uid = accounts.user_id(reviewer)
    user = User(uid, reviewer, "reviewer")
    review = Review(project)
    answer = dict(zip(cells["id"], cells["reannotation"]))
    labels = {}
    for item_id, _ in review.backlog():
        labels[item_id] = answer.get(item_id, "")
        if not labels[item_id]:
            raise RecordingError(f"cell {item_id!r} is in the review backlog but the recording "
                                 "has no re-annotation for it")
    review.adjudicate_many(user, labels, note="re-annotation (Lu & Zhong 2024)")
    return len(labels)


@dataclass
class Figures:
    """What the project's records say, as counts (fractions are derived)."""

    cells: int
    both_answered: int  # cells where the vlm and celeba judgements are both stored
    agree: int  # of those, where they agree
    vlm_right: int  # cells where the vlm judgement equals the final (exported) label
    reviews: int  # decisions by a reviewer (tier "review")
    test_cells: int  # cells that are not calibration gold
    test_right: int  # of those, where the final label equals the adjudicated one
    vlm_only: int  # cells decided without the crowd's label being asked
    per_tier: dict[str, int]

    @property
    def agreement(self) -> float:
        return self.agree / self.both_answered

    @property
    def vlm_accuracy(self) -> float:
        return self.vlm_right / self.cells

    @property
    def final_accuracy(self) -> float:
        return self.test_right / self.test_cells


def figures(project, cells: pd.DataFrame) -> Figures:
    """The study's figures from the project's own records: the judgement table (what
    ``vlm`` and ``celeba`` said), the export (the final labels, their tier, gold roles)."""
    out = project.to_dataframe()
    jud = project.judgements()
    jud = jud[jud["status"] == "ok"].drop_duplicates(["item", "annotator_name"], keep="last")
    said = jud.pivot(index="item", columns="annotator_name", values="label")
    final = out.set_index("id")["label"]
    both = said.dropna(subset=["vlm", "celeba"]) if {"vlm", "celeba"} <= set(said) else said[:0]
    vlm = said["vlm"].reindex(final.index)
    truth = cells.set_index("id")["adjudicated"].reindex(final.index)
    test = (out.set_index("id")["gold_role"] != "calibration").to_numpy()
    asked_celeba = said["celeba"].reindex(final.index).notna() if "celeba" in said else \
        pd.Series(False, index=final.index)
    return Figures(
        cells=len(out), both_answered=len(both), agree=int((both["vlm"] == both["celeba"]).sum()),
        vlm_right=int((vlm == final).sum()), reviews=int((out["tier"] == "review").sum()),
        test_cells=int(test.sum()), test_right=int((final == truth).to_numpy()[test].sum()),
        vlm_only=int((~asked_celeba & final.notna()).sum()),
        per_tier={str(k): int(v) for k, v in out["tier"].value_counts().sort_index().items()})
