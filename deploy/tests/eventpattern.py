"""EventBridge event patterns: the rules EventBridge checks when a rule is created, and matching.

No matcher on PyPI checks numeric operands as EventBridge does (the `event-ruler` package
wraps quamina, which has no `numeric` at all), so `validate` restates the rules of AWS's
open-source matcher, aws/event-ruler (`JsonRuleCompiler`), that decide whether
`PutRule` accepts a pattern:

- every field's value is an object (a nested pattern) or a non-empty array of matchers;
- a matcher is a string, a number, a boolean, null, or an object with exactly one known
  operator (prefix, suffix, anything-but, numeric, exists, cidr, equals-ignore-case, wildcard);
- `numeric` is an array: `["=", N]`, or a lower bound (`>`/`>=`) and/or an upper bound
  (`<`/`<=`), lower first; every N is a JSON *number* (a string such as "4" is refused with
  "Value of >= must be numeric", which is what a `Ref` to a Number parameter renders to) in
  EventBridge's range -5e9..5e9.

Matching uses moto's implementation of EventBridge patterns (`moto.events.models.EventPattern`),
after `validate` has accepted the pattern.
"""

import json
import numbers

OPERATORS = {"prefix", "suffix", "anything-but", "numeric", "exists", "cidr", "equals-ignore-case", "wildcard"}
LOWER = {">", ">="}
UPPER = {"<", "<="}
LIMIT = 5e9


class InvalidPattern(ValueError):
    """EventBridge would refuse the pattern; the message says where and why."""


def is_number(v):
    return isinstance(v, numbers.Number) and not isinstance(v, bool)


def validate(pattern, path="pattern"):
    if not isinstance(pattern, dict) or not pattern:
        raise InvalidPattern(f"{path}: must be a non-empty object")
    for key, value in pattern.items():
        where = f"{path}.{key}"
        if key == "$or":
            if not isinstance(value, list) or len(value) < 2:
                raise InvalidPattern(f"{where}: $or needs at least two patterns")
            for i, alt in enumerate(value):
                validate(alt, f"{where}[{i}]")
        elif isinstance(value, dict):
            validate(value, where)
        elif isinstance(value, list):
            if not value:
                raise InvalidPattern(f"{where}: empty arrays are not allowed")
            for matcher in value:
                validate_matcher(matcher, where)
        else:
            raise InvalidPattern(f"{where}: must be an object or an array, not {json.dumps(value)}")


def validate_matcher(matcher, where):
    if matcher is None or isinstance(matcher, (str, bool)) or is_number(matcher):
        return
    if not isinstance(matcher, dict) or len(matcher) != 1:
        raise InvalidPattern(f"{where}: a matcher object has exactly one operator, got {json.dumps(matcher)}")
    (op, arg), = matcher.items()
    if op not in OPERATORS:
        raise InvalidPattern(f"{where}: unrecognized match type {op}")
    if op == "numeric":
        validate_numeric(arg, where)
    elif op == "exists" and not isinstance(arg, bool):
        raise InvalidPattern(f"{where}: exists takes true or false")


def validate_numeric(arg, where):
    if not isinstance(arg, list) or len(arg) not in (2, 4):
        raise InvalidPattern(f"{where}: numeric takes an operator and a number, or two of each")
    for op, number in zip(arg[::2], arg[1::2]):
        if op not in LOWER | UPPER | {"="}:
            raise InvalidPattern(f"{where}: unrecognized numeric range operator {json.dumps(op)}")
        if not is_number(number):
            raise InvalidPattern(f"{where}: Value of {op} must be numeric, got {json.dumps(number)}")
        if not -LIMIT <= number <= LIMIT:
            raise InvalidPattern(f"{where}: {number} is outside EventBridge's numeric range")
    ops = arg[::2]
    if len(ops) == 2 and not (ops[0] in LOWER and ops[1] in UPPER):
        raise InvalidPattern(f"{where}: a numeric range is a lower bound then an upper bound, got {ops}")
    if len(ops) == 2 and arg[1] >= arg[3]:
        raise InvalidPattern(f"{where}: the numeric range's bottom must be below its top")


def matches(pattern, event):
    """Whether EventBridge would deliver `event` to a rule with `pattern` (validated first)."""
    validate(pattern)
    from moto.events.models import EventPattern

    return EventPattern.load(json.dumps(pattern)).matches_event(event)
