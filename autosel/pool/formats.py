"""Input formats: detection and normalisation of one raw record to the canonical form.

Supported record shapes (see README, "Pool formats"):

- ``chat``: ``{"messages": [{"role", "content"}, ...]}`` (OpenAI style); the last message
  must be the assistant response.
- ``alpaca``: ``{"instruction", "input"?, "output", "system"?, "history"?}``; history is
  ``[[user, assistant], ...]`` as in LLaMA-Factory's Alpaca variant.
- ``sharegpt``: ``{"conversations": [{"from", "value"}, ...]}``.
- ``prompt_response``: ``{"prompt", "response"}`` (``completion`` accepted for response).
- ``question_answer``: ``{"question", "answer"}`` (GSM8K and most Hugging Face QA sets):
  the question is the user turn and ``answer`` is the *response* (the SFT target, e.g. a
  chain of thought). The reference final answer is ``target`` when given, else the text
  after a final ``#### `` line of the answer (GSM8K's convention), else none.

Optional fields in every format: ``id``, ``source``, ``difficulty``, ``answer`` (or
``target``), ``group``, ``correct``, ``metadata``.

Field mapping (:func:`parse_field_map`, :func:`apply_field_map`): a record whose fields
have other names is renamed before detection, ``CANONICAL=SOURCE`` per pair (``--map
question=problem,answer=solution`` reads a MATH-style ``{"problem", "solution"}`` record
as ``question_answer``). The canonical names are :data:`MAPPABLE`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import orjson

from autosel.pool.schema import CHAT_ROLES, DEFAULT_SOURCE, SHAREGPT_ROLES

FORMATS = ("chat", "alpaca", "sharegpt", "prompt_response", "question_answer")
# Every top-level field some format reads: what the left side of a field map may name.
MAPPABLE = (
    "messages",
    "conversations",
    "instruction",
    "input",
    "output",
    "system",
    "history",
    "prompt",
    "response",
    "completion",
    "question",
    "answer",
    "id",
    "source",
    "difficulty",
    "target",
    "group",
    "correct",
    "metadata",
)
MAP_SYNTAX = "--map question=<field>,answer=<field> (or prompt=<field>,response=<field>)"
_GSM8K_FINAL = "\n#### "
DIFFICULTY_WORDS = {"easy": 0.25, "medium": 0.5, "hard": 0.75, "very_hard": 1.0, "expert": 1.0}


class RecordError(ValueError):
    """A record is invalid; carries the offending field (ingest adds file and line)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def detect_format(rec: Any) -> str:
    """Return the format name a record's keys indicate.

    Raises:
        RecordError: the record is not an object or matches no known format.
    """
    if not isinstance(rec, dict):
        raise RecordError(f"expected a JSON object, got {type(rec).__name__}")
    if "messages" in rec:
        return "chat"
    if "conversations" in rec:
        return "sharegpt"
    if "instruction" in rec:
        return "alpaca"
    if "prompt" in rec:
        return "prompt_response"
    if "question" in rec:
        return "question_answer"
    raise RecordError(
        f"record matches no known format (fields found: {found_fields(rec)}); accepted: "
        "'messages' (chat), 'conversations' (sharegpt), 'instruction'+'output' (alpaca), "
        "'prompt'+'response', 'question'+'answer'; or name your fields with "
        f'{MAP_SYNTAX} (API: "map": {{"question": "<field>", ...}})'
    )


def found_fields(rec: dict[str, Any], limit: int = 20) -> str:
    """The record's field names, sorted, for error messages (``(none)`` when empty)."""
    keys = sorted(map(str, rec))
    more = f", … ({len(keys) - limit} more)" if len(keys) > limit else ""
    return (", ".join(keys[:limit]) + more) or "(none)"


def parse_field_map(
    spec: str | dict[str, str] | None,
    accepted: Sequence[str] = MAPPABLE,
    example: str = MAP_SYNTAX,
) -> dict[str, str]:
    """``"question=problem,answer=solution"`` (or a dict) -> ``{canonical: source}``.

    ``accepted``: the canonical names the left side may name (a pool's :data:`MAPPABLE`;
    a benchmark's ``autosel.bench.spec.BENCH_FIELDS``); ``example`` ends each message.

    Raises:
        RecordError: a pair is not ``CANONICAL=SOURCE``, a canonical name is not in
            ``accepted``, or a canonical name or source field is given twice
            (``field`` is ``map``).
    """
    if not spec:
        return {}
    if isinstance(spec, dict):
        pairs = [(str(k), v) for k, v in spec.items()]
    else:
        pairs = []
        for part in spec.split(","):
            if not part.strip():
                continue
            canonical, eq, source = part.partition("=")
            if not eq:
                raise RecordError(
                    f"'{part.strip()}' is not CANONICAL=SOURCE; example: {example}", "map"
                )
            pairs.append((canonical, source))
    out: dict[str, str] = {}
    for canonical, source in pairs:
        canonical = canonical.strip()
        if canonical not in accepted:
            raise RecordError(
                f"unknown canonical field '{canonical}' (left of '='); accepted: "
                f"{', '.join(accepted)}; example: {example}",
                "map",
            )
        if not isinstance(source, str) or not source.strip():
            raise RecordError(f"'{canonical}=' names no source field; example: {example}", "map")
        if canonical in out:
            raise RecordError(
                f"canonical field '{canonical}' is mapped twice; example: {example}", "map"
            )
        if source.strip() in out.values():
            raise RecordError(
                f"source field '{source.strip()}' is mapped twice; example: {example}", "map"
            )
        out[canonical] = source.strip()
    return out


