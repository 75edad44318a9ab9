"""Renders a CloudFormation template with parameter values the way CloudFormation does, so tests
see what a stack really gets rather than the template's intrinsics.

Invariants (each is CloudFormation's documented behaviour, and what the tests rely on):
- a `Ref` to a parameter is the parameter's value as a *string*, whatever its `Type`
  (`Number` included), and a `Fn::Sub` of it is text; a `CommaDelimitedList`'s is the list
  of its comma-separated parts (`[""]` for an empty value);
- parameter values are checked as CloudFormation checks them (AllowedValues, AllowedPattern,
  MinLength/MaxLength, MinValue/MaxValue, a Number must parse): a bad value raises
  `InvalidParameter` naming it;
- the template's `Rules` are checked before anything is rendered: a failed assertion raises
  `RuleFailed` with its AssertDescription, as CloudFormation refuses the stack;
- conditions are evaluated once; a resource or output whose `Condition` is false is absent;
- `Fn::If` picks one branch; `Ref: AWS::NoValue` removes the key or list item that holds it;
- literals (numbers, booleans) stay what the template wrote: only intrinsics turn into strings.

Intrinsics the templates use are rendered: Ref, Fn::If, Fn::Equals/Not/And/Or, Condition,
Fn::Sub, Fn::FindInMap, Fn::GetAtt, Fn::Join, Fn::Select, Fn::Split. A resource's `Ref` and `GetAtt` are
placeholders naming it (`<Logical>`, `arn:<partition>:...:<Logical>`), as the real value is only
known once deployed.
"""

import re

NO_VALUE = object()
PSEUDO = {
    "AWS::AccountId": "123456789012",
    "AWS::Region": "us-east-1",
    "AWS::Partition": "aws",
    "AWS::StackName": "guardduty-forwarder",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/guardduty-forwarder/0",
}


class InvalidParameter(ValueError):
    """A parameter value CloudFormation would refuse; the message names the parameter."""


class RuleFailed(ValueError):
    """A rule's assertion does not hold for these parameters; the message is its description."""


class UnsupportedIntrinsic(ValueError):
    """The template uses an intrinsic this renderer does not know."""


def parameter_values(template, given):
    """Every parameter's value as a string (given, else its Default), checked as CloudFormation does."""
    values = {}
    for name, spec in template.get("Parameters", {}).items():
        if name in given:
            value = str(given[name])
        elif "Default" in spec:
            value = str(spec["Default"])
        else:
            raise InvalidParameter(f"{name}: no value and no default")
        check_parameter(name, spec, value)
        values[name] = value
    unknown = set(given) - set(values)
    if unknown:
        raise InvalidParameter(f"unknown parameters {sorted(unknown)}")
    return values


def check_parameter(name, spec, value):
    allowed = spec.get("AllowedValues")
    if allowed is not None and value not in [str(a) for a in allowed]:
        raise InvalidParameter(f"{name}: {value!r} is not one of {allowed}")
    pattern = spec.get("AllowedPattern")
    if pattern is not None and not re.fullmatch(pattern, value):
        raise InvalidParameter(f"{name}: {value!r} does not match {pattern}")
    if "MinLength" in spec and len(value) < int(spec["MinLength"]):
        raise InvalidParameter(f"{name}: shorter than {spec['MinLength']}")
    if "MaxLength" in spec and len(value) > int(spec["MaxLength"]):
        raise InvalidParameter(f"{name}: longer than {spec['MaxLength']}")
    if spec.get("Type") == "Number":
        try:
            number = float(value)
        except ValueError:
            raise InvalidParameter(f"{name}: {value!r} is not a number") from None
        if "MinValue" in spec and number < float(spec["MinValue"]):
            raise InvalidParameter(f"{name}: {value} is below {spec['MinValue']}")
        if "MaxValue" in spec and number > float(spec["MaxValue"]):
            raise InvalidParameter(f"{name}: {value} is above {spec['MaxValue']}")


