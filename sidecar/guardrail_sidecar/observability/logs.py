"""Structured JSON logs and the audit line written for every blocked or flagged answer."""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

from guardrail_sidecar.observability.redact import Redactor
from guardrail_sidecar.scoring.verdict import Assessment

audit_log = logging.getLogger("guardrail.audit")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and any `extra={"fields": {...}}`."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            out.update(fields)
        if record.exc_info:
            out["error"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def configure(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def audit_fields(
    assessment: Assessment, request_id: str, revision: str, redactor: Redactor, include_text: bool, kind: str
) -> dict[str, Any]:
    """What an audit line records: ids, verdict and score; text only redacted and only when configured."""
    fields: dict[str, Any] = {
        "event": "audit",
        "kind": kind,
        "request_id": redactor(request_id),
        "revision": revision,
        "verdict": assessment.verdict,
        "score": round(assessment.score, 4),
        "evidence_ids": list(assessment.evidence_ids),
        "backend_error": assessment.backend_error,
        "reason": redactor(assessment.reason),
    }
    if include_text:
        fields["claims"] = [redactor(c.claim) for c in assessment.claims]
    elif assessment.claims:  # the reason quotes the weakest claim: drop it unless text is wanted
        fields["reason"] = assessment.reason.split(":", 1)[0]
    return fields


def audit(fields: dict[str, Any]) -> None:
    audit_log.warning("answer %s", fields["verdict"], extra={"fields": fields})