def apply_field_map(rec: Any, field_map: dict[str, str]) -> Any:
    """Rename a record's fields by ``field_map`` (``{canonical: source}``).

    Fields not named in the map are kept; a mapped value replaces any field of the
    canonical name the record already had. A ``None`` value (a null in a Parquet or Arrow
    column) leaves the canonical field absent.

    Raises:
        RecordError: a source field is absent from the record (``field`` is its name; the
            message lists the fields found).
    """
    if not field_map or not isinstance(rec, dict):
        return rec
    out = {k: v for k, v in rec.items() if k not in field_map.values()}
    for canonical, source in field_map.items():
        if source not in rec:
            raise RecordError(
                f"mapped field '{source}' (for {canonical}) is missing; fields found: "
                f"{found_fields(rec)}",
                source,
            )
        value = rec[source]
        if value is None:
            out.pop(canonical, None)
        else:
            out[canonical] = value
    return out


def _text(value: Any, field: str, *, required: bool = True) -> str:
    if value is None:
        if required:
            raise RecordError("missing (a string is required)", field)
        return ""
    if not isinstance(value, str):
        raise RecordError(f"expected a string, got {type(value).__name__}", field)
    return value


def _messages_from_chat(
    msgs: Any, field: str, role_key: str, text_key: str, role_map: dict[str, str] | None
) -> list[dict[str, str]]:
    if not isinstance(msgs, list):
        raise RecordError(f"expected a list of messages, got {type(msgs).__name__}", field)
    out: list[dict[str, str]] = []
    for i, m in enumerate(msgs):
        if role_map is None and type(m) is dict and len(m) == 2:
            # Fast path for the common well-formed chat message.
            role, content = m.get("role"), m.get("content")
            if type(role) is str and type(content) is str and role in CHAT_ROLES:
                out.append(m)
                continue
        where = f"{field}[{i}]"
        if not isinstance(m, dict):
            raise RecordError(f"expected an object, got {type(m).__name__}", where)
        raw_role = m.get(role_key)
        if not isinstance(raw_role, str):
            raise RecordError("missing role (a string is required)", f"{where}.{role_key}")
        if role_map is None:
            role = raw_role
            if role not in CHAT_ROLES:
                raise RecordError(
                    f"unknown role '{raw_role}'; accepted: {', '.join(CHAT_ROLES)}",
                    f"{where}.{role_key}",
                )
        else:
            role = role_map.get(raw_role.lower(), "")
            if not role:
                raise RecordError(
                    f"unknown role '{raw_role}'; accepted: {', '.join(sorted(role_map))}",
                    f"{where}.{role_key}",
                )
        content = m.get(text_key)
        if isinstance(content, list):  # OpenAI content parts: keep the text parts
            parts = [
                p.get("text", "")
                for p in content
                if isinstance(p, dict) and p.get("type") == "text"
            ]
            if len(parts) != len(content):
                raise RecordError("only text content parts are supported", f"{where}.{text_key}")
            content = "".join(parts)
        out.append({"role": role, "content": _text(content, f"{where}.{text_key}")})
    return out


def _split_response(msgs: list[dict[str, str]], field: str) -> tuple[list[dict[str, str]], str]:
    if not msgs:
        raise RecordError("no messages: a prompt and an assistant response are required", field)
    if msgs[-1]["role"] != "assistant":
        raise RecordError(
            f"missing the response: the last message has role '{msgs[-1]['role']}', "
            "expected a final 'assistant' message",
            f"{field}[{len(msgs) - 1}]",
        )
    if len(msgs) < 2:
        raise RecordError(
            "no prompt: at least one message must precede the assistant response", field
        )
    return msgs[:-1], msgs[-1]["content"]


