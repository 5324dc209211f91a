"""OpenAI Batch API mode (`teacher.mode: batch`): a stage's uncached chat requests go out as one
batch file, and the stage stops; a later run collects the replies into the response cache.

The Batch API answers within 24 h at half the price of online requests. A DVC stage cannot wait
that long, so a stage in batch mode:

1. looks up every request in the response cache (as in online mode);
2. for the requests still missing that an earlier run already submitted, asks the API about their
   batch (`batches.retrieve`); a finished batch's output file is downloaded (`files.content`) and
   every reply in it is stored in the response cache, exactly as an online reply would be;
3. writes the requests still missing and not waiting in a batch as a JSON Lines batch file
   (`custom_id` = the request's cache key), uploads it (`files.create`), creates the batch
   (`batches.create`) and records it in `<cache_dir>/batches/<batch id>.record`;
4. stops with BatchPending ("submitted batch <id>, re-run `dvc repro` to collect") when anything
   is still waiting, and otherwise carries on with every reply from the cache.

Each submitted request is paid for in the cache folder's spending ledger like an online try
(evokd.teachers.budget): its worst case is reserved at submission (only what fits is submitted;
the rest stops the stage with BudgetExceeded), settled to the reported usage when its reply is
collected, and given back when the provider reports the line failed. The output file is
untrusted input: a line that cannot be read is a failure for its request (asked again), with a
warning naming the batch, the file and the line.

Records live in the response cache folder, outside DVC outputs, so they survive DVC deleting a
stage's outputs; their suffix keeps them apart from cache entries (`<2 hex>/<key>.json`). A batch
that failed, expired or was cancelled is forgotten and its requests are submitted again; requests
that failed inside a finished batch are too, with the first error reported.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from evokd.errors import BatchPending, BudgetExceeded, TeacherError
from evokd.io import atomic_write_text
from evokd.teachers.cache import ResponseCache

log = logging.getLogger(__name__)

ENDPOINT = "/v1/chat/completions"
DONE, WAITING = "completed", ("validating", "in_progress", "finalizing", "cancelling")
GONE = ("failed", "expired", "cancelled")


@dataclass(frozen=True)
class BatchItem:
    """One request to send in a batch: its cache key, the chat-completions body to send, and the
    request record the cache keeps beside the reply."""

    key: str
    body: dict
    record: dict
    reserve: int = 0  # the most its reply can cost (tokens), metered at submission


class BatchRunner:
    """Submits and collects batches for one endpoint, through the `openai` SDK client `sdk`."""

    def __init__(self, sdk, cache: ResponseCache, base_url: str, redact=lambda text: text, ledger=None):
        self.sdk, self.cache, self.base_url, self.redact = sdk, cache, base_url, redact
        # evokd.teachers.budget.Ledger: a submitted request is paid for in the folder's spending
        # ledger like an online try (reserved at submission, settled at collection).
        self.ledger = ledger
        self.folder = cache.root / "batches"

    # -- records ----------------------------------------------------------------------------
    def records(self) -> list[dict]:
        """The batches submitted and not yet collected, oldest first. A record that cannot be
        read, or is not a record, is ignored with a warning (its requests are asked again)."""
        out = []
        for path in sorted(self.folder.glob("*.record")) if self.folder.exists() else []:
            try:
                record = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
                log.warning("teacher: unreadable batch record %s ignored (%s)", path, type(exc).__name__)
                continue
            problem = _record_problem(record)
            if problem:
                log.warning("teacher: batch record %s ignored: %s", path, problem)
                continue
            out.append(record)
        return sorted(out, key=lambda r: r.get("submitted_at", 0))

    def _record_path(self, batch_id: str) -> Path:
        return self.folder / f"{batch_id}.record"

    def _forget(self, batch_id: str) -> None:
        self._record_path(batch_id).unlink(missing_ok=True)

    # -- the stage's entry point --------------------------------------------------------------
    def run(self, items: list[BatchItem]) -> int:
        """Make sure every item's reply is in the cache, or raise BatchPending; returns how many
        replies this call collected from finished batches."""
        missing = {item.key: item for item in items if self.cache.get(item.key) is None}
        if not missing:
            return 0
        collected, waiting, notes = 0, [], []
        for record in self.records():
            if not missing.keys() & set(record["keys"]):
                continue
            status, got, note, record = self._poll(record)
            collected += got
            if note:
                notes.append(note)
            if status in WAITING:
                waiting.append(record)
        in_flight = {key for record in waiting for key in record["keys"]}
        todo = [item for key, item in missing.items() if self.cache.get(key) is None and key not in in_flight]
        todo, refused = self._reserve(todo)
        submitted = self._submit(todo) if todo else None
        if refused is not None:
            raise refused  # what fitted is submitted (and recorded); a later run collects it
        if not waiting and submitted is None:
            return collected
        lines = list(notes)
        if submitted is not None:
            lines.append(f"submitted batch {submitted} ({len(todo)} request(s)) to {self.base_url}")
        for record in waiting:
            lines.append(f"batch {record['batch_id']} is still {record.get('last_status', 'in_progress')} "
                         f"({record.get('progress', '?')} done)")
        raise BatchPending(lines)

    # -- the API ----------------------------------------------------------------------------
    def _api(self, what: str, call):
        try:
            return call()
        except Exception as exc:  # the SDK's errors: connection, status, timeout
            raise TeacherError(f"the Batch API at {self.base_url} failed to {what}: "
                               f"{self.redact(str(exc))[:300]}; run again later, or set "
                               f"teacher.mode: online") from None

    def _reserve(self, items: list[BatchItem]) -> tuple[list[BatchItem], Exception | None]:
        """The items whose worst case fits the folder's spending ledger (reserved now, in order),
        and the BudgetExceeded for the first that does not (None if all fit)."""
        if self.ledger is None:
            return items, None
        fitted = []
        for item in items:
            try:
                self.ledger.meter(item.reserve).before_try()
            except BudgetExceeded as exc:
                return fitted, exc
            fitted.append(item)
        return fitted, None

    def _refund(self, record: dict, key: str) -> None:
        """Give back a submitted request's reservation: the provider says it was not processed."""
        if self.ledger is not None:
            self.ledger.meter(_reserved(record, key)).refund_try()

    def _submit(self, items: list[BatchItem]) -> str:
        try:
            return self._upload_and_create(items)
        except BaseException:
            for item in items:  # nothing was submitted: nothing can be billed
                self._refund({"reserved": {item.key: item.reserve}}, item.key)
            raise

    def _upload_and_create(self, items: list[BatchItem]) -> str:
        lines = "".join(json.dumps({"custom_id": item.key, "method": "POST", "url": ENDPOINT,
                                    "body": item.body}, ensure_ascii=False) + "\n" for item in items)
        upload = self._api("upload the batch file", lambda: self.sdk.files.create(
            file=("evokd-batch.jsonl", lines.encode("utf-8"), "application/jsonl"), purpose="batch"))
        batch = self._api("create the batch", lambda: self.sdk.batches.create(
            input_file_id=upload.id, endpoint=ENDPOINT, completion_window="24h",
            metadata={"created_by": "evokd"}))
        record = {"batch_id": batch.id, "input_file_id": upload.id, "endpoint": self.base_url,
                  "submitted_at": time.time(), "keys": [item.key for item in items],
                  "requests": {item.key: item.record for item in items}, "last_status": batch.status,
                  "reserved": {item.key: item.reserve for item in items}}
        atomic_write_text(self._record_path(batch.id), json.dumps(record, ensure_ascii=False) + "\n")
        log.info("teacher: submitted batch %s with %d request(s)", batch.id, len(items))
        return batch.id

    def _poll(self, record: dict) -> tuple[str, int, str | None, dict]:
        """(status, replies collected, a note for the user, the record as now) of one batch."""
        batch_id = record["batch_id"]
        batch = self._api(f"look up batch {batch_id}", lambda: self.sdk.batches.retrieve(batch_id))
        status = batch.status
        counts = batch.request_counts
        if status in WAITING:
            record = {**record, "last_status": status,
                      "progress": f"{counts.completed} of {counts.total}" if counts else "?"}
            atomic_write_text(self._record_path(batch_id), json.dumps(record, ensure_ascii=False) + "\n")
            return status, 0, None, record
        if status in GONE:
            self._forget(batch_id)
            return status, 0, f"batch {batch_id} {status}; its requests were submitted again", record
        if status != DONE:
            raise TeacherError(f"batch {batch_id} has an unknown status {status!r}; see the provider's console")
        got, errors = 0, []
        for file_id in (batch.output_file_id, batch.error_file_id):
            if not file_id:
                continue
            text = self._api(f"download {file_id}", lambda: self.sdk.files.content(file_id).text)
            for number, line in enumerate(text.splitlines(), 1):
                if not line.strip():
                    continue
                problem = None
                try:
                    got += self._store(json.loads(line), record, errors)
                except _BadLine as exc:
                    problem = str(exc)
                except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
                    problem = f"not JSON ({type(exc).__name__})"
                if problem:
                    # A counted failure for its request: not cached, so asked again next run.
                    log.warning("teacher: batch %s file %s line %d: %s; ignored, its request will be "
                                "asked again", batch_id, file_id, number, problem)
                    errors.append(f"file {file_id} line {number}: {problem}")
        self._forget(batch_id)
        note = None
        if errors:
            note = (f"{len(errors)} request(s) of batch {batch_id} failed (first: {errors[0]}); "
                    f"they were submitted again")
        log.info("teacher: collected %d reply(ies) from batch %s", got, batch_id)
        return status, got, note, record

    def _store(self, line: object, record: dict, errors: list[str]) -> int:
        """Put one output line's reply into the cache; 1 if it held a reply. A line that is not a
        batch output line raises _BadLine (the caller counts it and warns)."""
        from openai.types.chat import ChatCompletion
        from pydantic import ValidationError

        from evokd.teachers.client import ChatClient

        if not isinstance(line, dict):
            raise _BadLine(f"not an output line object ({type(line).__name__})")
        key = line.get("custom_id")
        if not isinstance(key, str):
            raise _BadLine("no custom_id")
        request = record["requests"].get(key)
        response = line.get("response") or {}
        if request is None:
            return 0
        if not isinstance(response, dict):
            raise _BadLine("its response is not an object")
        if line.get("error") or response.get("status_code") != 200:
            body = response.get("body")
            err = line.get("error") or (body.get("error") if isinstance(body, dict) else None) \
                or response.get("status_code")
            errors.append(self.redact(str(err))[:200])
            self._refund(record, key)  # answered with an error: not processed
            return 0
        if not isinstance(response.get("body"), dict):
            raise _BadLine("its response has no body object")
        try:
            reply = ChatClient._reply(ChatCompletion.model_validate(response["body"]))
        except ValidationError as exc:
            raise _BadLine(f"its body is not a chat completion ({exc.error_count()} problem(s))") from None
        self.cache.put(key, request, reply)
        if self.ledger is not None:
            from evokd.teachers.dispatch import ChatRequest, _tokens

            asked = ChatRequest(request.get("messages") or [], request.get("sampling") or {}, "")
            self.ledger.meter(_reserved(record, key)).settle(*_tokens(reply, asked)[:2])
        return 1


def _reserved(record: dict, key: str) -> int:
    """The tokens reserved for `key` when its batch was submitted (0 for a record without them)."""
    reserved = record.get("reserved")
    value = reserved.get(key) if isinstance(reserved, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


class _BadLine(ValueError):
    """A batch output line that is not one (the provider's file, or a damaged download)."""


def _record_problem(record: object) -> str | None:
    """Why a decoded batch record cannot be used, or None."""
    if not isinstance(record, dict):
        return "not an object"
    if not isinstance(record.get("batch_id"), str) or not record["batch_id"]:
        return "no batch_id"
    keys, requests = record.get("keys"), record.get("requests")
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        return "no list of keys"
    if not isinstance(requests, dict):
        return "no requests"
    if not isinstance(record.get("submitted_at", 0), (int, float)):
        return "a submitted_at that is not a time"
    return None
