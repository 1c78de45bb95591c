"""A deliberately small subset of the ECS cluster query language, for ListContainerInstances(filter=...).

Supported (case-insensitive `and`; tokens separated by whitespace; values without spaces):

    attribute:NAME exists
    attribute:NAME == VALUE        instance has NAME with exactly VALUE
    attribute:NAME != VALUE        instance lacks NAME or has another value
    ec2InstanceId == ID            (also !=)
    ec2InstanceId in [ID, ...]     (also !in); IDs bare or in single quotes: [mi-1, mi-2] or ['mi-1', 'mi-2']
    agentConnected == true|false
    EXPR and EXPR ...

Anything else raises QueryError so a test can never pass because a filter was silently ignored.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

_NAME_RE = re.compile(r"[A-Za-z0-9\-_/.]{1,128}")
# A bracketed list is one token, whatever spaces it holds; anything else is separated by whitespace.
_TOKEN_RE = re.compile(r"\[[^\]]*\]|[^\s\[\]]+|[\[\]]")
_LIST_ITEM_RE = re.compile(r"'([^',]+)'|([^',\s]+)")


class QueryError(ValueError):
    pass


@dataclass(frozen=True)
class Candidate:
    """What an expression can see of a container instance."""

    ec2_instance_id: str
    attributes: dict[str, str | None]
    agent_connected: bool


Predicate = Callable[[Candidate], bool]


def _clause(tokens: list[str]) -> Predicate:
    if len(tokens) == 2 and tokens[0].lower().startswith("attribute:") and tokens[1].lower() == "exists":
        name = _attribute_name(tokens[0])
        return lambda c: name in c.attributes
    if len(tokens) == 3 and tokens[0] == "ec2InstanceId" and tokens[1] in ("in", "!in", "not_in"):
        wanted = _id_list(tokens[2])
        negate = tokens[1] != "in"
        return lambda c: (c.ec2_instance_id in wanted) != negate
    if len(tokens) != 3 or tokens[1] not in ("==", "!="):
        raise QueryError(f"Unsupported expression: {' '.join(tokens)!r}")
    subject, operator, value = tokens
    negate = operator == "!="
    if subject.lower().startswith("attribute:"):
        name = _attribute_name(subject)
        return lambda c: (c.attributes.get(name, None) == value and name in c.attributes) != negate
    if subject == "ec2InstanceId":
        return lambda c: (c.ec2_instance_id == value) != negate
    if subject == "agentConnected":
        if value not in ("true", "false"):
            raise QueryError("agentConnected compares with true or false")
        wanted = value == "true"
        return lambda c: (c.agent_connected == wanted) != negate
    raise QueryError(f"Unsupported field {subject!r}")


def _id_list(token: str) -> frozenset[str]:
    if not (token.startswith("[") and token.endswith("]")):
        raise QueryError(f"Expected a bracketed list after 'in', got {token!r}")
    items = [item.strip() for item in token[1:-1].split(",")]
    ids = []
    for item in items:
        match = _LIST_ITEM_RE.fullmatch(item)
        if not match:
            raise QueryError(f"Invalid list item {item!r} in {token!r}")
        ids.append(match.group(1) or match.group(2))
    return frozenset(ids)


def _attribute_name(token: str) -> str:
    name = token.split(":", 1)[1]
    if not _NAME_RE.fullmatch(name):
        raise QueryError(f"Invalid attribute name {name!r}")
    return name


def parse(expression: str) -> Predicate:
    """Compile `expression` to a predicate; raises QueryError for anything outside the subset."""
    if not isinstance(expression, str) or not expression.strip():
        raise QueryError("Filter expression must be a non-empty string")
    if len(expression) > 1024:
        raise QueryError("Filter expression is longer than 1024 characters")
    clauses: list[list[str]] = [[]]
    for token in _TOKEN_RE.findall(expression):
        if token.lower() == "and":
            clauses.append([])
        else:
            clauses[-1].append(token)
    if any(not clause for clause in clauses):
        raise QueryError("Dangling 'and' in filter expression")
    predicates = [_clause(clause) for clause in clauses]
    return lambda c: all(pred(c) for pred in predicates)
