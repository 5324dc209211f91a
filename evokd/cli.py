"""The `evokd` command. Each pipeline stage is a subcommand (`evokd synthesize --round 3`), the
same verb as its DVC stage, module and params block. This is the edge: it reads params.yaml once
and passes the typed config down."""

from __future__ import annotations

import logging
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from enum import IntEnum
from typing import Callable, Iterator

import typer
import typer.core

from evokd.errors import EvokdError

# Help lists the user's tools first, then the stage verbs that `dvc repro` runs (issue 17).
TOOLS = "Tools"
STAGES = "Pipeline stages (what dvc repro runs; by hand for one round)"
STAGE_VERBS = ("prepare", "probe", "plan", "synthesize", "label", "train", "evaluate", "analyze", "report")


class _ToolsFirst(typer.core.TyperGroup):
    """Lists every command that is not a stage verb before the stage verbs (in the order they
    are defined otherwise), in the rich help and the plain one alike."""

    def list_commands(self, ctx) -> list[str]:
        names = super().list_commands(ctx)
        return sorted(names, key=lambda name: name in STAGE_VERBS)


app = typer.Typer(cls=_ToolsFirst, add_completion=False, no_args_is_help=True,
                  help="Distil an LLM teacher into a small student, round by round (EvoKD on DVC).",
                  epilog="Exit codes: 0 done; 1 failed (a bug, or a failed training launch); "
                         "2 user error (the message says what to change); "
                         "3 OpenAI batch submitted or still running (run again later); "
                         "4 the teacher or the DVC remote kept failing (run again when it recovers). "
                         "See docs/cli.md.")
log = logging.getLogger("evokd")


class Exit(IntEnum):
    """What the exit status of an `evokd` command means (docs/cli.md). DVC stops `dvc repro` at a
    stage that exits non-zero and prints `exited with <code>`, so the code tells a script why."""

    OK = 0
    FAILED = 1          # an unexpected error (a bug: the traceback says where) or a failed launch
    USER_ERROR = 2      # the command line, params.yaml, a data file, a missing earlier stage, the budget
    BATCH_PENDING = 3   # teacher.mode batch: a batch was submitted or is still running; run again
    SERVICE_FAILED = 4  # the teacher endpoint or the DVC remote kept failing; run again later


# Exit code of a stage whose teacher requests wait in an OpenAI batch (re-run to collect).
BATCH_PENDING_EXIT = Exit.BATCH_PENDING

ParamsOpt = typer.Option(Path("params.yaml"), "--params", "-p", help="The params file to read.")
# -k, as in the docs' `synthesize@k`: -r is --remote, as in `dvc push -r`.
RoundOpt = typer.Option(..., "--round", "-k", min=1, help="The round slot to run (1 = first round).")
AnalyzeRoundOpt = typer.Option(..., "--round", "-k", min=0,
                               help="The round to analyse (0 = prepare's student, 1 = first round).")


def _version(show: bool) -> None:
    if show:
        from evokd import __version__

        typer.echo(f"evokd {__version__}")
        raise typer.Exit()


