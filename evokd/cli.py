"""The `evokd` command: the user's tools around the pipeline (slots, estimate, teacher check,
export, the shared teacher cache). The pipeline's stages are not commands: `dvc repro` runs
stages/<verb>.py (one way a stage runs; `dvc repro synthesize@3` runs one by hand). This is the
edge: it reads params.yaml once and passes the typed config down."""

from __future__ import annotations

import logging
from pathlib import Path

import typer

from evokd import edge

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Distil an LLM teacher into a small student, round by round (EvoKD on DVC). "
                       "`dvc repro` runs the loop (stages/*.py); these are the tools around it.",
                  epilog="Exit codes: 0 done; 1 failed (a bug, or a failed training launch); "
                         "2 user error (the message says what to change); "
                         "3 OpenAI batch submitted or still running (run again later); "
                         "4 the teacher or the DVC remote kept failing (run again when it recovers). "
                         "See docs/cli.md.")
log = logging.getLogger("evokd")

ParamsOpt = typer.Option(Path("params.yaml"), "--params", "-p", help="The params file to read.")


def _version(show: bool) -> None:
    if show:
        from evokd import __version__

        typer.echo(f"evokd {__version__}")
        raise typer.Exit()


@app.callback()
def _main(verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging."),
          version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the version and exit.")) -> None:
    edge.setup(verbose)


def _config(params: Path):
    from evokd.config import load_config

    return load_config(params)


@app.command()
def slots(n: int = typer.Argument(..., min=1, help="How many round slots dvc.yaml should have.")) -> None:
    """Rewrite slots.yaml so that dvc.yaml declares N round slots (fewer: dvc.lock drops the rest)."""
    from evokd.rounds.slots import prune_lock, write_slots

    with edge.user_errors():
        write_slots(n)
        gone = prune_lock(n)
        typer.echo(f"slots.yaml now declares {n} round slots"
                   + (f" (dvc.lock: {len(gone)} entries of removed slots dropped)" if gone else "")
                   + "; commit it, then `dvc repro`.")


@app.command()
def estimate(model: str = typer.Option(None, "--model", "-m",
                                       help="Price the run with this LLM as the teacher (default: teacher.model)."),
             as_json: bool = typer.Option(False, "--json", help="Print the bill as JSON."),
             params: Path = ParamsOpt) -> None:
    """The bill before the run: teacher requests, prompt tokens, completion tokens and USD per
    stage and in total, from the real prompts of the configured rounds (upper bounds; sends nothing)."""
    import json

    from evokd.estimate import estimate as run_estimate, render

    with edge.user_errors():
        bill = run_estimate(_config(params), model)
        typer.echo(json.dumps(bill, indent=1) if as_json else render(bill))


teacher_app = typer.Typer(no_args_is_help=True, help="The LLM teacher's endpoint.")
app.add_typer(teacher_app, name="teacher")


@teacher_app.command("check")
def teacher_check(params: Path = ParamsOpt) -> None:
    """Send each teacher stage's request shape (tiny prompts): says whether the endpoint, model
    and key work, which request fields the endpoint refused, and what to set."""
    from evokd.errors import ConfigError
    from evokd.teachers.openai import check_endpoint

    with edge.user_errors():
        cfg = _config(params)
        if not cfg.teacher.model:
            raise ConfigError("teacher.model is not set; name the endpoint's model in params.yaml")
        typer.echo(check_endpoint(cfg, edge.api_key(cfg)))


@app.command()
def export(dest: Path = typer.Argument(..., help="The folder to write (the student, its card, dataset/)."),
           force: bool = typer.Option(False, "--force", help="Replace a previous export in DEST (never any other folder)."),
           params: Path = ParamsOpt) -> None:
    """Export the final student (loads with transformers.pipeline) and its training set.

    DEST gets the student's weights with a model card (README.md), and dataset/ the merged
    training set (train.jsonl) with its card."""
    from evokd.share.export import export as run_export

    with edge.user_errors():
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

    with edge.user_errors():
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

    with edge.user_errors():
        cache = ResponseCache(_config(params).teacher.cache_dir)
        target = remote_cache.open_remote(remote)
        mine, theirs = remote_cache.local_keys(cache), target.keys()
        typer.echo(f"teacher cache {cache.root}: {len(mine - theirs)} only here, "
                   f"{len(theirs - mine)} only on remote {target.name!r}, {len(mine & theirs)} on both")


if __name__ == "__main__":
    app()
