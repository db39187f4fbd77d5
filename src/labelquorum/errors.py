"""The one exception tree of labelquorum.

Every error a user can cause or meet is one of these; backend libraries' exceptions
(pandas, SQLAlchemy, scikit-learn, HTTP clients) are translated into it where they are
caught. Messages are complete sentences: what was expected, what was found, and how to
fix it.

::

    LabelquorumError
    ├── ConfigError            the project's TOML config is invalid
    │   └── PluginError        an installed plugin (entry point) cannot be loaded
    ├── ProjectError           no project here, or it cannot be created / opened
    │   └── RunInProgress      another live process runs the project (``run_id``)
    ├── ImportDataError        a data file cannot be imported (names row and field)
    ├── StoreError             the database cannot be reached or migrated
    ├── AnnotatorError         an annotator cannot be built or failed
    │   ├── MissingExtraError  an optional dependency is not installed
    │   ├── MediaError         an item's image path is refused or unreadable
    │   ├── RetrievalError     few-shot example retrieval got a bad setting or pool
    │   └── LlmError           an LLM endpoint call failed (after retries)
    │       ├── LlmAuthError        the endpoint refused the key (names api_key_env)
    │       ├── LlmRateLimitError   still rate limited (429) after every retry
    │       ├── LlmServerError      5xx, timeouts or no connection after every retry
    │       ├── LlmRequestError     the endpoint refused the request (4xx: model, params)
    │       ├── LlmAnswerError      no valid label after the configured re-asks
    │       └── LlmUnavailableError the circuit breaker is open: calls stopped
    ├── PolicyError            a policy got a state it cannot handle
    ├── ExportError            the export target is not writable or of unknown type
    ├── AgreementError         an agreement statistic is undefined for the table given
    ├── QualityError           a quality check (golden θ, label issues, language) got bad input
    ├── RecordingError         recorded model outputs cannot be read or mapped to labels
    ├── ClusterError           the Ray cluster cannot be joined, or its workers failed
    └── WebError               a request to the web app cannot be served (``status`` is
                               its HTTP status, ``code`` a short machine-readable name)
"""

from __future__ import annotations


class LabelquorumError(Exception):
    """Base class of every error labelquorum raises on purpose."""


class ConfigError(LabelquorumError):
    """The project configuration is invalid.

    ``key`` is the dotted path of the offending setting (``policy.tiers[1].annotators``).
    """

    def __init__(self, message: str, key: str | None = None):
        self.key = key
        super().__init__(f"{key}: {message}" if key else message)


class PluginError(ConfigError):
    """An installed plugin's entry point could not be loaded, or registers a name twice;
    the message names the package and the entry point."""


class ProjectError(LabelquorumError):
    """There is no project where one was expected, or it cannot be created."""


class RunInProgress(ProjectError):
    """Another live process runs the project; ``run_id`` is its run. With ``[run] workers =
    "many"`` on PostgreSQL a ``labelquorum run`` joins it instead of stopping here."""

    def __init__(self, message: str, run_id: int):
        self.run_id = run_id
        super().__init__(message)


class ImportDataError(LabelquorumError):
    """A data file could not be imported; nothing from it was stored.

    ``row`` is the 1-based data row (header excluded) and ``field`` the column, when known.
    """

    def __init__(self, message: str, *, path: str | None = None, row: int | None = None,
                 field: str | None = None):
        self.path, self.row, self.field = path, row, field
        where = []
        if path:
            where.append(str(path))
        if row is not None:
            where.append(f"row {row}")
        if field is not None:
            where.append(f"field {field!r}")
        super().__init__(f"{', '.join(where)}: {message}" if where else message)


class StoreError(LabelquorumError):
    """The store cannot be opened, migrated or written."""


class AnnotatorError(LabelquorumError):
    """An annotator could not be built, trained or called."""


class MissingExtraError(AnnotatorError):
    """An optional dependency is missing; the message names the extra to install."""

    def __init__(self, what: str, extra: str, missing: str):
        super().__init__(
            f"{what} needs the optional dependency {missing!r}, which is not installed. "
            f"Install it with: pip install 'labelquorum[{extra}]'"
        )


class MediaError(AnnotatorError):
    """An item's image field points outside the project's media root or cannot be read."""


class LlmError(AnnotatorError):
    """A call to an LLM endpoint failed; ``status`` is the HTTP status when there was one."""

    def __init__(self, message: str, status: int | None = None):
        self.status = status
        super().__init__(message)


class LlmAuthError(LlmError):
    """The endpoint refused the API key."""


class LlmRateLimitError(LlmError):
    """The endpoint kept answering 429 (rate limited) after every retry."""


class LlmServerError(LlmError):
    """Server errors (5xx), timeouts or connection failures outlasted every retry."""


class LlmRequestError(LlmError):
    """The endpoint refused the request itself (4xx): unknown model, bad parameters.

    ``detail`` is the server's own message and ``param`` the parameter it names, when it
    names one (OpenAI's error ``param`` field)."""

    def __init__(self, message: str, status: int | None = None, *, detail: str = "",
                 param: str | None = None):
        self.detail, self.param = detail, param
        super().__init__(message, status)


class LlmAnswerError(LlmError):
    """The model gave no valid answer (unparseable, or outside the label set) after the
    configured re-asks; ``answer`` is the last one, when there was one."""

    def __init__(self, message: str, status: int | None = None, *,
                 answer: str | None = None):
        self.answer = answer
        super().__init__(message, status)


class LlmUnavailableError(LlmError):
    """The circuit breaker is open: the endpoint failed too often in a row, so calls stop."""


class PolicyError(LabelquorumError):
    """A policy was given a state it cannot act on."""


class ExportError(LabelquorumError):
    """The export could not be written."""


class AgreementError(LabelquorumError):
    """An agreement statistic cannot be computed: too few annotators or shared items, no
    variation in the labels, or values of the wrong type for the level of measurement."""


class QualityError(LabelquorumError):
    """A quality check (:mod:`labelquorum.quality`: golden-question quality, monitoring,
    label issues, the alternative-annotator test, language checks) got input it cannot use:
    no golden answers, certainties outside their range, a missing column, too few items."""


class RetrievalError(AnnotatorError):
    """Few-shot example retrieval (:mod:`labelquorum.retrieval`) was given an invalid
    setting (k, strategy, mmr_lambda), an empty or malformed pool, or was used unfitted."""


class RecordingError(LabelquorumError):
    """Recorded model outputs (``labelquorum.recordings``) cannot be read, or a gold value
    cannot be mapped to the task's label set."""


class ClusterError(LabelquorumError):
    """The Ray cluster of ``[run] executor = "ray"`` cannot be joined, or a batch of work
    failed on its workers after Ray's retries."""


class WebError(LabelquorumError):
    """A request to the web app (or an account command) cannot be served.

    ``status`` is the HTTP status the API answers with and ``code`` a short name for
    scripts (``not_found``, ``forbidden``, ``conflict`` ...).
    """

    def __init__(self, message: str, *, status: int = 400, code: str = "bad_request"):
        self.status, self.code = status, code
        super().__init__(message)
