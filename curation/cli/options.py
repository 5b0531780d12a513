"""A command's options built from a config model (curation.stage.StageConfig): one flag per
field, ``--max-chars`` for ``max_chars``, its help the field's description and its default the
model's (the command sets none of its own, so an option left out means the model's default).

Lists take commas or repeats (``--k 1000,100,10``, ``--eps 0.01 --eps 0.05``), a list of
mappings a file (``--phases phases.yaml``), a ``Literal`` is a choice, a bool a flag pair
(``--spherical/--no-spherical``).
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass

import click
from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticUndefined

from curation.errors import UserError, describe


@dataclass(frozen=True)
class FieldOption:
    field: str
    flag: str  # --max-chars
    parameter: str  # the click parameter's name, e.g. max_chars or semantic_keep

    def value(self, given):
        """What the model is given: a list from commas and repeats; None for not given."""
        if isinstance(given, tuple):
            items = [item.strip() for value in given for item in value.split(",") if item.strip()]
            return items or None
        return given


def field_options(model: type[BaseModel], exclude: tuple[str, ...] = (), prefixed: tuple[str, ...] = (),
                  prefix: str = "", flags: dict[str, str] | None = None) -> list[FieldOption]:
    """The options of ``model``'s fields but ``exclude``; those in ``prefixed`` take ``prefix``
    (``curate dedup``'s --fuzzy-keep beside --semantic-keep); ``flags`` renames (score's --as)."""
    options = []
    for name in model.model_fields:
        if name in exclude:
            continue
        stem = f"{prefix}{name}" if name in prefixed else name
        flag = (flags or {}).get(name, "--" + stem.replace("_", "-"))
        options.append(FieldOption(name, flag, stem.replace("-", "_")))
    return options


def decorate(command, model: type[BaseModel], options: list[FieldOption]):
    for option in reversed(options):
        command = click_option(model, option)(command)
    return command


def decorate_with(model: type[BaseModel], options: list[FieldOption]):
    """``decorate`` as a decorator: ``@decorate_with(IngestConfig, options)``."""
    return lambda command: decorate(command, model, options)


def click_option(model: type[BaseModel], option: FieldOption):
    info = model.model_fields[option.field]
    annotation = _without_none(info.annotation)
    default = info.get_default(call_default_factory=True)
    shown = "" if default is PydanticUndefined or default in (None, (), []) else f" [default: {_shown(default)}]"
    help_text = (info.description or "") + shown
    if annotation is bool:
        stem = option.flag.removeprefix("--")
        return click.option(f"--{stem}/--no-{stem}", option.parameter, default=None, help=help_text)
    if typing.get_origin(annotation) is typing.Literal:
        return click.option(option.flag, option.parameter, type=click.Choice(typing.get_args(annotation)),
                            default=None, help=help_text)
    if typing.get_origin(annotation) in (tuple, list) and _of_records(annotation):  # e.g. a mixture's phases
        return click.option(option.flag, option.parameter, type=click.Path(), default=None,
                            help=help_text + " On the command line: a YAML/JSON file.")
    if typing.get_origin(annotation) in (tuple, list):
        return click.option(option.flag, option.parameter, multiple=True, default=(),
                            help=help_text + " Comma-separated or repeated.")
    kind = annotation if annotation in (int, float, str) else str
    return click.option(option.flag, option.parameter, type=kind, default=None, help=help_text,
                        required=info.is_required())


def _of_records(annotation) -> bool:
    items = typing.get_args(annotation)
    return bool(items) and isinstance(items[0], type) and issubclass(items[0], BaseModel)


def _without_none(annotation):
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        rest = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        return rest[0] if len(rest) == 1 else annotation
    return annotation


def _shown(default) -> str:
    return ",".join(str(v) for v in default) if isinstance(default, (tuple, list)) else str(default)


def given(options: list[FieldOption], values: dict) -> dict:
    """The fields the user gave on the command line, ready for the model."""
    fields = {option.field: option.value(values.get(option.parameter)) for option in options}
    return {field: value for field, value in fields.items() if value is not None}


def build(model: type[BaseModel], options: list[FieldOption], fields: dict):
    """``model(**fields)``; a bad value is one line naming the flag the user typed."""
    flags = {option.field: option.flag for option in options}
    try:
        return model.model_validate(fields)
    except ValidationError as error:
        raise UserError(describe(error, lambda loc: flags.get(loc[0], ".".join(map(str, loc))) if loc else "")) from None
