"""The run: execute a policy over a project's open items, resumably.

The story, with each job in its own module of :mod:`labelquorum.engine`:

1. take the run lock (``engine.lock``): begin a run, or resume the one a killed process
   left, or refuse while another process runs the project;
2. train the trainable annotators and the LLMs' example pools on the verified pool
   (``engine.training``);
3. rebuild everything the policy sees from the store (``engine.state``), so a resumed
   run makes the choices an uninterrupted one would;
4. decide seed gold and control gold by their gold (control items are never real work);
   ask what the killed run left outstanding;
5. step the policy until it has nothing left to do: each plan's decisions and requests are
   committed to the ledger (``engine.ledger``) before anything is asked, then the executor
   (``engine.executor``) asks, within the budget, and stores each answer as it exists.
   Every annotator the plan asks (people aside) is also asked golden probes, control items
   it has not answered (``engine.probes``), and the monitor is fed the golden answers
   that arrived (:class:`labelquorum.quality.watch.GoldenWatch`);
6. items the budget stopped keep their best label so far, decided ``budget``: the next run
   reopens them, as it reopens items whose deciding calls failed.

The money budget is a hard cap on committed spend (settled costs plus the reservations of
calls in flight); see :class:`labelquorum.engine.ledger.Budget`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from .aggregation import Consensus
from .annotators import Annotator
from .annotators.cache import CallCache
from .engine.executor import make_executor, short_error
from .engine.languages import record_languages
from .engine.learning import Learner
from .engine.ledger import REQUEST_STATE, Budget, Ledger, instant, request_key
from .engine.lock import RunLock
from .engine.probes import Probes
from .engine.shared import SharedBudget, SharedPool
from .engine.state import RunState
from .engine.training import train
from .engine.workers import Worker, check_store, follow, run_to_join
from .errors import ConfigError, PolicyError, RunInProgress, StoreError
from .policies import NOT_ASKED, OK, PENDING, Decision, DecisionState, Plan
from .policies.cascade import HELD, take
from .quality.watch import GoldenWatch, control_bank, theta_of, theta_weights

if TYPE_CHECKING:
    from .project import Project

__all__ = ["REQUEST_STATE", "RunReport", "Runner", "request_key"]


def control_ids(store) -> set[str]:
    """The project's control (golden) items, never served from the call cache."""
    from .store import schema

    it = schema.items
    with store.connect() as conn:
        return set(conn.execute(select(it.c.id).where(
            (it.c.project_id == store.project_id) & (it.c.gold_role == "control"))).scalars())


def instant_all(annotators: dict[str, Annotator], names: list[str]) -> bool:
    return all(instant(annotators[n]) for n in names)


@dataclass
class RunReport:
    run_id: int
    resumed: bool
    items: int
    decided_now: int
    open: int
    waiting_human: int
    asked: dict[str, int] = field(default_factory=dict)  # golden probes included
    probes: dict[str, int] = field(default_factory=dict)  # golden probes asked this run
    alerts: list[str] = field(default_factory=list)  # the golden monitor's, raised this run
    failed: dict[str, int] = field(default_factory=dict)
    cost: float = 0.0
    repeated_calls: int = 0
    budget_stopped: int = 0
    failed_items: int = 0  # decided ``failed`` this run: the next run asks them again
    unlabelled_now: int = 0  # closed for good without a label (every annotator abstained)
    unstored: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    status: str = "done"
    role: str = "leader"  # or "worker": this process helped another's run (workers = many)