def _prompt_response(rec: dict[str, Any], fmt: str) -> tuple[list[dict[str, str]], str]:
    if fmt == "chat":
        msgs = _messages_from_chat(rec.get("messages"), "messages", "role", "content", None)
        return _split_response(msgs, "messages")
    if fmt == "sharegpt":
        msgs = _messages_from_chat(
            rec.get("conversations"), "conversations", "from", "value", SHAREGPT_ROLES
        )
        return _split_response(msgs, "conversations")
    if fmt == "alpaca":
        instruction = _text(rec.get("instruction"), "instruction")
        extra = _text(rec.get("input"), "input", required=False)
        response = _text(rec.get("output"), "output")
        prompt: list[dict[str, str]] = []
        system = _text(rec.get("system"), "system", required=False)
        if system:
            prompt.append({"role": "system", "content": system})
        history = rec.get("history") or []
        if not isinstance(history, list):
            raise RecordError("expected a list of [user, assistant] pairs", "history")
        for i, pair in enumerate(history):
            if not (
                isinstance(pair, list) and len(pair) == 2 and all(isinstance(x, str) for x in pair)
            ):
                raise RecordError("expected a [user, assistant] pair of strings", f"history[{i}]")
            prompt += [
                {"role": "user", "content": pair[0]},
                {"role": "assistant", "content": pair[1]},
            ]
        user = f"{instruction}\n\n{extra}" if extra else instruction
        prompt.append({"role": "user", "content": user})
        return prompt, response
    if fmt == "prompt_response":
        prompt_text = _text(rec.get("prompt"), "prompt")
        key = "response" if "response" in rec or "completion" not in rec else "completion"
        response = _text(rec.get(key), key)
        return [{"role": "user", "content": prompt_text}], response
    if fmt == "question_answer":
        question = _text(rec.get("question"), "question")
        return [{"role": "user", "content": question}], _text(rec.get("answer"), "answer")
    raise RecordError(f"unknown format '{fmt}'; accepted: {', '.join(FORMATS)}")


_OPTIONAL_KEYS = frozenset(
    {"id", "source", "difficulty", "answer", "target", "group", "correct", "metadata"}
)
_EMPTY_OPTIONAL = {
    "sample_id": None,
    "source": DEFAULT_SOURCE,
    "difficulty": None,
    "answer": None,
    "group": None,
    "correct": None,
    "metadata": None,
}


def _optional_fields(rec: dict[str, Any]) -> dict[str, Any]:
    if not _OPTIONAL_KEYS & rec.keys():  # common case for plain pools: nothing to check
        return dict(_EMPTY_OPTIONAL)
    out: dict[str, Any] = {}
    sid = rec.get("id")
    if sid is not None and not isinstance(sid, (str, int)) or isinstance(sid, bool):
        raise RecordError("expected a string or integer id", "id")
    out["sample_id"] = str(sid) if sid is not None and sid != "" else None
    src = rec.get("source")
    if src is not None and not isinstance(src, str):
        raise RecordError("expected a string", "source")
    out["source"] = src or DEFAULT_SOURCE
    diff = rec.get("difficulty")
    if diff is not None:
        if isinstance(diff, str) and diff.lower() in DIFFICULTY_WORDS:
            diff = DIFFICULTY_WORDS[diff.lower()]
        elif isinstance(diff, bool) or not isinstance(diff, (int, float)):
            raise RecordError(
                f"expected a number or one of {', '.join(DIFFICULTY_WORDS)}, got {diff!r}",
                "difficulty",
            )
        if not math.isfinite(float(diff)):
            raise RecordError("must be a finite number", "difficulty")
        diff = float(diff)
    out["difficulty"] = diff
    key = "answer" if "answer" in rec else "target"
    ans = rec.get(key)
    if ans is not None and not isinstance(ans, str):
        if isinstance(ans, (int, float)) and not isinstance(ans, bool):
            ans = str(ans)
        else:
            raise RecordError("expected a string or number", key)
    out["answer"] = ans
    grp = rec.get("group")
    if grp is not None and (isinstance(grp, bool) or not isinstance(grp, (str, int))):
        raise RecordError("expected a string or integer group id", "group")
    out["group"] = str(grp) if grp is not None else None
    cor = rec.get("correct")
    if cor is not None and not isinstance(cor, bool):
        raise RecordError(f"expected true or false, got {cor!r}", "correct")
    out["correct"] = cor
    meta = rec.get("metadata")
    if meta is not None and not isinstance(meta, dict):
        raise RecordError("expected a JSON object", "metadata")
    out["metadata"] = orjson.dumps(meta, option=orjson.OPT_SORT_KEYS).decode() if meta else None
    return out


def normalize(rec: Any, fmt: str) -> dict[str, Any]:
    """Turn one raw record of format ``fmt`` into a canonical row (``sample_id`` may be None).

    Raises:
        RecordError: with the offending field.
    """
    if not isinstance(rec, dict):
        raise RecordError(f"expected a JSON object, got {type(rec).__name__}")
    prompt, response = _prompt_response(rec, fmt)
    if fmt == "question_answer":
        # `answer` was the response; the reference answer is `target`, or GSM8K's "#### x".
        rec = {k: v for k, v in rec.items() if k != "answer"}
        tail = response.rpartition(_GSM8K_FINAL)[2] if _GSM8K_FINAL in response else ""
        final = tail.split("\n", 1)[0].strip()
        if final and "target" not in rec:
            rec["target"] = final
    row = _optional_fields(rec)
    row["prompt"] = prompt
    row["response"] = response
    return row
