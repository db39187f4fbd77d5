"""The task-kind contract: everything that varies by what a task labels with.

A :class:`TaskKind` is a strategy object registered by name (``task.kind`` in
``labelquorum.toml``). The generic machinery — import, the ledger, the run's state and
policies, simulated and LLM annotators, the web pages, export, status and the report —
asks the task's kind instead of branching on it, so a new kind is one module here (and, for
its annotation widget, one template under ``kinds/templates/``).

Kinds come in *value types*: what one answer is. A value type is a subclass declared with
``class RatingKind(TaskKind, value_type="rating")``; the built-ins are ``class`` (one label),
``labelset`` (a set of labels) and ``spans`` (typed character spans); ``rating`` (a number
on a scale) and ``text`` (free text) are the names reserved for those values. A kind made
the short way, ``TaskKind("yes-no", "class", check=..., description=...)``, is an instance
of its value type's class, so it behaves like every kind of that value type.

Answers sit on the policies' board in one of two encodings (:attr:`TaskKind.vector`):

* vector kinds (``class``, ``labelset``) hold, per annotator and item, a label index and a
  row of per-label probabilities, aggregated by the votes and truth-inference methods;
* value kinds (everything else) hold one Python value per annotator and item, aggregated
  item by item by :meth:`TaskKind.consensus`.

Methods take the :class:`~labelquorum.task.Task` (labels, descriptions, fields) as their
first argument: one kind object serves every project of that kind. See
``docs/kinds.md`` / the brief ``kind-api.md`` for who calls what.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ..errors import LabelquorumError

if TYPE_CHECKING:  # pragma: no cover - types only
    from ..task import Task

#: The value types a ``[annotators.NAME]`` type or an aggregator may declare it serves.
#: ``rating`` and ``text`` are reserved for the kinds that label with a number and with
#: free text; a subclass declaring another value type adds it.
VALUE_TYPES: list[str] = ["class", "labelset", "spans", "rating", "text"]

_RESERVED = tuple(VALUE_TYPES)
_IMPLEMENTATIONS: dict[str, type[TaskKind]] = {}

#: ``confidence_method`` of an LLM answer asked in both orders (``both_orders``, kinds
#: with :meth:`TaskKind.swap_sides`): the two orders gave the same answer, or not.
BOTH_ORDERS_AGREE, BOTH_ORDERS_DIFFER = "both-orders-agree", "both-orders-differ"


def value_type_class(value_type: str) -> type[TaskKind]:
    """The class implementing a value type (the built-in kinds are imported first)."""
    import labelquorum.kinds  # noqa: F401 - registers the built-in value types

    if value_type not in VALUE_TYPES:
        raise TypeError(f"value_type {value_type!r} is not one of {', '.join(VALUE_TYPES)}")
    impl = _IMPLEMENTATIONS.get(value_type)
    if impl is None:
        raise TypeError(f"no task kind implements the value type {value_type!r} yet; "
                        f"subclass labelquorum.kinds.TaskKind with value_type="
                        f"{value_type!r}")
    return impl


def forget_value_type(value_type: str) -> None:
    """Undo a value type's registration by its class (tests that define one)."""
    if _IMPLEMENTATIONS.pop(value_type, None) is not None and value_type not in _RESERVED:
        VALUE_TYPES.remove(value_type)


def hook_failed(kind: str, hook: str, exc: BaseException) -> LabelquorumError:
    """The error for a task kind's hook that raised something other than our errors (a
    bug in the kind, not bad input): it names the kind, where it came from and the hook."""
    from ..errors import PluginError
    from ..plugins import task_kinds

    try:
        origin = task_kinds.origin(kind)
    except Exception:  # noqa: BLE001 - a kind used without being registered
        origin = "unregistered"
    return PluginError(f"the {hook} hook of task kind {kind!r} (from {origin}) failed: "
                       f"{type(exc).__name__}: {exc}. This is a bug in the task kind, not in "
                       "your data; report it to the kind's authors")


