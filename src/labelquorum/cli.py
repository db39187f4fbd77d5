"""The ``labelquorum`` command: a thin shell over the Python API.

It parses arguments, calls the library, and turns labelquorum's errors into one clean
message on stderr and exit code 1. ``run`` exits 3 when it finished but failed calls left
items without a label, so scripts and CI can tell (see its ``--help``).
"""

from __future__ import annotations

import enum
import functools
import math
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .errors import LabelquorumError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Label datasets with a quorum of annotators: small models, LLMs and "
                       "people.")
console = Console()
err = Console(stderr=True)

class Executor(str, enum.Enum):
    local = "local"
    ray = "ray"


ProjectOpt = Annotated[Path, typer.Option("--project", "-p",
                                          help="Project directory (default: current).")]


def _clean_errors(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except LabelquorumError as exc:
            err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None
    return wrapper


def _names(group: str) -> str:
    """The built-in names of an extension kind, for help texts (no plugin is loaded)."""
    from .plugins import REGISTRIES

    return (", ".join(REGISTRIES[group].builtin_names())
            + " or one a plugin adds (see 'labelquorum plugins')")


def _open(path: Path):
    from .project import open_project

    return open_project(path)


@app.command()
@_clean_errors
def init(directory: Annotated[Path, typer.Argument(help="Project directory to create.")],
         labels: Annotated[str, typer.Option(help="Comma-separated label names.")],
         kind: Annotated[str, typer.Option(help=f"{_names('task_kinds')}.")] =
         "classification",
         name: Annotated[str | None, typer.Option(help="Project name in the store.")] = None):
    """Create a project directory with a starter labelquorum.toml."""
    from .project import init_project

    project = init_project(directory, labels.split(","), kind=kind, name=name)
    console.print(f"Created project [bold]{project.config.project.name}[/] in {project.path}\n"
                  f"Edit {project.path / 'labelquorum.toml'}, then: labelquorum import FILE "
                  f"--project {directory}")


@app.command("import")
@_clean_errors
def import_(file: Annotated[Path, typer.Argument(
                help="CSV, JSONL, Parquet, Label Studio JSON (.json), CoNLL (.conll), spaCy "
                     "DocBin (.spacy) file, or a Hugging Face save_to_disk directory.")],
            project: ProjectOpt = Path("."),
            format: Annotated[str | None, typer.Option(
                "--format", help="csv, jsonl, parquet, labelstudio, hf, conll or docbin "
                                 "(default: from the suffix; a directory is hf).")] = None,
            id_column: Annotated[str | None, typer.Option(
                help="Column with item ids (default: 'id' if present, else ids derived from "
                     "content).")] = None,
            gold_column: Annotated[str | None, typer.Option(
                help="Column with gold labels (default: 'gold' if present, else 'label'; "
                     "spans tasks: 'entities' first).")]
            = None,
            gold_role: Annotated[str, typer.Option(
                help="Role of gold items not covered by --split: seed, calibration, control "
                     "or evaluation.")] = "evaluation",
            split: Annotated[str | None, typer.Option(
                help="Gold roles by count or fraction, e.g. 'seed=200,control=0.05'.")] = None,
            allow_duplicates: Annotated[bool, typer.Option(
                help="Keep items with duplicate content (numbered).")] = False):
    """Import items, all or nothing."""
    with _open(project) as p:
        result = p.import_file(file, format=format, id_column=id_column, gold_column=gold_column,
                               gold_role=gold_role, split=split, allow_duplicates=allow_duplicates)
    roles = ", ".join(f"{k} {v}" for k, v in sorted(result.roles.items())) or "none"
    ids = (f"ids from column {result.id_column!r}" if result.id_column is not None
           else "ids derived from content")
    if result.gold_column is not None:
        ids += f", gold from column {result.gold_column!r}"
    answers = f"; {result.judgements:,} judgements" if result.judgements else ""
    console.print(f"Imported {result.items:,} items ({result.with_gold:,} with gold: {roles}); "
                  f"{ids}{answers}.", highlight=False, soft_wrap=True)
    if result.languages:
        console.print("Languages (from the input): " + ", ".join(
            f"{k} {v:,}" for k, v in sorted(result.languages.items())), highlight=False)


FAILED_ITEMS_EXIT = 3


RUN_HELP = ("Run the policy over open items (resumes an interrupted run).\n\n"
            "Exit codes: 0 when the run finished, also when it waits on people or the budget "
            "stopped it; 3 when it finished but failed calls left items without a label (a "
            "dead server, answers outside the label set; the next run asks them again); 1 on "
            "an error, whose message says what to fix.")


@app.command(help=RUN_HELP)
@_clean_errors
def run(project: ProjectOpt = Path("."),
        seed: Annotated[int | None, typer.Option(help="Override the project seed.")] = None,
        executor: Annotated[Executor | None, typer.Option(
            help="Where annotators run: local (this process) or ray (a Ray cluster); "
                 "overrides run.executor in the config.")] = None,
        address: Annotated[str | None, typer.Option(
            help="The Ray cluster to join (HOST:PORT of its head); overrides run.address "
                 "in the config.")] = None,
        join: Annotated[bool, typer.Option(
            "--join", help="Join the project's run in progress as one more worker "
                           "(needs run.workers = \"many\" and a PostgreSQL store); waits "
                           "run.lease_seconds for one to begin, leaves when it ends.")] = False):
    from .status import items_failed_in_run

    if address is not None and executor is None:
        executor = Executor.ray  # --address names a Ray cluster
    with _open(project) as p:
        report = _run_with_progress(p, seed, executor and executor.value, address, join)
        failed_items = items_failed_in_run(p, report.run_id) if report.failed else 0
    _print_report(report)
    if failed_items:
        calls = sum(report.failed.values())
        who = ", ".join(f"{name} {n:,}" for name, n in report.failed.items())
        err.print(f"[bold red]error:[/] the run finished, but {failed_items:,} items could not "
                  f"be labelled because {calls:,} calls failed ({who}). Run "
                  "'labelquorum status' to see why they failed; once that is fixed, "
                  "'labelquorum run' asks them again.", highlight=False, soft_wrap=True)
        raise typer.Exit(FAILED_ITEMS_EXIT)


def _run_with_progress(p, seed=None, executor=None, address=None, join=False):
    with Progress(TextColumn("[bold]decided"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.description}"), TimeElapsedColumn(), console=err,
                  transient=True, disable=not err.is_terminal) as bar:
        task = bar.add_task("", total=None)

        def progress(done: int, total: int, stage: str) -> None:
            bar.update(task, completed=done, total=total, description=escape(stage))

        return p.run(seed=seed, progress=progress, executor=executor, address=address,
                     join=join)


def _print_report(r) -> None:
    if r.role == "worker" and r.status == "none":
        console.print("No run of this project is in progress, so this worker had nothing "
                      "to join. 'labelquorum run' starts one (with run.workers = \"many\", "
                      "every further 'labelquorum run' joins it).")
        return
    if r.role == "worker":
        calls = sum(r.asked.values())
        who = ", ".join(f"{k} {v:,}" for k, v in r.asked.items()) or "none"
        console.print(f"Worked on run {r.run_id} as one of its workers: answered {calls:,} "
                      f"calls ({who}), cost ${r.cost:,.4f}. The run's leader decides the "
                      "items; 'labelquorum status' shows the run.")
        if r.repeated_calls:
            console.print(f"[yellow]{r.repeated_calls} calls a dead worker had in flight "
                          "were asked again.[/]")
        for note in r.notes:
            console.print(f"[dim]note: {note}[/]")
        return
    word = "Resumed" if r.resumed else "Ran"
    labelled = r.decided_now - r.unlabelled_now - r.budget_stopped - r.failed_items
    console.print(f"{word} run {r.run_id}: {max(labelled, 0):,} items labelled for good, "
                  f"{r.open:,} open, cost ${r.cost:,.4f}.")
    if r.unlabelled_now:
        console.print(f"[yellow]{r.unlabelled_now:,} items closed without a label (every "
                      "annotator abstained).[/]")
    if r.asked:
        console.print("Asked: " + ", ".join(f"{k} {v:,}" for k, v in r.asked.items()))
    for name, n in r.failed.items():
        console.print(f"[yellow]{name}: {n:,} failed calls[/]")
    if r.repeated_calls:
        console.print(f"[yellow]{r.repeated_calls} calls in flight at the interruption were "
                      "asked again.[/]")
    if r.budget_stopped:
        console.print(f"[yellow]Budget reached: {r.budget_stopped:,} items keep their best "
                      "label so far (state 'budget'); a later run reopens them once the budget allows.[/]")
    if r.waiting_human:
        console.print(f"[bold]Waiting on {r.waiting_human:,} human tasks.[/] Run again when "
                      "answers have arrived.")
    for note in r.notes:
        console.print(f"[dim]note: {note}[/]")


@app.command()
@_clean_errors
def plan(project: ProjectOpt = Path("."),
         sample: Annotated[int, typer.Option(help="Open items whose prompts are built.")] = 20):
    """Estimate tokens and cost of a run per annotator and tier; no calls are made."""
    with _open(project) as p:
        result = p.plan(sample=sample)
    table = Table("tier", "annotator", "type", "items", "tokens in/item", "tokens out/item",
                  "USD/item", "USD at most", title=f"Plan for {result.open_items:,} open items "
                  f"(prompts of {result.sampled} built)")
    for r in result.rows.itertuples():
        table.add_row(r.tier, r.annotator, r.type, f"{r.items:,}", f"{r.tokens_in:,.0f}",
                      f"{r.tokens_out:,.0f}", f"{r.cost_per_item:.6f}", f"{r.cost:,.4f}")
    console.print(table)
    console.print(f"First tier: ${result.first_tier_cost:,.4f}. Every tier on every open item "
                  f"(an upper bound): ${result.worst_case_cost:,.4f}. No calls were made.")
    if result.expected_cost is not None:
        console.print(f"The chosen policy's expected cost: ${result.expected_cost:,.4f}.")
    for note in result.notes:
        console.print(f"[dim]note: {note}[/]")


TUNE_HELP = ("Choose a policy on the calibration gold: ask every candidate annotator about "
             "it (a run: stored, paid once, resumable), score every candidate policy by "
             "cross-validation, print the accuracy-cost frontier with 95 % intervals and the "
             "choice, and optionally draw the frontier and write the chosen [policy] as TOML. "
             "Goals and candidates default to the project's policy.type = \"auto\" settings.")


@app.command(help=TUNE_HELP)
@_clean_errors
def tune(project: ProjectOpt = Path("."),
         target_accuracy: Annotated[float | None, typer.Option(
             help="Choose the cheapest policy whose accuracy's lower bound reaches this.")]
         = None,
         budget_per_item: Annotated[float | None, typer.Option(
             help="Choose the most accurate policy costing at most this (USD per item).")]
         = None,
         annotators: Annotated[str | None, typer.Option(
             help="Comma-separated candidate annotators (default: all but people).")] = None,
         folds: Annotated[int | None, typer.Option(
             help="Cross-validation folds inside the calibration gold (default 5).")] = None,
         plot: Annotated[Path | None, typer.Option(
             help="Write the frontier as an SVG plot here.")] = None,
         write: Annotated[Path | None, typer.Option(
             help="Write the chosen policy here as a [policy] TOML section.")] = None):
    from .tuning import tune as run_tune

    names = [a.strip() for a in annotators.split(",") if a.strip()] if annotators else None
    bar = Progress(TextColumn("[bold]probing"), BarColumn(), MofNCompleteColumn(),
                   console=err, transient=True, disable=not err.is_terminal)
    with _open(project) as p, bar:
        task = bar.add_task("", total=None)
        result = run_tune(p, target_accuracy=target_accuracy, budget_per_item=budget_per_item,
                          annotators=names, folds=folds,
                          progress=lambda done, total, stage: bar.update(task))
    print_tuning(result)
    if plot is not None:
        plot.write_text(result.svg(), encoding="utf-8")
        console.print(f"Wrote the frontier plot to {plot}.")
    if write is not None:
        write.write_text(result.policy_toml(), encoding="utf-8")
        console.print(f"Wrote the chosen policy to {escape(str(write))}; put it in place of the \\[policy] "
                      "section of labelquorum.toml.")
    else:
        console.print("\nThe chosen policy (--write FILE saves it):\n")
        console.print(escape(result.policy_toml()), highlight=False, soft_wrap=True)


def print_tuning(t) -> None:
    c = t.chosen
    table = Table("candidate", "family", "accuracy", "interval", "USD/item", "frontier",
                  title=f"{len(t.result.scored)} candidate policies on {c.n} calibration "
                        f"items: cross-validated accuracy, {round(100 * c.level)} % interval")
    for r in t.table().itertuples():
        mark = "[bold red]chosen[/]" if r.chosen else ("★" if r.frontier else "")
        table.add_row(escape(r.candidate), r.family, f"{r.accuracy:.3f}",
                      f"{r.low:.3f}-{r.high:.3f}", f"{r.cost_per_item:.6g}", mark)
    console.print(table)
    goal = (f"target accuracy {t.result.target:g}" if t.result.target is not None
            else f"budget {t.result.budget:.6g} USD per item")
    console.print(f"Chosen for the {goal}: [bold]{escape(c.name)}[/] ({c.family}), accuracy "
                  f"{c.accuracy:.3f} ({c.interval[0]:.3f}-{c.interval[1]:.3f}) at "
                  f"{c.cost:.6g} USD per item. ★ = on the accuracy-cost frontier.",
                  highlight=False)
    console.print(t.more_gold(), highlight=False)


@app.command()
@_clean_errors
def status(project: ProjectOpt = Path("."),
           by_language: Annotated[bool, typer.Option(
               "--by-language", help="Each annotator's accuracy on gold per language (shown "
                                     "anyway when the gold holds two languages or more).")]
           = False):
    """Progress, cost per annotator, share decided per tier, accuracy on evaluation gold."""
    with _open(project) as p:
        s = p.status()
        name = p.config.project.name
    print_status(s, name, by_language=by_language)


def print_status(s, name: str, by_language: bool = False) -> None:
    pct = 100 * s.decided / s.items if s.items else 0.0
    unlabelled = (f"{s.unlabelled:,} unlabelled (closed: no annotator gave a label), "
                  if s.unlabelled else "")
    console.print(f"[bold]{name}[/]: {s.decided:,} of {s.items:,} items decided ({pct:.1f} %), "
                  f"{unlabelled}{s.open:,} open, {s.runs} runs (last: {s.last_run or 'none'}).")
    if s.budget_stopped or s.failed_items:
        parts = [f"{s.open - s.budget_stopped - s.failed_items:,} not decided yet"]
        if s.budget_stopped:
            parts.append(f"{s.budget_stopped:,} stopped by the budget (best label so far)")
        if s.failed_items:
            parts.append(f"[yellow]{s.failed_items:,} failed[/] (their calls failed)")
        console.print("Open: " + ", ".join(parts) + "; the next 'labelquorum run' works on "
                      "them again.")
    if s.waiting_human:
        console.print(f"Waiting on {s.waiting_human:,} human tasks.")
    table = Table("annotator", "kind", "judgements", "failed", "cost (USD)", title="Annotators")
    for row in s.annotators.itertuples():
        kind = row.kind + (" (simulated)" if row.simulated else "")
        table.add_row(row.annotator, kind, f"{row.judgements:,}", f"{row.failed:,}",
                      f"{row.cost:,.4f}")
    if len(s.annotators):
        console.print(table)
    tiers = Table("tier", "items", "share", title="Decided by")
    for row in s.tiers.itertuples():
        tiers.add_row(str(row.tier), f"{row.items:,}", f"{100 * row.share:.1f} %")
    if len(s.tiers):
        console.print(tiers)
    console.print(f"Total cost: ${s.total_cost:,.4f}")
    if s.flags:
        console.print("Flags: " + ", ".join(f"{k} {v:,}" for k, v in s.flags.items()))
    if s.failed_calls:
        console.print(f"Failed calls: {s.failed_calls:,}")
    if s.failures is not None and len(s.failures):
        for row in s.failures.head(5).itertuples():
            console.print(f"[yellow]  {row.annotator}: {row.calls:,} × {row.error}[/]",
                          highlight=False)
    if s.rejected_entities:
        console.print("Entities rejected (not in the text, or of an unknown type): "
                      + ", ".join(f"{k} {v:,}" for k, v in s.rejected_entities.items()))
    if s.repeated_calls:
        console.print(f"Calls repeated after an interruption: {s.repeated_calls:,}")
    if s.quality is not None and len(s.quality):
        quality = Table("annotator", "answers", "accuracy", "95 % interval", "ECE",
                        title="Annotators on gold (calibration, evaluation, control)")
        for row in s.quality.itertuples():
            ece = "–" if row.ece is None or row.ece != row.ece else f"{row.ece:.3f}"
            quality.add_row(row.annotator, f"{row.answers:,}", f"{100 * row.accuracy:.1f} %",
                            f"{100 * row.low:.1f}–{100 * row.high:.1f} %", ece)
        console.print(quality)
    _print_languages(s.languages, by_language)
    _print_golden(s)
    if s.label_issues is not None:
        console.print(f"Likely label errors not reviewed yet: [bold]{s.label_issues:,}[/] "
                      "(the review page's 'Likely label errors' queue; `labelquorum "
                      "label-issues` looks again).", highlight=False, soft_wrap=True)
    if s.evaluation_accuracy is not None:
        console.print(f"Accuracy on evaluation gold: [bold]{100 * s.evaluation_accuracy:.2f} %"
                      f"[/] ({s.evaluation_items:,} items)")
    if s.evaluation_scores_line:
        console.print(f"On evaluation gold: {escape(s.evaluation_scores_line)}",
                      highlight=False)
    if s.evaluation_f1 is not None:
        console.print(f"Entity F1 on evaluation gold (exact spans, micro): "
                      f"[bold]{s.evaluation_f1:.4f}[/]")
    if s.evaluation_scores and not s.evaluation_scores_line:
        scores = {k: v for k, v in s.evaluation_scores.items() if k != "metric"}
        console.print("Scores on evaluation gold: " + ", ".join(
            f"{k} [bold]{v:.4f}[/]" if isinstance(v, float) else f"{k} [bold]{v}[/]"
            for k, v in scores.items()), highlight=False, soft_wrap=True)
    for kind_table in s.tables.values():
        _print_kind_table(kind_table)


def _print_kind_table(data: dict) -> None:
    """A task kind's result table (TaskKind.tables), with its notes."""
    if data.get("rows"):
        table = Table(*data["columns"], title=data["title"])
        for row in data["rows"]:
            table.add_row(*(_cell(row.get(c)) for c in data["columns"]))
        console.print(table)
    else:
        console.print(f"[bold]{data['title']}[/]")
    for note in data.get("notes", []):
        console.print(note, highlight=False, soft_wrap=True)


def _cell(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.4f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _print_languages(table, asked: bool) -> None:
    """The per-language table: when asked for, or when the gold holds several languages."""
    if table is None or not len(table):
        if asked:
            console.print("No gold item has a language yet: import a language column "
                          "(task.language_field), or run a policy with per-language trust "
                          "to detect them (py3langid, the quality extra).")
        return
    found = {lang for lang in table.index.get_level_values("language") if lang != "und"}
    if not asked and len(found) < 2:
        return
    out = Table("annotator", "language", "answers", "accuracy", "95 % interval",
                title="Annotators on gold, per language")
    for (who, lang), row in table.iterrows():
        out.add_row(str(who), str(lang), f"{int(row['n']):,}", f"{100 * row['accuracy']:.1f} %",
                    f"{100 * row['low']:.1f}–{100 * row['high']:.1f} %")
    console.print(out)


def _print_golden(s) -> None:
    """The golden-probe table (θ̂, interval, test, alerts) and the latest quality alerts."""
    if s.golden is None or not len(s.golden):
        return
    golden = Table("annotator", "right", "θ̂ [95 %]", "p(θ≤θ₀)", "weight", "drops",
                   title="Golden probes (current version; θ₀ = quality.monitor.theta_bad)")
    for row in s.golden.itertuples():
        test = f"{row.p_value:.3f}" + (" ✓" if row.passes else "")
        drops = f"[yellow]{row.drops}[/]" if row.drops else "0"
        golden.add_row(row.annotator, f"{row.correct:,}/{row.golden:,}",
                       f"{row.theta:.2f} [{row.low:.2f}, {row.high:.2f}]", test,
                       f"{row.weight:.2f}", drops)
    console.print(golden)
    drops = s.alerts[s.alerts["kind"] == "quality_drop"] if s.alerts is not None else []
    latest = drops.drop_duplicates("annotator", keep="last") if len(drops) else drops
    for row in latest.itertuples() if len(latest) else ():  # each annotator's latest
        console.print(f"[yellow]Alert (run {row.run_id}): {row.message}[/]", highlight=False)


@app.command()
@_clean_errors
def export(out: Annotated[Path, typer.Argument(
               help="Output file: .csv, .jsonl, .parquet, .json (Label Studio), .conll or "
                    ".spacy (spans tasks); a directory with --format hf.")],
           project: ProjectOpt = Path("."),
           fields: Annotated[str, typer.Option(
               help="Item fields to carry: all, none, or a comma-separated list.")] = "all",
           format: Annotated[str | None, typer.Option(
               "--format", help="csv, jsonl, parquet, labelstudio, hf, conll or docbin "
                                "(default: from the suffix).")] = None,
           judgements: Annotated[bool, typer.Option(
               help="Write the long judgement table (task, worker, label, annotator_kind, "
                    "score, cost, created) instead of one row per item.")] = False,
           table: Annotated[str | None, typer.Option(
               "--table", help="Write a result table of the task kind instead (pairwise: "
                               "systems, the Bradley–Terry scores) as CSV, JSONL or "
                               "Parquet.")] = None):
    """Write one row per item: label, confidence, provenance, cost, gold and the fields."""
    with _open(project) as p:
        n = p.export(out, fields=fields, format=format, judgements=judgements, table=table)
    from .formats import SPAN_FORMATS, export_format

    if table is not None:
        console.print(f"Wrote {n:,} rows of the {table} table to {out}.", highlight=False)
        return
    what = "judgements" if judgements else "items"
    note = (" (items without a label are left out of CoNLL and DocBin files)"
            if not judgements and export_format(out, format) in SPAN_FORMATS else "")
    console.print(f"Wrote {n:,} {what} to {out}{note}.", highlight=False)


@app.command()
@_clean_errors
def report(project: ProjectOpt = Path("."),
           out: Annotated[Path, typer.Option(help="The HTML page to write (self-contained: "
                                                  "no script, nothing fetched).")]
           = Path("report.html"),
           json_path: Annotated[Path | None, typer.Option(
               "--json", help="The JSON file to write (default: --out with .json).")] = None,
           judge: Annotated[str | None, typer.Option(
               help="An llm annotator of the project that answers the rubric options the "
                    "records cannot (its calls are logged and paid).")] = None,
           bootstrap: Annotated[int, typer.Option(
               help="Bootstrap resamples for the agreement intervals (0: none).")] = 1000,
           seed: Annotated[int | None, typer.Option(
               help="Seed of the bootstrap (default: the project's).")] = None,
           label_issues: Annotated[bool, typer.Option(
               help="Look for likely label errors with cleanlab (the quality extra).")]
           = True):
    """Write the dataset's card: a DataRubrics checklist with evidence, and quality figures."""
    from .errors import QualityError
    from .quality.report import build_report

    json_path = json_path or out.with_suffix(".json")
    for path in (out, json_path):  # before minutes of work, not after
        if path.is_dir():
            raise QualityError(f"{path} is a directory; give a file name for the report, "
                               "such as report.html or report.json.")
    with _open(project) as p:
        result = build_report(p, judge=judge, n_boot=bootstrap, seed=seed,
                              label_issues=label_issues)
        result.write(out, json_path)
    rubric = result.data["rubric"]
    done = sum(g["status"] == "answered" for g in rubric["groups"].values())
    console.print(f"Wrote {out} and {json_path}: {done} of {len(rubric['groups'])} rubric "
                  "groups answered in full.")
    judged = rubric.get("judge")
    for failure in (judged or {}).get("failures", []):
        err.print(f"[yellow]judge: {escape(failure)}[/]", highlight=False, soft_wrap=True)


@app.command("label-issues")
@_clean_errors
def label_issues_(project: ProjectOpt = Path("."),
                  annotator: Annotated[str | None, typer.Option(
                      help="The trainable annotator whose out-of-sample probabilities score "
                           "the labels (default: the first of the config).")] = None,
                  folds: Annotated[int, typer.Option(min=2, max=20,
                                                     help="Cross-validation folds.")] = 5,
                  show: Annotated[int, typer.Option(
                      min=0, help="How many of the likeliest errors to print.")] = 10):
    """Find likely label errors among the verified labels (cleanlab, the quality extra) and
    queue them for review, the likeliest first."""
    from .quality.label_issues import project_label_issues, save_label_issues

    with _open(project) as p:
        found = project_label_issues(p, annotator, n_splits=folds)
        flagged = save_label_issues(p, found)
        queue = found.review_queue()
    issues = found.issues
    console.print(f"Checked {len(issues):,} verified labels with {found.info['annotator']} "
                  f"({folds}-fold out-of-sample): {flagged:,} likely label errors, queued "
                  "for review (the review page's 'Likely label errors').", highlight=False,
                  soft_wrap=True)
    if queue and show:
        table = Table("item", "label", "model says", "label quality",
                      title="The likeliest label errors")
        for item in queue[:show]:
            table.add_row(str(item), str(issues.at[item, "label"]),
                          str(issues.at[item, "predicted_label"]),
                          f"{issues.at[item, 'label_quality']:.3f}")
        console.print(table)


@app.command()
@_clean_errors
def aggregate(
    answers: Annotated[Path, typer.Argument(help="Long table of answers: CSV, JSONL or "
                                                 "Parquet.")],
    method: Annotated[str, typer.Option(help=f"{_names('aggregators')}.")] = "dawid-skene",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write item,label,"
                                                "confidence here (.csv).")] = None,
    item: Annotated[str | None, typer.Option(help="Item column (default: detected).")] = None,
    annotator: Annotated[str | None, typer.Option(help="Annotator column.")] = None,
    label: Annotated[str | None, typer.Option(help="Label column.")] = None,
    gold: Annotated[Path | None, typer.Option(help="Gold labels (id,label): seed the method "
                                                   "and report accuracy on them.")] = None,
    skills: Annotated[Path | None, typer.Option(help="Write per-annotator skill here.")]
    = None,
    agreement: Annotated[bool, typer.Option(help="Print agreement metrics.")] = False,
    seed: Annotated[int, typer.Option(help="Seed for tie-breaks and restarts.")] = 0,
):
    """Aggregate a long table of answers without a project (item, annotator, label)."""
    from .aggregation.cli import run_aggregate

    run_aggregate(answers, method=method, output=output, columns=(item, annotator, label),
                  gold=gold, skills=skills, agreement=agreement, seed=seed, console=console)


