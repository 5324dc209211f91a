"""The `evokd` command. Each pipeline stage is a subcommand (`evokd synthesize --round 3`), the
same verb as its DVC stage, module and params block. This is the edge: it reads params.yaml once
and passes the typed config down."""

from __future__ import annotations

import logging
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import typer

from evokd.errors import EvokdError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Distil an LLM teacher into a small student, round by round (EvoKD on DVC).")
log = logging.getLogger("evokd")

ParamsOpt = typer.Option(Path("params.yaml"), "--params", "-p", help="The params file to read.")
# Exit code of a stage whose teacher requests wait in an OpenAI batch (re-run to collect).
BATCH_PENDING_EXIT = 3
RoundOpt = typer.Option(..., "--round", "-r", min=1, help="The round slot to run (1 = first round).")
AnalyzeRoundOpt = typer.Option(..., "--round", "-r", min=0,
                               help="The round to analyse (0 = prepare's student, 1 = first round).")


@app.callback()
def _main(verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging.")) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="evokd: %(message)s", stream=sys.stderr)
    # Models come from the installed packages or local folders; never from a hub.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@contextmanager
def _user_errors() -> Iterator[None]:
    from evokd.errors import BatchPending

    try:
        yield
    except BatchPending as exc:  # teacher.mode: batch; not a failure, but DVC must stop here
        typer.secho(f"evokd: {exc}", fg=typer.colors.YELLOW, err=True)
        raise typer.Exit(BATCH_PENDING_EXIT) from None
    except EvokdError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None


def _config(params: Path):
    from evokd.config import load_config

    return load_config(params)


def _api_key() -> str | None:
    """The teacher's API key: from the environment only, never from params or files."""
    return os.environ.get("OPENAI_API_KEY") or None


def _run_stage(verb: str, k: int, params: Path, step: Callable, teacher: bool = False) -> None:
    from evokd.rounds.stage import run_round

    with _user_errors():
        cfg = _config(params)
        make_teacher = None
        if teacher:
            from evokd.rounds.spending import round_teacher

            def make_teacher():
                return round_teacher(cfg, k, verb, _api_key())

        run_round(verb, k, cfg, step, make_teacher)


@app.command()
def prepare(params: Path = ParamsOpt) -> None:
    """Round 0: load the dataset, draw the seed set, train the first student, first feedback
    (its analysis is `evokd analyze --round 0`)."""
    from evokd.rounds import prepare as step
    from evokd.rounds.stage import run_prepare

    with _user_errors():
        run_prepare(_config(params), step.run)


@app.command()
def plan(params: Path = ParamsOpt) -> None:
    """Write one activation file per round slot from `rounds`."""
    from evokd.rounds import plan as step

    with _user_errors():
        result = step.run(_config(params))
        log.info("plan: %d of %d round slots active", result["rounds"], result["slots"])


@app.command()
def synthesize(round: int = RoundOpt, params: Path = ParamsOpt) -> None:
    """The teacher writes round k's hard and easy samples from the last analysis."""
    from evokd.rounds import synthesize as step

    _run_stage("synthesize", round, params, step.run, teacher=True)


@app.command()
def label(round: int = RoundOpt, params: Path = ParamsOpt) -> None:
    """A separate teacher call labels round k's samples; invalid ones are kept with a reason."""
    from evokd.rounds import label as step

    _run_stage("label", round, params, step.run, teacher=True)


@app.command()
def train(round: int = RoundOpt, params: Path = ParamsOpt) -> None:
    """Continue the student on round k's samples plus a review of earlier ones."""
    from evokd.rounds import train as step

    _run_stage("train", round, params, step.run)


@app.command()
def evaluate(round: int = RoundOpt, params: Path = ParamsOpt) -> None:
    """Score round k's student on the test split; feedback of the previous student."""
    from evokd.rounds import evaluate as step

    _run_stage("evaluate", round, params, step.run)


@app.command()
def analyze(round: int = AnalyzeRoundOpt, params: Path = ParamsOpt) -> None:
    """The teacher analyses what the student gets wrong; it feeds round k+1 (round 0: prepare's
    student, for round 1)."""
    from evokd.rounds import analyze as step

    _run_stage("analyze", round, params, step.run, teacher=True)


@app.command()
def report(params: Path = ParamsOpt) -> None:
    """Summarise all rounds: metrics/summary.json (headline), plot files, reports/report.{md,html}."""
    from evokd.rounds import report as step

    with _user_errors():
        step.run(_config(params))


@app.command()
def slots(n: int = typer.Argument(..., min=1, help="How many round slots dvc.yaml should have.")) -> None:
    """Rewrite slots.yaml so that dvc.yaml declares N round slots (raise it to run more rounds)."""
    from evokd.rounds.plan import write_slots

    with _user_errors():
        write_slots(n)
        typer.echo(f"slots.yaml now declares {n} round slots; commit it, then `dvc repro`.")


teacher_app = typer.Typer(no_args_is_help=True, help="The LLM teacher's endpoint.")
app.add_typer(teacher_app, name="teacher")


@teacher_app.command("check")
def teacher_check(params: Path = ParamsOpt) -> None:
    """Send one small request: says whether the endpoint, model and key work, or what is wrong."""
    from evokd.errors import ConfigError
    from evokd.teachers.openai import check_endpoint

    with _user_errors():
        cfg = _config(params)
        if not cfg.teacher.model:
            raise ConfigError("teacher.model is not set; name the endpoint's model in params.yaml")
        typer.echo(check_endpoint(cfg, _api_key()))


@app.command()
def export(dest: Path = typer.Argument(..., help="The folder to write (the student, its card, dataset/)."),
           force: bool = typer.Option(False, "--force", help="Replace the folder if it is not empty."),
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
app.add_typer(cache_app, name="cache")
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