class Runner:
    """One run of a project's policy. Use :meth:`labelquorum.Project.run`."""

    def __init__(self, project: Project, annotators: dict[str, Annotator], policy,
                 progress: Callable[[int, int, str], None] | None = None,
                 seed: int | None = None, executor: str | None = None,
                 address: str | None = None, join: bool = False):
        self.project = project
        self.store = project.store
        self.task = project.task
        self.annotators = annotators
        self.policy = policy
        self.on_progress = progress or (lambda done, total, stage: None)
        self.seed = project.config.project.seed if seed is None else seed
        self.aggregator = project.config.policy.aggregator
        self.executor_kind, self.address = executor, address  # override [run]
        self.join, self.pool = join, None

    def run(self) -> RunReport:
        """Run (or resume) the project's run; with ``[run] workers = "many"``, join the run
        in progress as a worker, and take it over if its leader dies."""
        where = self.project.config.run
        if where.workers == "one" and not self.join:
            return self._lead(RunLock(self.store, self.seed, self.project.config_hash).acquire())
        check_store(self.store)
        if where.workers == "one":
            raise ConfigError("'labelquorum run --join' needs [run] workers = \"many\" (and a "
                              "PostgreSQL store); set it in the config of every process that "
                              "works on the project.", key="run.workers")
        if (self.executor_kind or where.executor) == "ray":
            raise ConfigError("workers = \"many\" runs each worker's calls in its own "
                              "process; it does not combine with executor = \"ray\" yet. "
                              "Choose one of them.", key="run.workers")
        helped: RunReport | None = None
        while True:
            if not self.join:
                try:
                    return self._lead(RunLock(self.store, self.seed,
                                              self.project.config_hash).acquire(), helped)
                except RunInProgress as exc:
                    run_id = exc.run_id
            else:
                run_id = run_to_join(self.store, where.lease_seconds)
                if run_id is None:  # none began, or it ended before this process came
                    helped = helped or RunReport(0, False, 0, 0, 0, 0, role="worker")
                    helped.status = "none"
                    return helped
            helped = self._follow(run_id, helped)
            if helped.status != "leaderless":
                return helped
            self.join = False  # the leader is dead: take the run over

    def _follow(self, run_id: int, helped: RunReport | None) -> RunReport:
        """Work on another process's run; the report of what this process did."""
        cfg = self.project.config
        from .store import schema

        rn = schema.runs
        with self.store.connect() as conn:
            started_with = conn.execute(select(rn.c.config_hash)
                                        .where(rn.c.id == run_id)).scalar()
        if started_with != self.project.config_hash:
            raise ConfigError(
                f"this process's labelquorum.toml differs from the config run {run_id} was "
                "started with, and every worker of a run must use the leader's config (its "
                "budget, annotators and policy decide what is paid for). Copy the leader's "
                "labelquorum.toml to this worker (only [store] url may differ), then join "
                "again.", key="run.workers")
        train(self.store, self.task, self.annotators, before_run=run_id,
              self_weight=cfg.policy.self_training_weight)
        control = control_ids(self.store)
        for ann in self.annotators.values():
            if ann.uses_cache:
                ann.cache = CallCache(self.store, self.store.project_id, exclude=control)
        worker = Worker(self.store, self.task, self.annotators, run_id,
                        SharedBudget(self.store, run_id, cfg.policy.budget),
                        lease=cfg.run.lease_seconds)
        why = follow(worker)
        r = self._helper_report(run_id, worker, helped)
        r.status = why
        return r

    def _helper_report(self, run_id: int, worker: Worker | None,
                       before: RunReport | None = None) -> RunReport:
        r = before or RunReport(run_id, False, 0, 0, 0, 0, role="worker")
        r.run_id = run_id
        if worker is not None:
            for name, n in worker.answered.items():
                r.asked[name] = r.asked.get(name, 0) + n
            r.cost += worker.cost
            r.repeated_calls += worker.repeated
            if worker.lost:
                r.notes.append(f"{worker.lost} answers arrived after this worker's claim on "
                               "them had been taken over, and were not stored")
        return r

    def _lead(self, lock: RunLock, helped: RunReport | None = None) -> RunReport:
        self.lock = lock
        try:
            report = self._run()
        except BaseException as exc:
            try:
                self.lock.release()  # a crash or Ctrl-C: the next run resumes at once
            except SQLAlchemyError:
                pass  # the store is down; the lock's owner is this dead process anyway
            if isinstance(exc, SQLAlchemyError):
                unstored = getattr(getattr(self, "executor", None), "unstored", [])
                raise StoreError(
                    f"the store failed during the run ({short_error(exc)}); everything written "
                    f"before stays, {len(unstored)} answers received could not be stored "
                    "(their requests stay 'sent': the next run asks them again and counts "
                    "the repeats). Check that the database is writable (disk space, "
                    "permissions, a server that is up), then run again.") from None
            raise
        finally:
            if getattr(self, "executor", None) is not None:
                self.executor.close()  # Ray workers end with the run
            if self.pool is not None:
                self.pool.worker.leave()
        if helped is not None:
            report.notes.append(f"before it led the run, this process answered "
                                f"{sum(helped.asked.values()):,} calls as a worker")
        if report.unstored:
            raise StoreError(
                f"{len(report.unstored)} answers could not be stored after retries (first: "
                f"{report.unstored[0]}); their requests stay 'sent', so the next run asks "
                "them again and counts the repeats. Check that the database is writable "
                "(disk space, permissions, a server that is up), then run again.")
        return report

    def _run(self) -> RunReport:
        lock, store = self.lock, self.store
        cfg = self.project.config.policy
        train(store, self.task, self.annotators, before_run=lock.run_id,
              self_weight=cfg.self_training_weight)
        self.learner = Learner(store, self.task, self.annotators, lock.run_id,
                               cfg.retrain_every, cfg.self_training_weight)
        self.learner.resume()  # a killed run's promoted refits, on exactly their items
        language_note = None
        if getattr(self.policy, "uses_language", False) and self.task.strategy.one_label:
            language_note = record_languages(store, self.task)
        st = self.state = RunState.load(store, self.task, self.annotators, lock.run_id,
                                        lock.seed, self.policy.item_fields())
        for ann in self.annotators.values():
            if ann.uses_cache:  # paid model calls: never for control gold
                ann.cache = CallCache(store, store.project_id, exclude=st.control)
        limit = self.project.config.policy.budget
        if self.project.config.run.workers == "many":
            self.budget = SharedBudget(store, lock.run_id, limit, held=st.held_by_people)
        else:
            self.budget = Budget(limit, settled=Ledger.settled_cost(store),
                                 held=st.held_by_people)
        self.ledger = Ledger(store, lock, st, self.annotators, self.budget)
        if self.project.config.run.workers == "many":
            worker = Worker(store, self.task, self.annotators, lock.run_id, self.budget,
                            lease=self.project.config.run.lease_seconds, leader=True)
            self.pool = SharedPool(worker.join(), st, self.ledger)
        if st.stale:
            self.ledger.supersede(st.stale)
        r = self.report = RunReport(lock.run_id, lock.resumed, len(st), 0, 0, 0)
        self.answer_pass = self.task.strategy.answer_pass(self)  # free-text: the judge
        r.notes += [f"{a.name}: {a.note}" for a in self.annotators.values() if a.note]
        r.notes += self.learner.notes
        if language_note:
            r.notes.append(language_note)
        quality = self.project.config.quality
        control_gold, certainty, bank = control_bank(store, quality.min_certainty, self.seed)
        self.control_gold = control_gold
        self.probes = Probes(store, st, self.annotators, bank, quality.control_rate)
        self.watch = GoldenWatch(store, self.task, control_gold, certainty, quality.monitor)
        self.noted: set[tuple] = set()
        if lock.config_changed:
            r.notes.append("the config changed since this run started; the resumed run uses "
                           "the new one")
        self.total_open = int(st.open.sum())
        where = self.project.config.run
        self.executor = make_executor(self.executor_kind or where.executor, st, self.ledger,
                                      self.budget, r, self._progress,
                                      address=self.address or where.address,
                                      actors=where.actors)
        self._decide_by_gold([p for p in st.seeds if st.open[p]], st.gold)
        self._decide_by_gold([st.pos[i] for i in sorted(control_gold, key=st.pos.get)
                              if i in st.pos and st.open[st.pos[i]]], control_gold)
        self._watch()  # the golden answers stored before: the statistic continues
        if st.outstanding:  # in the policy's annotator order, as an uninterrupted run asks
            self._ask({n: np.array(sorted(st.outstanding[n]), dtype=np.int64)
                       for n in self.annotators if n in st.outstanding})
            self._watch()
        idle = 0
        while True:
            if self.learner.due():
                self._refit(None)
            if self.answer_pass is not None:
                self.answer_pass.run()
            plan = self._step()
            if plan.empty:
                break
            open_before = int(st.open.sum())
            asked = self._apply(plan)
            self._watch()
            idle = idle + 1 if int(st.open.sum()) == open_before and not asked else 0
            if idle > 100:
                raise PolicyError("the policy planned 100 steps in a row that neither asked "
                                  "nor decided anything")
        return self._finish()

    def _step(self) -> Plan:
        """The policy's next plan. While the learning loop is on, the policy sees the open
        items a window at a time (``retrain_every`` of them in import order, with the
        reference items), so that items later in the run are asked of models retrained on
        what the earlier ones verified — the AutoAnnotator's batches."""
        st = self.state
        ps = st.policy_state(self.budget.left, self.aggregator)
        if not self.learner.active:
            return self.policy.step(ps)
        waiting = np.zeros(len(st), dtype=bool)
        for a, ann in self.annotators.items():
            if ann.deferred:
                waiting |= st.status[a] == PENDING
        candidates = np.flatnonzero(st.open & ~waiting & (st.reference < 0))
        window = st.open & (st.reference >= 0)
        window[candidates[:self.learner.every]] = True
        if window.all() or not (st.open & ~window).any():
            return self.policy.step(ps)
        ps.open &= window
        plan = self.policy.step(ps)
        return plan if not plan.empty else self.policy.step(
            st.policy_state(self.budget.left, self.aggregator))

    def _progress(self, stage: str) -> None:
        self.on_progress(self.total_open - int(self.state.open.sum()), self.total_open, stage)

    # -- a step ------------------------------------------------------------------------
    def _apply(self, plan: Plan) -> bool:
        """Commit the plan, ask, and decide ``budget`` what the budget stopped."""
        st = self.state
        self.report.notes += [n for n in dict.fromkeys(plan.notes) if n not in self.report.notes]
        if plan.refit:
            self._refit(plan.refit)
        for name, positions in plan.asks.items():
            if name not in self.annotators:
                raise PolicyError(f"the policy asked unknown annotator {name!r}")
            bad = ~st.open[positions] | (st.status[name][positions] != NOT_ASKED)
            if bad.any():
                raise PolicyError(f"the policy asked {name!r} about item "
                                  f"{st.ids[positions[bad][0]]!r}, which is decided or was "
                                  "already asked")
        asks, stopped = self._admit_people(plan.asks, plan.priority)
        for name, positions in self.probes.pick(asks, self.ledger.versions).items():  # golden probes, mixed in
            asks[name] = np.union1d(asks[name], positions)
        asks = self.ledger.write_plan(plan.decisions, asks)
        self.report.decided_now += sum(len(d.positions) for d in plan.decisions)
        for name, positions in asks.items():
            if self.annotators[name].deferred or not instant(self.annotators[name]):
                st.status[name][positions] = PENDING
        stopped.update(self._ask(asks))
        if stopped:
            self._decide_stopped(stopped)
        self._progress("deciding")
        return bool(asks)

    def _ask(self, asks: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self.pool is None:
            stopped = self.executor.run(asks)
        else:  # paid and I/O-bound calls: shared with the run's other workers
            shared = {n: ps for n, ps in asks.items() if self.pool.shares(n)}
            stopped = self.executor.run({n: ps for n, ps in asks.items() if n not in shared})
            stopped.update(self.pool.ask(shared, self.report) if shared else {})
        for name, ps in stopped.items():
            self.state.status[name][ps] = NOT_ASKED
        return stopped

    def _admit_people(self, asks: dict[str, np.ndarray],
                      priority: dict[str, np.ndarray] | None = None):
        """People's tasks hold their reservation until answered: admit them now, the
        policy's priority first (the most uncertain items, see :mod:`labelquorum.active`),
        so a short budget buys the tasks whose answers would change most."""
        out, stopped = dict(asks), {}
        for name, positions in asks.items():
            ann = self.annotators[name]
            if ann.deferred:
                score = (priority or {}).get(name)
                if score is not None:
                    positions = positions[np.argsort(-score[positions], kind="stable")]
                n = self.budget.admit(np.asarray(ann.reserve(self.state.items(positions))))
                out[name] = np.sort(positions[:n])
                if n < len(positions):
                    stopped[name] = np.sort(positions[n:])
        return {n: p for n, p in out.items() if len(p)}, stopped

    def _decide_stopped(self, stopped: dict[str, np.ndarray]) -> None:
        """Items the budget stopped keep their best label so far, from the annotators that
        answered them (grouped by which did), decided ``budget``: reopened by a later run.
        A flagged item (prompt injection) labelled by LLMs alone is flagged for review."""
        st = self.state
        positions = np.unique(np.concatenate(list(stopped.values())))
        positions = positions[st.open[positions]]
        if not len(positions):
            return
        if self.answer_pass is not None:
            self.answer_pass.run(positions)
        self.report.budget_stopped += len(positions)
        ps = st.policy_state(self.budget.left, self.aggregator)
        answered = np.stack([st.status[a][positions] == OK for a in self.annotators], axis=1)
        groups: dict[tuple[bool, ...], list[int]] = {}
        for row, signature in enumerate(map(tuple, answered)):
            groups.setdefault(signature, []).append(row)
        decisions = []
        for signature, rows in groups.items():
            names = [a for a, used in zip(self.annotators, signature) if used]
            subset = positions[rows]
            c = ps.consensus(names, subset)
            # a flagged item that only LLMs labelled keeps that label for review only
            held = ps.unconfirmed(names, subset, c) & (c.votes > 0)
            for these, flags in ((~held, "budget"), (held, "budget," + HELD)):
                decisions.append(Decision(subset[these], take(c, these), names, "budget",
                                          flags=flags, state=DecisionState.BUDGET))
        self.ledger.write_plan(decisions, {}, stopped)

    def _refit(self, names: list[str] | None) -> None:
        """Retrain trainable annotators (all, or ``names``) on every label verified so far,
        this run's included (see :mod:`labelquorum.engine.learning`). A promoted version
        answers again the items still open and the reference items; stored judgements
        stay, new ones are appended under the new version."""
        for name in names or ():
            ann = self.annotators.get(name)
            if ann is None or not ann.trainable:
                raise PolicyError(f"the policy asked to refit {name!r}, which is not a "
                                  "trainable annotator of this run")
        st = self.state
        promoted = self.learner.refit(st.items, st.reference, names)
        self.report.notes += [n for n in self.learner.notes if n not in self.report.notes]
        if not promoted:
            return
        self.ledger.refresh_versions()
        for name in promoted:
            st.forget(name, np.flatnonzero(st.open & (st.status[name] >= OK)))
        if not instant_all(self.annotators, promoted):
            return
        closed = np.flatnonzero((st.reference >= 0) & ~st.open)
        if len(closed):  # the gates calibrate the version that answers now
            for name in promoted:
                st.forget(name, closed)
            self._ask({name: closed for name in promoted})

    def _watch(self) -> None:
        """Feed the monitor the golden answers stored since it last looked; with
        ``quality.weight_by_theta``, weigh each annotator's vote by its θ̂ from now on."""
        r = self.report
        if not self.control_gold:  # no golden items: nothing to watch
            return
        for alert in self.watch.catch_up(self.lock.run_id):
            r.alerts.append(alert.message)
            key = (alert.annotator, alert.kind)
            if key not in self.noted:  # a lasting drop alerts again: noted once a run
                self.noted.add(key)
                r.notes.append(alert.message)
        r.probes = dict(self.probes.asked)
        if self.project.config.quality.weight_by_theta and self.watch.answers is not None:
            fits = theta_of(self.watch.answers, self.watch.monitor.chance)
            self.state.skills = theta_weights(fits, self.task)

    def _decide_by_gold(self, positions, gold: dict) -> None:
        """Close seed or control items with their gold label, decided ``gold``."""
        st = self.state
        positions = np.array(positions, dtype=np.int64)
        if not len(positions):
            return
        ones = np.ones(len(positions))
        task, kind = self.task, self.task.strategy
        values = [kind.parse(task, gold[st.ids[p]]) for p in positions]
        if not kind.vector:
            consensus = Consensus(np.zeros((len(positions), 0)), np.full(len(positions), -1),
                                  ones, ones, ones, values)
        else:
            post = np.stack([kind.encode(task, v) for v in values])
            label = post.astype(bool) if kind.multilabel else post.argmax(axis=1)
            consensus = Consensus(post, label, ones, ones, ones)
        self.ledger.write_plan([Decision(positions, consensus, ["gold"], "gold")], {})

    # -- the end -----------------------------------------------------------------------
    def _finish(self) -> RunReport:
        r, st = self.report, self.state
        waiting = np.zeros(len(st), dtype=bool)
        for a, ann in self.annotators.items():
            if ann.deferred:
                waiting |= st.status[a] == PENDING
        r.waiting_human = int((waiting & st.open).sum())
        still_open = int(st.open.sum())
        r.status = "waiting" if still_open else "done"
        reopenable = st.had_decision & ~st.final & ~st.open
        r.open = still_open + int(reopenable.sum())  # a later run reopens these
        r.failed_items = max(int(reopenable.sum()) - r.budget_stopped, 0)
        r.repeated_calls = self.ledger.repeated + (self.pool.worker.repeated if self.pool
                                                    else 0)
        r.unlabelled_now = self.ledger.unlabelled
        r.unstored = self.executor.unstored
        r.notes += [f"{a.name}: {a.run_note}" for a in self.annotators.values() if a.run_note]
        flagged = int((st.suspicious & st.had_decision).sum())
        if flagged:
            r.notes.append(f"{flagged} items read like instructions to the annotator (prompt "
                           "injection); an LLM answer alone never decides them")
        self.lock.finish(r.status)
        return r