@app.callback()
def _main(verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging."),
          version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the version and exit.")) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="evokd: %(message)s", stream=sys.stderr)
    # Models come from the installed packages or local folders; never from a hub.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def exit_code(exc: EvokdError) -> Exit:
    """The exit status of a named error: the first class in this list it is an instance of."""
    from evokd.errors import (BatchPending, BudgetExceeded, LaunchError, RemoteFailed, TeacherError,
                              TeacherRefused)

    for kind, code in ((BatchPending, Exit.BATCH_PENDING), (BudgetExceeded, Exit.USER_ERROR),
                       (TeacherRefused, Exit.USER_ERROR), (TeacherError, Exit.SERVICE_FAILED),
                       (RemoteFailed, Exit.SERVICE_FAILED), (LaunchError, Exit.FAILED)):
        if isinstance(exc, kind):
            return code
    return Exit.USER_ERROR  # ConfigError, DataError, PipelineError, RemoteError (no remote), ...


@contextmanager
def _user_errors() -> Iterator[None]:
    """Named errors become a message without a traceback and the exit code that says what kind
    of stop it was; anything else keeps its traceback (exit 1)."""
    try:
        yield
    except EvokdError as exc:
        from evokd.teachers.redact import scrub

        # A message may quote a value from params.yaml; a URL's credentials never reach the terminal.
        code = exit_code(exc)
        if code == Exit.BATCH_PENDING:  # teacher.mode: batch; not a failure, but DVC must stop here
            typer.secho(f"evokd: {scrub(str(exc))}", fg=typer.colors.YELLOW, err=True)
        else:
            typer.secho(f"error: {scrub(str(exc))}", fg=typer.colors.RED, err=True)
        raise typer.Exit(int(code)) from None


def _config(params: Path):
    from evokd.config import load_config

    return load_config(params)


def _api_key(cfg) -> str | None:
    """The teacher's API key: from the environment only, never from params or files
    (AZURE_OPENAI_API_KEY with `teacher.azure`, else OPENAI_API_KEY)."""
    name = "AZURE_OPENAI_API_KEY" if cfg.teacher.azure is not None else "OPENAI_API_KEY"
    return os.environ.get(name) or None


def _run_stage(verb: str, k: int, params: Path, step: Callable, teacher: bool = False) -> None:
    from evokd.rounds.stage import run_round

    with _user_errors():
        cfg = _config(params)
        make_teacher = None
        if teacher:
            from evokd.rounds.spending import round_teacher

            def make_teacher():
                return round_teacher(cfg, k, verb, _api_key(cfg))

        run_round(verb, k, cfg, step, make_teacher)


@app.command(rich_help_panel=STAGES)
def prepare(params: Path = ParamsOpt) -> None:
    """Round 0: load the dataset, draw the seed set, train the first student (its first
    feedback is `evokd probe`, its analysis `evokd analyze --round 0`)."""
    from evokd.rounds import prepare as step
    from evokd.rounds.stage import run_prepare

    with _user_errors():
        run_prepare(_config(params), step.run)


@app.command(rich_help_panel=STAGES)
def probe(params: Path = ParamsOpt) -> None:
    """Round 0's teacher work: fresh texts for the round-0 student's first feedback, and a check
    of the seed set's labels (disagreements are warned about and reported; the seed set is kept)."""
    from evokd.rounds import probe as step

    _run_stage("probe", 0, params, step.run, teacher=True)


@app.command(rich_help_panel=STAGES)
def plan(params: Path = ParamsOpt) -> None:
    """Write one activation file per round slot from `rounds`."""
    from evokd.rounds import plan as step

    with _user_errors():
        result = step.run(_config(params))
        log.info("plan: %d of %d round slots active", result["rounds"], result["slots"])


@app.command(rich_help_panel=STAGES)
def synthesize(round: int = RoundOpt, params: Path = ParamsOpt) -> None:
    """The teacher writes round k's hard and easy samples from the last analysis."""
    from evokd.rounds import synthesize as step

    _run_stage("synthesize", round, params, step.run, teacher=True)


@app.command(rich_help_panel=STAGES)
def label(round: int = RoundOpt, params: Path = ParamsOpt) -> None:
    """A separate teacher call labels round k's samples; invalid ones are kept with a reason."""
    from evokd.rounds import label as step

    _run_stage("label", round, params, step.run, teacher=True)


@app.command(rich_help_panel=STAGES)
def train(round: int = RoundOpt, params: Path = ParamsOpt) -> None:
    """Continue the student on round k's samples plus a review of earlier ones."""
    from evokd.rounds import train as step

    _run_stage("train", round, params, step.run)


@app.command(rich_help_panel=STAGES)
def evaluate(round: int = RoundOpt, params: Path = ParamsOpt) -> None:
    """Score round k's student on the test split; feedback of the previous student."""
    from evokd.rounds import evaluate as step

    _run_stage("evaluate", round, params, step.run)


@app.command(rich_help_panel=STAGES)
def analyze(round: int = AnalyzeRoundOpt, params: Path = ParamsOpt) -> None:
    """The teacher analyses what the student gets wrong; it feeds round k+1 (round 0: prepare's
    student, for round 1)."""
    from evokd.rounds import analyze as step

    _run_stage("analyze", round, params, step.run, teacher=True)


@app.command(rich_help_panel=STAGES)
def report(params: Path = ParamsOpt) -> None:
    """Summarise all rounds: metrics/summary.json (headline), plot files, reports/report.{md,html}."""
    from evokd.rounds import report as step

    with _user_errors():
        step.run(_config(params))


@app.command(rich_help_panel=TOOLS)
def slots(n: int = typer.Argument(..., min=1, help="How many round slots dvc.yaml should have.")) -> None:
    """Rewrite slots.yaml so that dvc.yaml declares N round slots (raise it to run more rounds)."""
    from evokd.rounds.plan import write_slots

    with _user_errors():
        write_slots(n)
        typer.echo(f"slots.yaml now declares {n} round slots; commit it, then `dvc repro`.")


@app.command(rich_help_panel=TOOLS)
def estimate(model: str = typer.Option(None, "--model", "-m",
                                       help="Price the run with this LLM as the teacher (default: teacher.model)."),
             as_json: bool = typer.Option(False, "--json", help="Print the bill as JSON."),
             params: Path = ParamsOpt) -> None:
    """The bill before the run: teacher requests, prompt tokens, completion tokens and USD per
    stage and in total, from the real prompts of the configured rounds (upper bounds; sends nothing)."""
    import json

    from evokd.estimate import estimate as run_estimate, render

    with _user_errors():
        bill = run_estimate(_config(params), model)
        typer.echo(json.dumps(bill, indent=1) if as_json else render(bill))


teacher_app = typer.Typer(no_args_is_help=True, help="The LLM teacher's endpoint.")
app.add_typer(teacher_app, name="teacher", rich_help_panel=TOOLS)


@teacher_app.command("check")
def teacher_check(params: Path = ParamsOpt) -> None:
    """Send each teacher stage's request shape (tiny prompts): says whether the endpoint, model
    and key work, which request fields the endpoint refused, and what to set."""
    from evokd.errors import ConfigError
    from evokd.teachers.openai import check_endpoint

    with _user_errors():
        cfg = _config(params)
        if not cfg.teacher.model:
            raise ConfigError("teacher.model is not set; name the endpoint's model in params.yaml")
        typer.echo(check_endpoint(cfg, _api_key(cfg)))


@app.command(rich_help_panel=TOOLS)
def export(dest: Path = typer.Argument(..., help="The folder to write (the student, its card, dataset/)."),
           force: bool = typer.Option(False, "--force", help="Replace a previous export in DEST (never any other folder)."),
           params: Path = ParamsOpt) -> None:
    """Export the final student (loads with transformers.pipeline) and its training set.

    DEST gets the student's weights with a model card (README.md), and dataset/ the merged
    training set (train.jsonl) with its card."""
    from evokd.share.export import export as run_export

    with _user_errors():
        result = run_export(_config(params), dest, force=force)
        typer.echo(f"exported round {result['round']}'s student and {result['samples']} training "
                   f"samples to {result['dir']}")


cache_app = typer.Typer(no_args_is_help=True,
                        help="The teacher response cache, shared through the DVC remote.")
app.add_typer(cache_app, name="cache", rich_help_panel=TOOLS)
RemoteOpt = typer.Option(None, "--remote", "-r", help="The DVC remote (default: the default remote).")
JobsOpt = typer.Option(8, "--jobs", "-j", min=1, help="Parallel transfers.")


def _sync(action: str, params: Path, remote: str | None, jobs: int) -> None:
    from evokd.share import remote_cache
    from evokd.teachers.cache import ResponseCache

    with _user_errors():
        cache = ResponseCache(_config(params).teacher.cache_dir)
        target = remote_cache.open_remote(remote)
        result = getattr(remote_cache, action)(cache, target, jobs=jobs)
        verb = "uploaded to" if action == "push" else "downloaded from"
        typer.echo(f"{result.transferred} teacher response(s) {verb} remote {result.remote!r} "
                   f"(local had {result.local_before}, remote had {result.remote_before}"
                   + (f"; {result.damaged} damaged entr(ies) skipped" if result.damaged else "") + ")")


@cache_app.command("push")
def cache_push(remote: str = RemoteOpt, jobs: int = JobsOpt, params: Path = ParamsOpt) -> None:
    """Upload the teacher replies the remote lacks (after `dvc push`)."""
    _sync("push", params, remote, jobs)


@cache_app.command("pull")
def cache_pull(remote: str = RemoteOpt, jobs: int = JobsOpt, params: Path = ParamsOpt) -> None:
    """Download the teacher replies this project lacks (before `dvc repro`)."""
    _sync("pull", params, remote, jobs)


@cache_app.command("status")
def cache_status(remote: str = RemoteOpt, params: Path = ParamsOpt) -> None:
    """How many replies are only here, only on the remote, and on both."""
    from evokd.share import remote_cache
    from evokd.teachers.cache import ResponseCache

    with _user_errors():
        cache = ResponseCache(_config(params).teacher.cache_dir)
        target = remote_cache.open_remote(remote)
        mine, theirs = remote_cache.local_keys(cache), target.keys()
        typer.echo(f"teacher cache {cache.root}: {len(mine - theirs)} only here, "
                   f"{len(theirs - mine)} only on remote {target.name!r}, {len(mine & theirs)} on both")


if __name__ == "__main__":
    app()
