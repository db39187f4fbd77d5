"""Tables of the store (SQLAlchemy Core).

Every table carries ``project_id``, so one PostgreSQL database can hold many projects.
``judgements`` is the one long table: append-only; an edit writes a new row that
supersedes the old one. ``requests`` is the ledger: a row is written before an annotator
is asked, and judgements answer requests.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

# Indexes are few on purpose: every one is paid on each write of the hot tables (requests
# and judgements are written two and one times per answer). Add one with a migration when
# a query needs it.

projects = Table(
    "projects", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("created", DateTime(timezone=True), nullable=False),
)

items = Table(
    "items", metadata,
    Column("project_id", Integer, ForeignKey("projects.id"), primary_key=True),
    Column("id", Text, primary_key=True),
    Column("seq", Integer, nullable=False),
    Column("fields", Text, nullable=False),  # JSON object of the item's fields
    Column("gold", Text),  # JSON: a label, or a list of labels for multilabel
    Column("gold_role", String(16)),  # seed | calibration | control | evaluation
    Column("source", Text),
    # a golden item's certainty in [0, 1] (expert agreement), imported from a ``certainty``
    # column; NULL: not given (see labelquorum.quality.probes for what stands in)
    Column("gold_certainty", Float),
    # ISO 639-1 code from the input's language column or py3langid; 'und' where it could
    # not be told; NULL until known (labelquorum.languages)
    Column("language", String(16)),
    # no index on seq: only whole-project reads order by it, and sorting is cheaper than
    # maintaining an index on every import (about 15 % of a 1M-item import)
)

runs = Table(
    "runs", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project_id", Integer, ForeignKey("projects.id"), nullable=False),
    Column("started", DateTime(timezone=True), nullable=False),
    Column("finished", DateTime(timezone=True)),
    Column("status", String(16), nullable=False),  # running | waiting | done
    Column("seed", Integer, nullable=False),
    Column("config_hash", String(64), nullable=False),
    Column("repeated_calls", Integer, nullable=False, default=0),
    Column("resumes", Integer, nullable=False, default=0),
    Column("owner", Text),  # "host:pid" of the process running it; NULL when none
    Column("heartbeat", DateTime(timezone=True)),
    # the shared budget of a many-worker run (labelquorum.engine.workers): the cost of every
    # stored judgement and the reservations of calls in flight; NULL in a one-process run
    Column("spent", Float),
    Column("reserved", Float),
)

# A trainable annotator retrained within a run (policy.retrain_every): what it was
# trained on, how it scored against the version before on calibration gold, and whether
# it was promoted; a resumed run retrains promoted versions on exactly these items.
refits = Table(
    "refits", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project_id", Integer, ForeignKey("projects.id"), nullable=False),
    Column("run_id", Integer, nullable=False),
    Column("annotator", Text, nullable=False),
    Column("version", String(64), nullable=False),  # of the retrained model
    Column("previous", String(64), nullable=False),  # the version it would replace
    Column("verified", Integer, nullable=False),  # the run's verified labels at the refit
    Column("trained_on", JSON, nullable=False),  # item ids of its training set, in order
    Column("score", Float),  # accuracy on calibration gold; NULL without any
    Column("previous_score", Float),
    Column("promoted", Boolean, nullable=False),
    Column("created", DateTime(timezone=True), nullable=False),
    Index("ix_refits_run", "project_id", "run_id"),
)

requests = Table(
    "requests", metadata,
    Column("project_id", Integer, ForeignKey("projects.id"), primary_key=True),
    Column("key", String(64), primary_key=True),  # idempotency key
    Column("item_id", Text, nullable=False),
    Column("annotator", Text, nullable=False),
    Column("annotator_version", String(64), nullable=False),
    Column("run_id", Integer, nullable=False),
    Column("reserved_cost", Float, nullable=False, default=0.0),
    # pending | sent | done | failed | abstained | superseded (asked of a model since retrained)
    Column("state", String(12), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("error", Text),
    Column("updated", DateTime(timezone=True), nullable=False),
    # a many-worker run's claim: the worker (workers.id) asking it, until its lease ends
    Column("claimed_by", Integer),
    Column("lease_until", DateTime(timezone=True)),
)

# The processes of a many-worker run (``[run] workers = "many"``, PostgreSQL): each claims
# requests under a lease it renews with its heartbeat; one that stops beating loses them.
workers = Table(
    "workers", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project_id", Integer, ForeignKey("projects.id"), nullable=False),
    Column("run_id", Integer, nullable=False),
    Column("owner", Text, nullable=False),  # "host:pid"
    Column("state", String(12), nullable=False),  # working | left | gone (found dead)
    Column("started", DateTime(timezone=True), nullable=False),
    Column("heartbeat", DateTime(timezone=True), nullable=False),
    Column("answered", Integer, nullable=False, default=0),
    Index("ix_workers_run", "project_id", "run_id"),
)

#: ``judgements.value_type`` of a verdict: a judge's score of another judgement's answer (the
#: free-text kind's LLM judge), not an answer to the item. Readers of answers leave it out.
VERDICT = "score"

judgements = Table(
    "judgements", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project_id", Integer, ForeignKey("projects.id"), nullable=False),
    Column("request_key", String(64)),
    Column("item_id", Text, nullable=False),
    Column("annotator", Text, nullable=False),
    Column("annotator_kind", String(16), nullable=False),
    Column("annotator_version", String(64)),
    Column("value_type", String(12), nullable=False),  # class | labelset | spans | number | text
    Column("label", Text),  # the class, or labels joined by '|'; NULL unless status ok
    Column("value", JSON),  # structured value (labelset list, spans, number, text)
    Column("probs", JSON),  # {label: probability}
    Column("confidence", Float),
    Column("cost", Float, nullable=False, default=0.0),
    Column("latency", Float),
    Column("call_id", Integer),
    Column("run_id", Integer),
    Column("status", String(12), nullable=False),  # ok | abstain | failed | superseded
    Column("simulated", Boolean, nullable=False, default=False),
    Column("supersedes", Integer),
    Column("created", DateTime(timezone=True), nullable=False),
    # how ``confidence`` was found: logprobs | self-consistency | verbalized | none (LLMs)
    Column("confidence_method", String(24)),
    # who among a deferred annotator's people answered (a user name); NULL for models.
    # Truth inference treats ``annotator:worker`` as one worker.
    Column("worker", Text),
    Index("ix_judgements_item", "project_id", "item_id"),
)

model_calls = Table(
    "model_calls", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project_id", Integer, ForeignKey("projects.id"), nullable=False),
    Column("request_key", String(64)),
    Column("annotator", Text, nullable=False),
    Column("model", String(200)),
    Column("request", JSON),
    Column("response", JSON),
    Column("tokens_in", Integer),
    Column("tokens_out", Integer),
    Column("cost", Float, nullable=False, default=0.0),
    Column("latency", Float),
    Column("cache_key", String(64)),
    Column("error", Text),
    Column("created", DateTime(timezone=True), nullable=False),
    Index("ix_model_calls_cache", "project_id", "cache_key"),
)

decisions = Table(
    "decisions", metadata,
    Column("project_id", Integer, ForeignKey("projects.id"), primary_key=True),
    Column("item_id", Text, primary_key=True),
    Column("label", Text),  # NULL when nothing could label the item
    Column("value", JSON),
    Column("confidence", Float),
    Column("decided_by", Text, nullable=False),
    Column("tier", Text),
    Column("flags", Text, nullable=False, default=""),
    # final | review | budget | failed: whether a later run may reopen the item and why
    # (see labelquorum.policies.DecisionState); flags are informational only
    Column("state", String(12), nullable=False, default="final"),
    Column("provenance", JSON),
    Column("run_id", Integer),
    Column("created", DateTime(timezone=True), nullable=False),
)

# -- the web app (people in the loop) ---------------------------------------------------
# Accounts, sessions and tokens are per project. ``human_tasks`` is the people's queue,
# made from the human tier's pending requests: one row per request, needing ``needed``
# (the overlap) answers; ``assignments`` leases one task to one person (a row per person
# and item, ever, so nobody gets an item twice). Golden questions are assignments without
# a request; their answers stay here (they are measurements of the person, never votes).

users = Table(
    "users", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project_id", Integer, ForeignKey("projects.id"), nullable=False),
    Column("name", String(100), nullable=False),
    Column("role", String(16), nullable=False),  # annotator | reviewer | admin
    Column("password_hash", Text),  # NULL until an invite is accepted
    Column("invite_hash", String(64)),
    Column("invite_expires", DateTime(timezone=True)),
    Column("active", Boolean, nullable=False, default=True),
    Column("paused", Boolean, nullable=False, default=False),
    Column("created", DateTime(timezone=True), nullable=False),
    Index("ux_users_name", "project_id", "name", unique=True),
)

web_sessions = Table(
    "web_sessions", metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("project_id", Integer, ForeignKey("projects.id"), nullable=False),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("csrf", String(64), nullable=False),
    Column("created", DateTime(timezone=True), nullable=False),
    Column("expires", DateTime(timezone=True), nullable=False),
)

api_tokens = Table(
    "api_tokens", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project_id", Integer, ForeignKey("projects.id"), nullable=False),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("name", Text, nullable=False),
    Column("revoked", Boolean, nullable=False, default=False),
    Column("created", DateTime(timezone=True), nullable=False),
    # read | annotate | review | admin: what the token may do, within its user's role
    # (see labelquorum.web.auth.SCOPES); tokens made before scopes existed are ``admin``
    Column("scope", String(12), nullable=False, default="admin"),
    Column("expires", DateTime(timezone=True)),  # NULL: never (tokens made before expiry)
)

# Secrets the web app keeps server-side, by name (``login``: the key that signs the
# login form's token). Per project, made on first use.
web_keys = Table(
    "web_keys", metadata,
    Column("project_id", Integer, ForeignKey("projects.id"), primary_key=True),
    Column("name", String(32), primary_key=True),
    Column("secret", String(128), nullable=False),
    Column("created", DateTime(timezone=True), nullable=False),
)

human_tasks = Table(
    "human_tasks", metadata,
    Column("project_id", Integer, ForeignKey("projects.id"), primary_key=True),
    Column("request_key", String(64), primary_key=True),
    Column("item_id", Text, nullable=False),
    Column("annotator", Text, nullable=False),
    Column("seq", Integer, nullable=False),
    Column("needed", Integer, nullable=False),
    Column("active", Integer, nullable=False, default=0),  # leased + done
    Column("done", Integer, nullable=False, default=0),
    Column("state", String(8), nullable=False),  # open | full | closed
    Index("ix_human_tasks_queue", "project_id", "state", "seq"),
)

assignments = Table(
    "assignments", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project_id", Integer, ForeignKey("projects.id"), nullable=False),
    Column("public_id", String(32), nullable=False, unique=True),  # all the browser sees
    Column("item_id", Text, nullable=False),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("request_key", String(64)),  # NULL for a golden question
    Column("control", Boolean, nullable=False, default=False),
    Column("state", String(8), nullable=False),  # leased | done | skipped
    Column("leased", DateTime(timezone=True), nullable=False),
    Column("lease_expires", DateTime(timezone=True), nullable=False),
    Column("submitted", DateTime(timezone=True)),
    Column("seconds", Float),
    Column("label", Text),
    Column("correct", Boolean),  # golden questions only
    Column("judgement_id", Integer),
    Column("suggestion", Text),  # the label suggested to the person, if one was shown
    Column("suggestion_accepted", Boolean),
    Column("judge_score", Float),
    Column("judge_note", Text),
    # the page's visibility reports: seconds it was hidden while this item was on screen,
    # and since when it has been hidden (NULL while visible); the server's time on the
    # item leaves them out
    Column("hidden_seconds", Float, nullable=False, default=0.0),
    Column("hidden_since", DateTime(timezone=True)),
    Index("ux_assignments_item_user", "project_id", "item_id", "user_id", unique=True),
    Index("ix_assignments_user", "project_id", "user_id", "state"),
    Index("ix_assignments_lease", "project_id", "state", "lease_expires"),
    # a person's last answer: where the server's time on their next item starts
    Index("ix_assignments_user_submitted", "project_id", "user_id", "submitted"),
)

comments = Table(
    "comments", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project_id", Integer, ForeignKey("projects.id"), nullable=False),
    Column("item_id", Text, nullable=False),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("text", Text, nullable=False),
    Column("flag", Boolean, nullable=False, default=False),
    Column("created", DateTime(timezone=True), nullable=False),
    Index("ix_comments_item", "project_id", "item_id"),
)

reviews = Table(
    "reviews", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project_id", Integer, ForeignKey("projects.id"), nullable=False),
    Column("item_id", Text, nullable=False),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("label", Text, nullable=False),
    Column("note", Text),
    Column("created", DateTime(timezone=True), nullable=False),
)

# Likely label errors (labelquorum.quality.label_issues), as last found by ``labelquorum
# label-issues`` or ``labelquorum report``: one row per checked item, replaced each time.
# The review page's "Likely label errors" queue and ``status`` read the flagged ones that no
# reviewer has decided since ``created``.
label_issue_scores = Table(
    "label_issue_scores", metadata,
    Column("project_id", Integer, ForeignKey("projects.id"), nullable=False),
    Column("item_id", Text, nullable=False),
    Column("label_quality", Float, nullable=False),  # in [0, 1]; lower: likelier an error
    Column("is_issue", Boolean, nullable=False),
    Column("annotator", Text),  # whose out-of-sample probabilities scored it
    Column("created", DateTime(timezone=True), nullable=False),
    Index("ux_label_issue_scores", "project_id", "item_id", unique=True),
)

# What the golden-question monitor raised (labelquorum.quality.monitor): an annotator's
# quality dropped on its golden answers, or its version changed. ``position`` is the id of
# the judgement (the golden answer) that raised it, so replaying the history finds the
# same alerts and stores none twice, also after answered items became golden.
quality_alerts = Table(
    "quality_alerts", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project_id", Integer, ForeignKey("projects.id"), nullable=False),
    Column("run_id", Integer),
    Column("annotator", Text, nullable=False),
    Column("kind", String(16), nullable=False),  # quality_drop | version_change
    Column("position", Integer, nullable=False),
    Column("version", Text),
    Column("statistic", Float),
    Column("theta_window", Float),
    Column("message", Text, nullable=False),
    Column("created", DateTime(timezone=True), nullable=False),
    Index("ux_quality_alerts", "project_id", "annotator", "kind", "position", unique=True),
)

WEB_TABLES = (users, web_sessions, api_tokens, human_tasks, assignments, comments, reviews)
# web_keys is not among them: migration 3 created the tables above; migration 5 adds it

schema_migrations = Table(
    "schema_migrations", metadata,
    Column("version", Integer, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("applied", DateTime(timezone=True), nullable=False),
)