@app.command()
@_clean_errors
def demo(directory: Annotated[Path, typer.Option(
             "--dir", help="Where to leave the demo project.")] = Path("labelquorum-demo"),
         fresh: Annotated[bool, typer.Option(help="Delete an existing demo project first.")]
         = True,
         llm: Annotated[str | None, typer.Option(
             help="Base URL of a real OpenAI-compatible endpoint for the LLM tier (e.g. "
                  "http://127.0.0.1:8000/v1) instead of the simulated one; 'local' starts "
                  "SmolLM2-135M on llama.cpp (the llm-local extra).")] = None,
         llm_model: Annotated[str, typer.Option(help="Model name at --llm.")] = "gpt-4o-mini",
         llm_key_env: Annotated[str | None, typer.Option(
             help="Environment variable holding the key for --llm (none for local "
                  "servers).")] = None):
    """Label 2,000 SST-2 sentences offline: small models, a simulated LLM, simulated people."""
    from .demo import run_demo

    run_demo(directory, fresh=fresh, console=console, progress_runner=_run_with_progress,
             print_status=print_status, llm_url=llm, llm_model=llm_model,
             llm_key_env=llm_key_env)


@app.command()
@_clean_errors
def plugins():
    """List the annotator types, policy types, aggregation methods and task kinds, and the
    package each comes from (built-in, or a plugin's entry point)."""
    from .plugins import REGISTRIES

    width = max(len(n) for r in REGISTRIES.values() for n in r.names())
    for group, registry in REGISTRIES.items():
        for name in registry.names():
            console.print(f"{group:<12} {name:<{width}} {registry.package(name)}",
                          highlight=False, soft_wrap=True)
    for registry in REGISTRIES.values():
        for failure in registry.failures():
            err.print(f"[yellow]not loaded: {escape(str(failure))}[/]", highlight=False,
                      soft_wrap=True)


def _register_web() -> None:
    from .web.cli import register

    register(app, _clean_errors, _open, console)


_register_web()


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted; run the same command again to resume")
        sys.exit(130)


if __name__ == "__main__":
    main()
