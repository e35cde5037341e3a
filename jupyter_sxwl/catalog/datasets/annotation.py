"""Annotation types (D1) and the record schema each one checks.

A dataset's annotation type decides what one record looks like. Four types exist:

``instruction`` (LLaMA-Factory's *alpaca* shape, seed 002 "指令微调")
    ``instruction`` (required, non-empty string), ``output`` (required string), ``input``
    (optional string), ``system`` (optional string), ``history`` (optional list of
    ``[query, answer]`` pairs of strings: the earlier turns of a multi-turn dialogue).

``qa`` (seed 002 "Q&A对": the six fields, spelled exactly as the seed spells them)
    ``Query`` (required, non-empty string: the question), ``Answer`` (required, non-empty
    string), ``text`` (optional string: the name of the source file), ``Match`` (optional
    string, number or boolean: how the query matched the source), ``File`` (optional string:
    where in the source the answer was found), ``Similar-Question`` (optional list of strings).
    Keys are case-sensitive; ``query`` or ``similar_question`` are reported with the right name.

``ranking`` (seed 002 "强化学习回复排序": RLHF reward-model data)
    ``prompt`` (required, non-empty string) and ``candidates``: a list of at least two
    objects, each with ``text`` (required, non-empty string) and the two annotations
    ``relevance_rank`` and ``safety_rank`` (1 = best). Each rank is optional, because the
    seed has records with no ranking yet ("无标注信息", "无相关度排序", "无安全度排序"), but
    within one record a rank is either absent on every candidate or present on every
    candidate as a permutation of 1..n, so the order is never ambiguous.

``sharegpt`` (LLaMA-Factory's conversation shape)
    ``conversations`` (or ``messages``): a non-empty list of turns, either all
    ``{"from", "value"}`` (roles ``human``, ``gpt``, ``observation``, ``function_call``,
    ``system``) or all ``{"role", "content"}`` (roles ``user``, ``assistant``, ``tool`` or
    ``observation``, ``function_call``, ``system``). As in LLaMA-Factory's converter, an
    optional system turn comes first, then turns alternate: odd turns are the user's (or a
    tool's observation), even turns the assistant's (or a function call), ending with the
    assistant. Optional top-level ``system`` (string) and ``tools`` (a JSON string, or a list
    or object that is encoded to one).

Fields a type does not know are ignored (LLaMA-Factory ignores extra columns too), unless the
name is a near miss of a known field (``Instruction``, ``ouput``, ``query``,
``Similar_Question``), which is an error naming the intended field: a typo would otherwise
silently drop the data.

Checks are written for speed (validation must run at 100 MB/s): each schema's ``check`` has a
fast path of inline type tests for the common valid record and only builds problem lists for
records that fail it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class AnnotationType(StrEnum):
    """The annotation types a dataset can be created with (D1)."""

    INSTRUCTION = "instruction"
    QA = "qa"
    RANKING = "ranking"
    SHAREGPT = "sharegpt"

    @classmethod
    def parse(cls, value: AnnotationType | str) -> AnnotationType:
        """Accept the enum or its name; ``alpaca`` is an alias of ``instruction``."""
        if isinstance(value, AnnotationType):
            return value
        name = str(value).strip().lower()
        if name in ("alpaca", "sft"):
            return cls.INSTRUCTION
        try:
            return cls(name)
        except ValueError:
            known = ", ".join(t.value for t in cls)
            raise ValueError(
                f"unknown annotation type {value!r}: use one of {known} (or 'alpaca')"
            ) from None


@dataclass(frozen=True)
class FieldProblem:
    """One thing wrong with a record: the field (a path such as ``candidates[1].text``,
    or None for the record as a whole) and a message saying what is wrong and how to fix it."""

    field: str | None
    message: str


Problems = list[FieldProblem]


def _norm_key(key: str) -> str:
    return key.lower().replace("-", "").replace("_", "").replace(" ", "")


def _within_one_edit(a: str, b: str) -> bool:
    """True when ``a`` and ``b`` differ by one insertion, deletion or substitution."""
    if a == b:
        return True
    la, lb = len(a), len(b)
    if abs(la - lb) > 1:
        return False
    if la > lb:
        a, b, la, lb = b, a, lb, la
    i = 0
    while i < la and a[i] == b[i]:
        i += 1
    if la == lb:
        return a[i + 1 :] == b[i + 1 :]
    return a[i:] == b[i + 1 :]


class _KeySet:
    """The known keys of one object shape, with a cache of near-miss lookups for unknown keys
    (datasets repeat the same wrong key on every record, so each is judged once)."""

    def __init__(self, keys: tuple[str, ...]) -> None:
        self.keys = keys
        self.known = frozenset(keys)
        self._cache: dict[str, str | None] = {}

    def near_miss(self, key: str) -> str | None:
        """The known key ``key`` was probably meant to be, or None."""
        try:
            return self._cache[key]
        except KeyError:
            pass
        found: str | None = None
        if isinstance(key, str) and key not in self.known:
            nk = _norm_key(key)
            for k in self.keys:
                if _norm_key(k) == nk or (len(k) >= 4 and _within_one_edit(nk, _norm_key(k))):
                    found = k
                    break
        if len(self._cache) < 10_000:
            self._cache[key] = found
        return found

    def unknown_key_problems(
        self, obj: dict[str, Any], prefix: str = ""
    ) -> tuple[Problems, set[str]]:
        """Problems for near-miss keys, and the set of known keys they stand in for."""
        problems: Problems = []
        meant: set[str] = set()
        for key in obj:
            if key in self.known:
                continue
            target = self.near_miss(key)
            if target is None:
                continue
            meant.add(target)
            if target in obj:
                fix = f"it duplicates {target!r}; remove or rename it"
            else:
                fix = f"rename it to {target!r}"
            problems.append(
                FieldProblem(
                    prefix + str(key),
                    f"unknown field {key!r}: did you mean {target!r}? Field names are "
                    f"case-sensitive and spelled exactly; {fix}",
                )
            )
        return problems, meant


def _type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _not_object(value: object) -> Problems:
    return [
        FieldProblem(
            None,
            f"the record is {_type_name(value)}, not an object: write each record as a JSON "
            'object such as {"field": "value", ...}',
        )
    ]


def _required_str(
    rec: dict[str, Any],
    field: str,
    problems: Problems,
    meant: set[str],
    *,
    non_empty: bool,
    what: str,
    prefix: str = "",
) -> None:
    name = prefix + field
    if field not in rec:
        if field not in meant:  # a near miss already says where the value went
            problems.append(
                FieldProblem(name, f"missing required field {field!r}: add it ({what})")
            )
        return
    value = rec[field]
    if type(value) is not str:
        problems.append(
            FieldProblem(
                name,
                f"{field!r} is {_type_name(value)} but must be a string ({what}); quote the value",
            )
        )
    elif non_empty and (not value or value.isspace()):
        problems.append(FieldProblem(name, f"{field!r} is empty: write {what}"))


def _optional_str(rec: dict[str, Any], field: str, problems: Problems, what: str) -> None:
    value = rec.get(field)
    if value is not None and type(value) is not str:
        problems.append(
            FieldProblem(
                field,
                f"{field!r} is {_type_name(value)} but must be a string ({what}) or left out",
            )
        )


@dataclass(frozen=True)
class RecordSchema:
    """How records of one annotation type are checked and normalised.

    ``check`` returns None for a valid record (the fast, common case) or the list of its
    problems. ``normalise`` turns a valid record into its canonical dict: every field of the
    type present (defaults filled in), unknown fields dropped. ``json_fields`` are the fields
    whose values are lists or objects: in CSV they are written as JSON-encoded cells.
    """

    annotation_type: AnnotationType
    fields: tuple[str, ...]
    check: Callable[[object], Problems | None]
    normalise: Callable[[dict[str, Any]], dict[str, Any]]
    json_fields: frozenset[str]


# ---------------------------------------------------------------------------------------------
# instruction (alpaca)

_INSTRUCTION_KEYS = _KeySet(("instruction", "input", "output", "system", "history"))
_INSTRUCTION_KNOWN = _INSTRUCTION_KEYS.known


def _check_instruction(rec: object) -> Problems | None:
    if type(rec) is dict:
        ins = rec.get("instruction")
        inp = rec.get("input")
        # Fast path: the plain alpaca record with no extras.
        if (
            type(ins) is str
            and type(rec.get("output")) is str
            and (inp is None or type(inp) is str)
            and "history" not in rec
            and "system" not in rec
            and ins
            and rec.keys() <= _INSTRUCTION_KNOWN
            and not ins.isspace()
        ):
            return None
    return _instruction_problems(rec) or None


def _instruction_problems(rec: object) -> Problems:
    if type(rec) is not dict:
        return _not_object(rec)
    problems, meant = _INSTRUCTION_KEYS.unknown_key_problems(rec)
    _required_str(
        rec, "instruction", problems, meant, non_empty=True, what="the task, a non-empty string"
    )
    _optional_str(rec, "input", problems, "the input the instruction works on")
    _required_str(rec, "output", problems, meant, non_empty=False, what="the expected answer")
    _optional_str(rec, "system", problems, "the system prompt")
    history = rec.get("history")
    if history is not None:
        if type(history) is not list:
            problems.append(
                FieldProblem(
                    "history",
                    f"'history' is {_type_name(history)} but must be a list of "
                    '[query, answer] pairs, e.g. [["Hi", "Hello!"]], or left out',
                )
            )
        else:
            for i, pair in enumerate(history):
                if not (
                    type(pair) is list
                    and len(pair) == 2
                    and type(pair[0]) is str
                    and type(pair[1]) is str
                ):
                    problems.append(
                        FieldProblem(
                            f"history[{i}]",
                            f"history[{i}] must be a pair of strings [query, answer], "
                            f"got {json.dumps(pair, ensure_ascii=False)[:80]}",
                        )
                    )
    return problems


def _normalise_instruction(rec: dict[str, Any]) -> dict[str, Any]:
    return {
        "instruction": rec["instruction"],
        "input": rec.get("input") or "",
        "output": rec["output"],
        "system": rec.get("system") or "",
        "history": [list(p) for p in rec.get("history") or ()],
    }


# ---------------------------------------------------------------------------------------------
# qa (seed 002's Q&A pairs)

_QA_KEYS = _KeySet(("text", "Query", "Answer", "Match", "File", "Similar-Question"))
_QA_KNOWN = _QA_KEYS.known


def _check_qa(rec: object) -> Problems | None:
    if type(rec) is dict:
        q = rec.get("Query")
        a = rec.get("Answer")
        if (
            type(q) is str
            and type(a) is str
            and q
            and a
            and type(rec.get("text", "")) is str
            and type(rec.get("File", "")) is str
            and "Similar-Question" not in rec
            and "Match" not in rec
            and rec.keys() <= _QA_KNOWN
            and not q.isspace()
            and not a.isspace()
        ):
            return None
    return _qa_problems(rec) or None


def _qa_problems(rec: object) -> Problems:
    if type(rec) is not dict:
        return _not_object(rec)
    problems, meant = _QA_KEYS.unknown_key_problems(rec)
    _optional_str(rec, "text", problems, "the name of the source file")
    _required_str(
        rec, "Query", problems, meant, non_empty=True, what="the question, a non-empty string"
    )
    _required_str(
        rec, "Answer", problems, meant, non_empty=True, what="the answer, a non-empty string"
    )
    match = rec.get("Match")
    if match is not None and not isinstance(match, str | int | float):
        problems.append(
            FieldProblem(
                "Match",
                f"'Match' is {_type_name(match)} but must be a string, number or boolean "
                "(how the query matched the source) or left out",
            )
        )
    _optional_str(rec, "File", problems, "where in the source the answer is")
    similar = rec.get("Similar-Question")
    if similar is not None:
        if type(similar) is not list:
            problems.append(
                FieldProblem(
                    "Similar-Question",
                    f"'Similar-Question' is {_type_name(similar)} but must be a list of "
                    'strings, e.g. ["How do I ...?"] (in CSV: a JSON-encoded cell)',
                )
            )
        else:
            for i, q in enumerate(similar):
                if type(q) is not str or not q or q.isspace():
                    problems.append(
                        FieldProblem(
                            f"Similar-Question[{i}]",
                            f"Similar-Question[{i}] is {_type_name(q) if q else 'empty'}: "
                            "each similar question must be a non-empty string",
                        )
                    )
    return problems


def _normalise_qa(rec: dict[str, Any]) -> dict[str, Any]:
    return {
        "text": rec.get("text") or "",
        "Query": rec["Query"],
        "Answer": rec["Answer"],
        "Match": rec.get("Match"),
        "File": rec.get("File") or "",
        "Similar-Question": list(rec.get("Similar-Question") or ()),
    }


# ---------------------------------------------------------------------------------------------
# ranking (RLHF reply ranking)

_RANKING_KEYS = _KeySet(("prompt", "candidates"))
_CANDIDATE_KEYS = _KeySet(("text", "relevance_rank", "safety_rank"))
RANK_FIELDS = ("relevance_rank", "safety_rank")


def _check_ranking(rec: object) -> Problems | None:
    # Ranking data is small (it is annotated by hand), so there is no separate fast path.
    return _ranking_problems(rec) or None


def _ranking_problems(rec: object) -> Problems:
    if type(rec) is not dict:
        return _not_object(rec)
    problems, meant = _RANKING_KEYS.unknown_key_problems(rec)
    _required_str(
        rec, "prompt", problems, meant, non_empty=True, what="the prompt, a non-empty string"
    )
    if "candidates" not in rec:
        if "candidates" not in meant:
            problems.append(
                FieldProblem(
                    "candidates",
                    "missing required field 'candidates': add a list of at least two "
                    'replies, e.g. [{"text": "..."}, {"text": "..."}]',
                )
            )
        return problems
    candidates = rec["candidates"]
    if type(candidates) is not list or len(candidates) < 2:
        got = f"a list of {len(candidates)}" if type(candidates) is list else _type_name(candidates)
        problems.append(
            FieldProblem(
                "candidates",
                f"'candidates' is {got} but must be a list of at least two replies to rank, "
                'e.g. [{"text": "..."}, {"text": "..."}]',
            )
        )
        return problems
    n = len(candidates)
    objects_ok = True
    for i, cand in enumerate(candidates):
        prefix = f"candidates[{i}]."
        if type(cand) is not dict:
            objects_ok = False
            problems.append(
                FieldProblem(
                    f"candidates[{i}]",
                    f"candidates[{i}] is {_type_name(cand)} but must be an object "
                    '{"text": ..., "relevance_rank": ..., "safety_rank": ...}',
                )
            )
            continue
        cproblems, cmeant = _CANDIDATE_KEYS.unknown_key_problems(cand, prefix)
        problems.extend(cproblems)
        _required_str(
            cand, "text", problems, cmeant, non_empty=True, what="the reply", prefix=prefix
        )
    if not objects_ok:
        return problems
    for rank_field in RANK_FIELDS:
        problems.extend(_rank_problems(candidates, rank_field, n))
    return problems


def _rank_problems(candidates: list[dict[str, Any]], rank_field: str, n: int) -> Problems:
    """A rank is absent on every candidate (not ranked yet) or a permutation of 1..n."""
    values = [c.get(rank_field) for c in candidates]
    if all(v is None for v in values):
        return []
    problems: Problems = []
    seen: dict[int, int] = {}
    for i, v in enumerate(values):
        name = f"candidates[{i}].{rank_field}"
        if v is None:
            problems.append(
                FieldProblem(
                    name,
                    f"{rank_field} is missing on candidates[{i}] but set on others: rank every "
                    f"candidate 1..{n} or none of them",
                )
            )
        elif type(v) is not int or not 1 <= v <= n:
            problems.append(
                FieldProblem(
                    name,
                    f"{rank_field} is {json.dumps(v, ensure_ascii=False)} but must be a whole "
                    f"number from 1 (best) to {n} (the number of candidates)",
                )
            )
        elif v in seen:
            problems.append(
                FieldProblem(
                    name,
                    f"{rank_field} {v} is also given to candidates[{seen[v]}]: each rank "
                    f"1..{n} must be used exactly once",
                )
            )
        else:
            seen[v] = i
    return problems


def _normalise_ranking(rec: dict[str, Any]) -> dict[str, Any]:
    return {
        "prompt": rec["prompt"],
        "candidates": [
            {
                "text": c["text"],
                "relevance_rank": c.get("relevance_rank"),
                "safety_rank": c.get("safety_rank"),
            }
            for c in rec["candidates"]
        ],
    }


# ---------------------------------------------------------------------------------------------
# sharegpt (conversations)

_SHAREGPT_KEYS = _KeySet(("conversations", "messages", "system", "tools"))

# Per tag style: the message keys, and role name -> canonical role. Canonical roles follow
# LLaMA-Factory's internal ones (user, assistant, observation, function, system).
_STYLES: dict[str, tuple[str, str, dict[str, str]]] = {
    "from": (
        "from",
        "value",
        {
            "human": "user",
            "gpt": "assistant",
            "observation": "observation",
            "function_call": "function",
            "system": "system",
        },
    ),
    "role": (
        "role",
        "content",
        {
            "user": "user",
            "assistant": "assistant",
            "tool": "observation",
            "observation": "observation",
            "function_call": "function",
            "system": "system",
        },
    ),
}
_ODD = frozenset(("user", "observation"))  # turns 1, 3, 5, ...: the user's side
_EVEN = frozenset(("assistant", "function"))  # turns 2, 4, 6, ...: the assistant's side


def _check_sharegpt(rec: object) -> Problems | None:
    if type(rec) is dict and rec.keys() <= _SHAREGPT_KEYS.known:
        turns = rec.get("conversations")
        if turns is None:
            turns = rec.get("messages")
        # Fast path: from/value turns that alternate human/gpt with no system or tool turns.
        if type(turns) is list and turns and len(turns) % 2 == 0 and "tools" not in rec:
            system = rec.get("system")
            if (system is None or type(system) is str) and ("messages" in rec) != (
                "conversations" in rec
            ):
                expect = "human"
                for t in turns:
                    if (
                        type(t) is not dict
                        or len(t) != 2
                        or t.get("from") != expect
                        or type(t.get("value")) is not str
                    ):
                        break
                    expect = "gpt" if expect == "human" else "human"
                else:
                    return None
    return _sharegpt_problems(rec) or None


def _sharegpt_turns(rec: dict[str, Any]) -> tuple[str, Any]:
    key = "conversations" if "conversations" in rec else "messages"
    return key, rec.get(key)


def _sharegpt_problems(rec: object) -> Problems:
    if type(rec) is not dict:
        return _not_object(rec)
    problems, meant = _SHAREGPT_KEYS.unknown_key_problems(rec)
    _optional_str(rec, "system", problems, "the system prompt")
    tools = rec.get("tools")
    if tools is not None and not isinstance(tools, str | list | dict):
        problems.append(
            FieldProblem(
                "tools",
                f"'tools' is {_type_name(tools)} but must be the tool descriptions as a JSON "
                "string (or a list of tool objects) or left out",
            )
        )
    if "conversations" in rec and "messages" in rec:
        problems.append(
            FieldProblem(
                "messages",
                "the record has both 'conversations' and 'messages': keep one of them",
            )
        )
        return problems
    if "conversations" not in rec and "messages" not in rec:
        if not meant & {"conversations", "messages"}:
            problems.append(
                FieldProblem(
                    "conversations",
                    "missing required field 'conversations' (or 'messages'): add the list "
                    'of turns, e.g. [{"from": "human", "value": "Hi"}, '
                    '{"from": "gpt", "value": "Hello!"}]',
                )
            )
        return problems
    key, turns = _sharegpt_turns(rec)
    if type(turns) is not list or not turns:
        problems.append(
            FieldProblem(
                key,
                f"{key!r} is {_type_name(turns) if turns else 'empty'} but must be a "
                "non-empty list of turns alternating user and assistant",
            )
        )
        return problems
    first = turns[0]
    style = "role" if type(first) is dict and "role" in first and "from" not in first else "from"
    role_key, content_key, roles = _STYLES[style]
    user_name, assistant_name = ("human", "gpt") if style == "from" else ("user", "assistant")
    position = 0  # index among the non-system turns
    for i, turn in enumerate(turns):
        name = f"{key}[{i}]"
        if type(turn) is not dict:
            problems.append(
                FieldProblem(
                    name,
                    f"{name} is {_type_name(turn)} but must be an object "
                    f'{{"{role_key}": ..., "{content_key}": ...}}',
                )
            )
            return problems
        role_name = turn.get(role_key)
        content = turn.get(content_key)
        if role_key not in turn:
            problems.append(
                FieldProblem(
                    f"{name}.{role_key}",
                    f"{name} has no {role_key!r}: every turn of this conversation must use "
                    f"the same keys as the first, {role_key!r} and {content_key!r}",
                )
            )
            return problems
        if type(content) is not str:
            problems.append(
                FieldProblem(
                    f"{name}.{content_key}",
                    f"{name}.{content_key} is {_type_name(content)} but must be the text of "
                    "the turn, a string",
                )
            )
        role = roles.get(role_name) if type(role_name) is str else None
        if role is None:
            problems.append(
                FieldProblem(
                    f"{name}.{role_key}",
                    f"{name}.{role_key} is {json.dumps(role_name, ensure_ascii=False)}, not a "
                    f"known role: use one of {', '.join(roles)}",
                )
            )
            return problems
        if role == "system":
            if i != 0:
                problems.append(
                    FieldProblem(
                        f"{name}.{role_key}",
                        f"a {role_name!r} turn may only be the first turn: move it to the "
                        "start or into the record's 'system' field",
                    )
                )
                return problems
            continue
        expected = _ODD if position % 2 == 0 else _EVEN
        if role not in expected:
            side = (
                f"the user's ({user_name!r} or an observation)"
                if position % 2 == 0
                else f"the assistant's ({assistant_name!r} or 'function_call')"
            )
            problems.append(
                FieldProblem(
                    f"{name}.{role_key}",
                    f"{name}.{role_key} is {role_name!r} but this turn must be {side}: turns "
                    f"must alternate {user_name} / {assistant_name}, starting with "
                    f"{user_name}",
                )
            )
            return problems
        position += 1
    if position == 0:
        problems.append(
            FieldProblem(key, f"{key!r} has only a system turn: add the dialogue turns")
        )
    elif position % 2:
        problems.append(
            FieldProblem(
                key,
                f"the conversation ends with a {user_name} turn: it must end with an "
                f"{assistant_name} turn; add the answer or remove the last turn",
            )
        )
    return problems


def _normalise_sharegpt(rec: dict[str, Any]) -> dict[str, Any]:
    _, turns = _sharegpt_turns(rec)
    style = "role" if "role" in turns[0] and "from" not in turns[0] else "from"
    role_key, content_key, roles = _STYLES[style]
    system = rec.get("system") or ""
    messages = []
    for turn in turns:
        role = roles[turn[role_key]]
        if role == "system":
            system = turn[content_key]
            continue
        messages.append({"role": role, "content": turn[content_key]})
    tools = rec.get("tools") or ""
    if not isinstance(tools, str):
        tools = json.dumps(tools, ensure_ascii=False)
    return {"messages": messages, "system": system, "tools": tools}


SCHEMAS: dict[AnnotationType, RecordSchema] = {
    AnnotationType.INSTRUCTION: RecordSchema(
        AnnotationType.INSTRUCTION,
        _INSTRUCTION_KEYS.keys,
        _check_instruction,
        _normalise_instruction,
        frozenset({"history"}),
    ),
    AnnotationType.QA: RecordSchema(
        AnnotationType.QA,
        _QA_KEYS.keys,
        _check_qa,
        _normalise_qa,
        frozenset({"Similar-Question"}),
    ),
    AnnotationType.RANKING: RecordSchema(
        AnnotationType.RANKING,
        _RANKING_KEYS.keys,
        _check_ranking,
        _normalise_ranking,
        frozenset({"candidates"}),
    ),
    AnnotationType.SHAREGPT: RecordSchema(
        AnnotationType.SHAREGPT,
        _SHAREGPT_KEYS.keys,
        _check_sharegpt,
        _normalise_sharegpt,
        frozenset({"conversations", "messages", "tools"}),
    ),
}


def schema_for(annotation_type: AnnotationType | str) -> RecordSchema:
    """The record schema of an annotation type (name or enum; ``alpaca`` = ``instruction``)."""
    return SCHEMAS[AnnotationType.parse(annotation_type)]