class Renderer:
    def __init__(self, template, given=None, pseudo=None):
        self.template = template
        self.params = parameter_values(template, given or {})
        self.pseudo = dict(PSEUDO, **(pseudo or {}))
        self.conditions = {}
        self.check_rules()
        for name in template.get("Conditions", {}):
            self.condition(name)

    def check_rules(self):
        for name, rule in self.template.get("Rules", {}).items():
            if "RuleCondition" in rule and not self.value(rule["RuleCondition"]):
                continue
            for assertion in rule["Assertions"]:
                if not self.value(assertion["Assert"]):
                    raise RuleFailed(f"{name}: {assertion.get('AssertDescription', 'assertion failed')}")

    def condition(self, name):
        if name not in self.conditions:
            self.conditions[name] = bool(self.value(self.template["Conditions"][name]))
        return self.conditions[name]

    def render(self):
        """The template's resources and outputs as the stack would get them."""
        out = {}
        for section in ("Resources", "Outputs"):
            out[section] = {
                logical: self.value(body)
                for logical, body in self.template.get(section, {}).items()
                if "Condition" not in body or self.condition(body["Condition"])
            }
        return out

    def value(self, node):
        if isinstance(node, list):
            items = [self.value(n) for n in node]
            return [i for i in items if i is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, arg), = node.items()
            if key == "Ref" or key.startswith("Fn::") or key == "Condition":
                return self.intrinsic(key, arg)
        rendered = {k: self.value(v) for k, v in node.items()}
        return {k: v for k, v in rendered.items() if v is not NO_VALUE}

    def intrinsic(self, key, arg):
        if key == "Ref":
            return self.ref(arg)
        if key == "Condition":
            return self.condition(arg)
        if key == "Fn::If":
            name, yes, no = arg
            return self.value(yes if self.condition(name) else no)
        if key == "Fn::Equals":
            a, b = (self.value(x) for x in arg)
            return str(a) == str(b)
        if key == "Fn::Not":
            return not self.value(arg[0])
        if key == "Fn::And":
            return all(self.value(a) for a in arg)
        if key == "Fn::Or":
            return any(self.value(a) for a in arg)
        if key == "Fn::Sub":
            return self.sub(arg)
        if key == "Fn::FindInMap":
            m, k1, k2 = (self.value(a) for a in arg)
            return self.template["Mappings"][m][k1][k2]
        if key == "Fn::GetAtt":
            logical, attr = arg.split(".", 1) if isinstance(arg, str) else arg
            return self.get_att(logical, attr)
        if key == "Fn::Join":
            sep, items = arg
            return sep.join(str(i) for i in self.value(items))
        if key == "Fn::Select":
            index, items = arg
            return self.value(items)[int(self.value(index))]
        if key == "Fn::Split":
            sep, text = arg
            return str(self.value(text)).split(sep)
        raise UnsupportedIntrinsic(key)

    def ref(self, name):
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.params:
            spec = self.template.get("Parameters", {}).get(name, {})
            if spec.get("Type") == "CommaDelimitedList":
                return self.params[name].split(",")
            return self.params[name]
        if name in self.template.get("Resources", {}):
            return f"<{name}>"
        raise UnsupportedIntrinsic(f"Ref to unknown {name}")

    def get_att(self, logical, attr):
        if logical not in self.template.get("Resources", {}):
            raise UnsupportedIntrinsic(f"GetAtt of unknown resource {logical}")
        kind = self.template["Resources"][logical]["Type"].split("::")[1].lower()
        return f"arn:{self.pseudo['AWS::Partition']}:{kind}:{self.pseudo['AWS::Region']}:{self.pseudo['AWS::AccountId']}:<{logical}.{attr}>"

    def sub(self, arg):
        text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], {k: self.value(v) for k, v in arg[1].items()})

        def one(m):
            name = m.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in extra:
                return str(extra[name])
            if "." in name:
                return str(self.get_att(*name.split(".", 1)))
            return str(self.ref(name))

        return re.sub(r"\$\{([^}]+)\}", one, text)


def render(template, given=None, pseudo=None):
    return Renderer(template, given, pseudo).render()


def load(path):
    """A template file as data; CloudFormation's short tags (!Ref, !If, ...) become their long
    form ({"Ref": ..}, {"Fn::If": ..}), as CloudFormation reads them."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    def tag(loader, suffix, node):
        if isinstance(node, yaml.ScalarNode):
            value = loader.construct_scalar(node)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        if suffix in ("Ref", "Condition"):
            return {suffix: value}
        if suffix == "GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
        return {f"Fn::{suffix}": value}

    Loader.add_multi_constructor("!", tag)
    with open(path) as f:
        return yaml.load(f, Loader=Loader)
