"""Named errors. Each message says what is wrong and what the user can do about it.

The CLI prints these without a traceback; anything else is a bug and keeps its traceback.
"""


class EvokdError(Exception):
    """Base class for errors a user can act on."""


class ConfigError(EvokdError):
    """params.yaml is missing, malformed, or holds a value that is not allowed."""


class UnknownLabelError(ConfigError):
    """dataset.label_descriptions names a label the dataset does not have."""


class DataError(EvokdError):
    """A dataset file cannot be read; the message names the file and line."""


class TeacherError(EvokdError):
    """The teacher could not be reached or kept failing."""


class TeacherRefused(TeacherError):
    """The endpoint refused a request for a reason retrying cannot fix (401, 403, 404, 400):
    the key, the model name or a request param must change."""


class BudgetExceeded(TeacherError):
    """The teacher budget would be exceeded; everything so far is kept."""


class PipelineError(EvokdError):
    """A stage's inputs are missing or inconsistent (run the earlier stages first)."""


class RemoteError(EvokdError):
    """The DVC remote is not configured or cannot be reached (run `dvc remote list`)."""


class RemoteFailed(RemoteError):
    """A transfer to or from the DVC remote failed (it is configured, but did not work)."""


class LaunchError(EvokdError):
    """A distributed training launch (`train.launcher: accelerate`) failed; its output says why."""


class BatchPending(TeacherError):
    """Teacher requests wait in an OpenAI batch (`teacher.mode: batch`); re-run to collect them.

    Not a failure: the stage stops (non-zero exit, so DVC stops too) without writing outputs.
    `lines` says what waits (one line per batch submitted or still running); `merge` joins the
    waits of several calls into one message, so a stage that submits a batch per chunk reports
    them all."""

    HINT = ("re-run `dvc repro` to collect the replies (the Batch API answers within 24 h; what has "
            "arrived is in the response cache)")

    def __init__(self, lines: "str | list[str]"):
        self.lines = [lines] if isinstance(lines, str) else list(lines)
        super().__init__("; ".join([*self.lines, self.HINT]))

    @classmethod
    def merge(cls, pending: "list[BatchPending]") -> "BatchPending":
        return cls([line for exc in pending for line in exc.lines])


class UserInputError(EvokdError):
    """A command's argument cannot be used as given (e.g. an export folder that is not one)."""