class TaskKind:
    """A kind of task: a name, the value type it labels with, and the behaviour of that
    value type (overridable method by method in a subclass).

    ``check(task_config)`` may refuse a ``[task]`` section by raising ``ValueError`` with a
    sentence; ``description`` is shown in help texts and the docs.
    """

    #: What one answer is: ``class``, ``labelset``, ``spans``, ``rating``, ``text``, ...
    value_type: ClassVar[str] = ""
    #: Answers are label-probability rows on the board (else one value per item).
    vector: ClassVar[bool] = False
    #: Answers are one label of the task: calibration gold, per-language trust and the
    #: auto policy apply.
    one_label: ClassVar[bool] = False
    #: A vector kind whose rows are independent per label (several labels may apply).
    multilabel: ClassVar[bool] = False
    #: The task needs a label set (``[[task.labels]]``).
    needs_labels: ClassVar[bool] = True
    #: The input columns import takes gold from by default, the first present.
    gold_columns: ClassVar[tuple[str, ...]] = ("gold", "label")
    #: ``labelquorum init``'s first annotator: (name, its commented TOML section).
    starter: ClassVar[tuple[str, str]] = ("people", """# Annotators. People label in the web app
# (labelquorum serve); add the project's users with labelquorum user add.
[annotators.people]
type = "human"
""")
    #: ``labelquorum init``'s lines of the ``[task]`` section after ``guidelines``.
    starter_task: ClassVar[str] = """fields = ["text"]      # item fields shown to annotators
text_field = "text"    # the field models read"""
    #: What a decided value counts in the report's label distribution.
    unit: ClassVar[str] = "items"
    #: An LLM's per-label log-probabilities can give the confidence of its answer.
    label_logprobs: ClassVar[bool] = False
    #: Consensus and checks read the item's text (the board holds every item's text).
    needs_text: ClassVar[bool] = False
    #: What an LLM must give, in messages ("gave no label of the task after 2 re-asks").
    answer_name: ClassVar[str] = "label of the task"
    #: How an LLM's unreadable answers are described ("answered off the label set").
    off_label: ClassVar[str] = "off the label set"
    #: How the report's per-label agreement sees a value (:meth:`project`).
    per_label_method: ClassVar[str] = "one label against the rest (yes/no)"
    #: The annotation widget: a Jinja template under ``kinds/templates`` (a plugin: the
    #: absolute path of its own file) whose macros the annotate page calls —
    #: ``data_kind(task)`` (the page script's mode), ``item_extra(task)`` (under the item),
    #: ``choices(task, hotkeys)`` (the answer controls), ``help(task)`` (the keys line);
    #: and the review page's ``editor(task, editor, hotkeys, marked)`` (when
    #: :meth:`editor` gives one; it holds an input ``name="label"`` with the raw answer),
    #: ``gold_button(task)`` and ``editor_keys(task)``.
    #: ``None``: people cannot label this kind in the browser.
    widget: ClassVar[str | None] = None

    def __init_subclass__(cls, value_type: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if value_type is not None:
            cls.value_type = value_type
            if value_type not in VALUE_TYPES:
                VALUE_TYPES.append(value_type)
            _IMPLEMENTATIONS[value_type] = cls

    def __new__(cls, name: str | None = None, value_type: str | None = None, *args: Any,
                **kwargs: Any):
        impl = cls  # (no name: unpickling an instance of a subclass)
        if cls is TaskKind:
            if value_type is None:
                raise TypeError(f"task kind {name!r}: give its value_type "
                                f"({', '.join(VALUE_TYPES)})")
            try:
                impl = value_type_class(value_type)
            except TypeError as exc:
                raise TypeError(f"task kind {name!r}: {exc}") from None
        return super().__new__(impl)

    def __init__(self, name: str, value_type: str | None = None,
                 check: Callable[[Any], None] | None = None, description: str = ""):
        if value_type is not None and value_type != self.value_type:
            raise TypeError(f"task kind {name!r}: value_type {value_type!r} does not match "
                            f"{type(self).__name__}'s {self.value_type!r}")
        self.name, self.check, self.description = name, check, description

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, {self.value_type!r})"

    # -- the [task] section ------------------------------------------------------------
    def complete(self, section: dict[str, Any]) -> dict[str, Any]:
        """The ``[task]`` table as written (a dict, before validation) with what the kind
        decides filled in (a fixed label set, default fields); raise ``ValueError`` with a
        sentence on a table the kind cannot take. Default: the table unchanged."""
        return section

    def settings(self, task_config: Any) -> Any:
        """What the kind keeps from its ``[task]`` section in :attr:`Task.settings` (a
        hashable object, e.g. a rating task's scale); None by default."""
        return None

    # -- values: parsing and formatting ------------------------------------------------
    def parse(self, task: Task, raw: Any, text: str | None = None) -> Any:
        """A value from its text or stored form (a gold cell, a form field, an annotator's
        raw answer); raise :class:`LabelquorumError` with a sentence on bad input.
        ``text`` is the item's text where the value refers into it."""
        raise NotImplementedError(f"task kind {self.name!r} does not parse values")

    def format(self, task: Task, value: Any) -> str:
        """The value's one-line text form (the ledger's ``label`` column, CSV export)."""
        return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)

    def stored(self, task: Task, value: Any) -> tuple[str | None, Any]:
        """``(label, value)``: the ledger's ``label`` text and its JSON ``value`` column."""
        if value is None:
            return None, None
        return self.format(task, value), value

    def from_stored(self, task: Task, label: str | None, value: Any) -> Any:
        """The value back from the ledger's ``label`` and ``value`` columns."""
        return self.parse(task, value if value is not None else label)

    def rename(self, task: Task, raw: Any, mapping: dict[str, str]) -> Any:
        """An annotator's raw answer with its native names mapped (``label_map``)."""
        return raw

    def project(self, task: Task, value: Any, target: str) -> str:
        """The text form of a value seen as one label's yes/no (per-label agreement)."""
        return "yes" if target in self.members(task, value) else "no"

    def to_json(self, task: Task, value: Any) -> str:
        """The value as JSON text: the items' ``gold`` column and the decisions'
        provenance of what each annotator said (tuples become lists)."""
        return json.dumps(list(value) if isinstance(value, tuple) else value)

    def gold_value(self, task: Task, value: Any) -> Any:
        """A gold value read from the items' JSON ``gold`` column (``Project.gold_labels``;
        lists become tuples; not validated)."""
        return tuple(value) if isinstance(value, list) else value

    def gold_text(self, task: Task, value: Any) -> str:
        """The text form of a gold value as the items' JSON ``gold`` column holds it (not
        validated: gold may predate a change of the label set)."""
        return self.format(task, value)

    def gold_json(self, task: Task, text_form: str) -> Any:
        """The export's gold from its text form (JSON formats keep structure)."""
        return text_form

    def check_answer(self, task: Task, value: Any, text: str) -> str | None:
        """Why a parsed answer cannot be right for this item (a failed call), or None."""
        return None

    def members(self, task: Task, value: Any) -> list[str]:
        """The labels one value (or its text form) counts for (the report's label
        distribution)."""
        return []

    # -- encoding for aggregation (vector kinds) ---------------------------------------
    def encode(self, task: Task, value: Any) -> np.ndarray:
        """The board's per-label row for one answer (one-hot, multi-hot)."""
        raise NotImplementedError(f"task kind {self.name!r} is not a vector kind")

    def index_of(self, task: Task, value: Any) -> int:
        """The board's label index of one answer (-1: none, e.g. a label set)."""
        return -1

    def probs(self, task: Task, values: Sequence[Any], confidence: np.ndarray
              ) -> np.ndarray | None:
        """Per-label probabilities from answers and their confidences (None: value kinds)."""
        return None

    def decode(self, task: Task, consensus: Any, i: int) -> Any:
        """Row ``i`` of a :class:`~labelquorum.aggregation.Consensus` as a value (None: no
        answer). Value kinds read ``consensus.values``."""
        if not consensus.votes[i] or consensus.values is None:
            return None
        return consensus.values[i]

    def gold_consensus_row(self, task: Task, value: Any) -> tuple[np.ndarray, int]:
        """A vector kind's posterior row and label for an item decided by its gold."""
        return self.encode(task, value), self.index_of(task, value)

    # -- consensus and agreement (value kinds) -----------------------------------------
    def consensus(self, task: Task, values: Sequence[Any], weights: Sequence[float] | None,
                  text: str | None) -> tuple[Any, float, float]:
        """``(value, confidence, agreement)`` of one item from its answers (weights: the
        annotators' skills, None for an unweighted vote). The default: the weighted
        plurality of equal answers; confidence its weight share, agreement its count share."""
        if not values:
            return None, 0.0, 0.0
        w = [1.0] * len(values) if weights is None else [float(x) for x in weights]
        keys = [self.key(v) for v in values]
        score: dict[Any, float] = {}
        for k, x in zip(keys, w):
            score[k] = score.get(k, 0.0) + x
        best = max(score, key=lambda k: (score[k], -keys.index(k)))
        total = sum(w) or 1.0
        return (values[keys.index(best)], score[best] / total,
                Counter(keys)[best] / len(values))

    def fit_consensus(self, task: Task, answers: dict[str, list]) -> Any:
        """What :meth:`consensus` needs from every answer so far (annotator -> each item's
        value or None), fitted once before items are aggregated; when not None, it is
        passed to ``consensus(..., fitted=, annotators=)`` with the answering annotators'
        names. Default None: each item on its own."""
        return None

    def sample_consensus(self, task: Task, values: Sequence[Any], text: str
                         ) -> tuple[Any, float, np.ndarray | None]:
        """``(value, confidence, probs or None)`` of an LLM's samples of one item
        (self-consistency)."""
        value, _conf, agreement = self.consensus(task, values, None, text)
        return value, agreement, None

    def key(self, value: Any) -> Any:
        """A hashable form of a value: answers with equal keys agree."""
        return json.dumps(value, sort_keys=True, default=str) if not isinstance(
            value, (str, int, float, tuple)) else value

    def same(self, task: Task, a: Any, b: Any) -> bool:
        """Whether two answers agree (an LLM answer confirmed by another annotator)."""
        return a is not None and b is not None and self.key(a) == self.key(b)

    # -- scores against gold -----------------------------------------------------------
    def correct(self, task: Task, answer: Any, gold: Any) -> bool:
        """Whether an answer is right on a gold item (golden questions, status)."""
        return self.same(task, answer, gold)

    def chance(self, task: Task) -> float:
        """The share of right answers a random annotator gets (golden questions' null)."""
        return 0.0

    def evaluate(self, task: Task, truth: list[Any], pred: list[Any]) -> dict[str, Any]:
        """The report's scores of decided values against evaluation gold beyond accuracy:
        ``metric`` (what a right answer is), ``macro_f1``, ``per_class`` ... ."""
        return {"metric": "exact match"}

    def gold_scores(self, task: Task, truth: list[Any], pred: list[Any]) -> dict[str, Any]:
        """Figures of the decided values (``pred``) against evaluation gold (``truth``)
        that ``labelquorum status`` shows besides accuracy (name -> number or None); both
        in their text forms. Default none."""
        return {}

    def describe_scores(self, task: Task, scores: dict[str, Any]) -> str:
        """:meth:`gold_scores` as one line for people ("" : nothing to show)."""
        return ""

    def agreement_data(self, task: Task, labels: Any) -> tuple[Any, str]:
        """The answers (a pandas Series of text forms) as Krippendorff's alpha reads them,
        and its level of measurement. Default: the labels, ``nominal``."""
        return labels, "nominal"

    def status_f1(self, task: Task, truth: list[str], decided: list[Any]) -> float | None:
        """The F1 that ``labelquorum status`` shows besides accuracy (text forms of
        evaluation gold and decided labels, a decided one None or NaN where unlabelled);
        None: none."""
        return None

    def tables(self, task: Task, project: Any) -> dict[str, dict[str, Any]]:
        """The kind's own result tables of a project, by name (pairwise: ``systems``):
        each a dict with ``title``, ``columns``, ``rows`` (dicts keyed by column) and
        ``notes`` (sentences), besides its own data. ``status`` prints them, the report
        shows them as sections, ``export --table NAME`` writes one. Default: none."""
        return {}

    # -- the LLM: instructions, JSON schema, parsing -----------------------------------
    def value_schema(self, task: Task) -> dict[str, Any]:
        """The JSON schema of one value in an LLM's answer (the default wraps it)."""
        return {}

    def llm_schema(self, task: Task, verbalized: bool) -> dict[str, Any]:
        """The JSON schema of an LLM's whole answer."""
        props: dict[str, Any] = {"value": self.value_schema(task)}
        if verbalized:
            props["confidence"] = {"type": "number", "minimum": 0, "maximum": 1}
        return {"type": "object", "properties": props, "required": list(props),
                "additionalProperties": False}

    def llm_text(self, task: Task, fields: dict[str, Any]) -> str:
        """The item as the LLM reads it (its few-shot neighbours are found by it too).
        Default: the ``text_field``."""
        return str(fields.get(task.text_field, ""))

    def swap_sides(self, task: Task, fields: dict[str, Any]) -> dict[str, Any] | None:
        """The item with its two sides swapped, for kinds whose items have two (pairwise:
        response A and B); None (the default): the kind has no sides, so an LLM cannot be
        asked in both orders (``both_orders``)."""
        return None

    def combine_orders(self, task: Task, first: tuple[Any, float, Any],
                       swapped: tuple[Any, float, Any]) -> tuple[Any, float, Any, bool]:
        """One answer from ``(value, confidence, probs)`` asked as shown and asked with the
        sides swapped: ``(value, confidence, probs, whether the two agreed)``."""
        raise NotImplementedError(f"task kind {self.name!r} has no sides to swap")

    def llm_task(self, task: Task) -> str:
        """The first line of the system message: what the annotator is asked to do."""
        return "You are a careful data annotator. Label the item you are given."

    def llm_labels_heading(self, task: Task) -> str:
        """The heading over the label list in the system message ("" : no list)."""
        return "Labels:" if task.labels else ""

    def llm_answer_members(self, task: Task) -> list[str]:
        """The members of the answer's JSON object, as the prompt describes them."""
        return ['"value": <the answer>']

    def llm_confidence_member(self, task: Task) -> str:
        """How the prompt asks for a verbalized confidence."""
        return '"confidence": <probability from 0 to 1 that you are right>'

    def llm_preamble(self, task: Task) -> list[str]:
        """Lines of instructions before the answer's shape."""
        return []

    def llm_instructions(self, task: Task, verbalized: bool, extra: Sequence[str] = ()
                         ) -> list[str]:
        """The lines that end the system message: the preamble and the answer's shape
        (``extra``: more members, e.g. the web assistant's ``"rationale"``)."""
        members = [*self.llm_answer_members(task),
                   *([self.llm_confidence_member(task)] if verbalized else []), *extra]
        return [*self.llm_preamble(task), "Answer with JSON only: {" + ", ".join(members) + "}"]

    def llm_assistant_task(self, task: Task) -> str:
        """The first line of the web assistant's system message."""
        return "You help a person label an item. Suggest the label and say briefly why."

    def llm_example(self, task: Task, value: Any, text: str) -> str:
        """A few-shot example's answer, as the LLM should write it."""
        return json.dumps({"value": value}, ensure_ascii=False)

    def llm_answer_guess(self, task: Task) -> str:
        """A typical answer's text, to estimate output tokens before any call."""
        return self.llm_example(task, task.labels[0] if task.labels else "x" * 12, "")

    def llm_reask(self, task: Task, reason: str) -> dict[str, Any]:
        """The user message that asks again after an answer that could not be read."""
        return {"role": "user", "content": f"{reason} Answer again with JSON only, with "
                                           '"value".'}

    def llm_parse(self, task: Task, content: str, text: str = ""
                  ) -> tuple[Any, float | None, str] | tuple[Any, float | None, str, dict]:
        """``(value, verbalized confidence or None, the answer as written[, log])``; raise
        :class:`labelquorum.llm.prompt.InvalidAnswer` when no value can be read. ``log``
        (optional) is added to the call's logged response."""
        from ..llm.prompt import InvalidAnswer, json_object, read_confidence

        try:
            data = json_object(content)
        except ValueError:
            data = None
        if not isinstance(data, dict) or "value" not in data:
            raise InvalidAnswer('The JSON has no "value".', content)
        try:
            value = self.parse(task, data["value"])
        except LabelquorumError as exc:
            raise InvalidAnswer(str(exc), content) from None
        return value, read_confidence(data), content

    # -- the annotation widget ---------------------------------------------------------
    def hotkeys(self, task: Task, keys: Sequence[str]) -> list[tuple[str, str, str]]:
        """``(label, key, description)`` per choice of the widget (``keys``: the configured
        or default key per label)."""
        return list(zip(task.labels, keys, task.descriptions))

    def form_answer(self, task: Task, form: list[str]) -> Any:
        """The raw answer (for :meth:`parse`) in a submitted HTML form's ``label`` fields
        (the review page); the JSON API sends the raw answer itself."""
        return form[0]

    def view(self, task: Task, value: Any, text: str | None) -> dict[str, Any]:
        """What the annotate page shows of a value or its text form (the assistant's
        advice) besides its text (spans: the entities to mark)."""
        return {}

    def export_columns(self, task: Task, labels: Any, values: list[Any]) -> dict[str, Any]:
        """Columns the export adds after ``label``: name -> a column aligned with ``labels``
        (a pandas Series of the decided values' text forms, None where undecided) and
        ``values`` (each decided value as stored, the ``decisions.value`` JSON, None when
        undecided or kept in the label alone). Default: none."""
        return {}

    def marks(self, task: Task, text: str, label: str) -> list[tuple[str, str | None]] | None:
        """An answer's text form shown on the item's text (the review page): the text cut
        into ``(piece, label or None)``; None: not shown so (or it does not fit)."""
        return None

    def editor(self, task: Task, text: str, candidates: list[str | None]
               ) -> dict[str, Any] | None:
        """The review page's editor of a value on the item's text, started from the first
        candidate (text forms) that fits; None: the page's label choices instead."""
        return None

    # -- formats -----------------------------------------------------------------------
    def labelstudio_result(self, task: Task, value: Any, text: str
                           ) -> list[dict[str, Any]]:
        """A value as Label Studio ``result`` regions (export). Default: a textarea with
        its text form."""
        return [{"from_name": "label", "to_name": task.text_field, "type": "textarea",
                 "value": {"text": [self.format(task, value)]}}]

    def from_labelstudio(self, task: Task, result: list[Any], text: str | None) -> Any:
        """A value from one annotation's or prediction's Label Studio ``result`` regions
        (import); None: it gives no answer. Raise :class:`LabelquorumError` with a
        sentence. Default: a textarea's text."""
        texts = [t for r in result if isinstance(r, dict) and r.get("type") == "textarea"
                 for t in (r.get("value") or {}).get("text") or []]
        others = [r.get("type") if isinstance(r, dict) else None for r in result
                  if not (isinstance(r, dict) and r.get("type") == "textarea")]
        if others:
            raise LabelquorumError(f"result type {others[0]!r} cannot be imported; a "
                                   f"{task.kind} task takes textarea regions")
        return self.parse(task, texts[0], text) if texts else None


    def hf_feature(self, task: Task) -> Any:
        """The Hugging Face ``datasets`` feature of the label and gold columns (None: the
        text form, as a string)."""
        return None

    def hf_encode(self, task: Task, text_form: str) -> Any:
        """One label or gold cell (text form) encoded for :meth:`hf_feature`."""
        return text_form

    # -- work on the answers before the policy decides ---------------------------------
    def answer_pass(self, runner: Any) -> Any:
        """Paid work a kind does on the stored answers before the policy decides, built
        once per run (:class:`labelquorum.run.Runner` passes itself): an object whose
        ``run(positions=None)`` the run calls before each policy step and before deciding
        items the budget stopped. None (the default): nothing to do. The free-text kind
        returns its LLM judge, which scores each answer through the ledger."""
        return None

    def plan_rows(self, project: Any, items: Any, n_open: int, writers: list[str]
                  ) -> list[dict[str, Any]]:
        """Rows ``labelquorum plan`` adds for the kind's own paid work (columns of
        :class:`labelquorum.planning.RunPlan` rows), from the sampled ``items`` of the
        ``n_open`` open items that the policy's ``writers`` answer. Default: none."""
        return []

    # -- simulated answers -------------------------------------------------------------
    def simulate(self, task: Task, gold: Any, accuracy: float,
                 draw: Callable[..., float], confusion: Any = None) -> tuple[Any, float]:
        """A simulated annotator's ``(answer, confidence)`` on an item with this gold:
        right with probability ``accuracy``. ``draw(*key)`` is a reproducible uniform draw
        in [0, 1) per key (the item is already in it)."""
        raise LabelquorumError(f"simulated annotators cannot answer {self.name} tasks")


__all__ = ["VALUE_TYPES", "TaskKind", "forget_value_type", "value_type_class"]
