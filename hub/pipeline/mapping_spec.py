"""The shape of a declarative mapping file (``mappings/<adapter>/*.yaml``), as pydantic models.

Read through :func:`lienthong.config.files.read_yaml_file`, so a misspelt key or a value of the wrong
kind is reported at the mapping file's line, with the allowed keys, as configuration files are.
docs/mappings.md is the language reference; these models are what it describes.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, model_validator

from lienthong.pipeline.mapping_formats import NumberStyle

__all__ = [
    "CodeFile",
    "CodeList",
    "DateSpec",
    "FieldSpec",
    "MappingFile",
    "NumberSpec",
    "SourceSpec",
    "TargetSpec",
]

#: The message's context, available as ``param:`` and as XPath variables ($message_id, ...).
PARAMS = ("message_id", "sender", "hub_agency", "target_agency")
Param = Literal["message_id", "sender", "hub_agency", "target_agency"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceSpec(_Strict):
    format: Literal["xml", "json"] = Field(
        default="xml", description="xml: paths are XPath 1.0; json: paths are dotted keys (a.b[].c)."
    )
    root: str | None = Field(
        default=None, description="The source's root element (prefix:name); another root is refused."
    )
    namespaces: dict[str, str] = Field(default_factory=dict, description="Prefixes for source XPaths.")


class TargetSpec(_Strict):
    format: Literal["xml", "json"] = "xml"
    root: str | None = Field(default=None, description="The output's root element (prefix:name); xml only.")
    namespaces: dict[str, str] = Field(default_factory=dict, description="Prefixes for target names.")

    @model_validator(mode="after")
    def _root_for_xml(self) -> TargetSpec:
        if self.format == "xml" and not self.root:
            raise ValueError("an xml target needs 'root' (the element the mapping produces)")
        if self.format == "json" and self.root:
            raise ValueError("a json target has no 'root': it is an object of 'fields'")
        return self


class CodeList(_Strict):
    values: dict[str | int, str | int] | None = None
    file: str | None = Field(default=None, description="A YAML file of code: value, beside the mapping.")
    default: str | int | None = Field(default=None, description="For a value not in the list.")

    @model_validator(mode="after")
    def _one_source(self) -> CodeList:
        if (self.values is None) == (self.file is None):
            raise ValueError("a code list has either 'values' or 'file'")
        return self


class DateSpec(_Strict):
    from_: str = Field(alias="from", description="Java-style pattern of the source value, or 'iso'.")
    to: str = Field(description="Java-style pattern to write, or 'iso' (yyyy-MM-dd'T'HH:mm:ssXXX).")
    tz: str = Field(default="Asia/Ho_Chi_Minh", description="Zone of values without an offset.")


class NumberSpec(_Strict):
    from_: NumberStyle = Field(default="plain", alias="from")
    to: NumberStyle = "plain"
    decimals: int | None = Field(default=None, ge=0, le=12)


class FieldSpec(_Strict):
    """One output field: a value, a group of fields, or a repeated group (``for_each``)."""

    path: str | None = None
    xpath: str | None = None
    const: str | int | float | bool | None = None
    param: Param | None = None
    template: str | None = None
    for_each: str | None = None
    fields: dict[str, FieldSpec] | None = None
    value: FieldSpec | None = None
    when: str | None = None
    required: bool | None = None
    default: str | int | float | None = None
    space: Literal["normalize", "trim", "preserve"] = "normalize"
    lookup: str | None = None
    date: DateSpec | None = None
    number: NumberSpec | None = None
    type: Literal["string", "number", "boolean"] | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, given: object) -> object:
        """``Name: h:Path`` is ``Name: {path: h:Path}``."""
        return {"path": given} if isinstance(given, str) else given

    @model_validator(mode="after")
    def _one_kind(self) -> FieldSpec:
        sources = [k for k in ("path", "xpath", "const", "param", "template") if getattr(self, k) is not None]
        if len(sources) > 1:
            raise ValueError(f"a field takes its value from one place, not {' and '.join(sources)}")
        if self.fields is not None and (sources or self.value is not None):
            raise ValueError("a field with 'fields' is a group: it has no value of its own")
        if self.value is not None and self.for_each is None:
            raise ValueError("'value' is the value of each item of a 'for_each'")
        if self.for_each is not None and sources:
            raise ValueError("a 'for_each' writes 'fields' or a 'value' for each item, not a value itself")
        if self.fields is None and self.value is None and not sources:
            raise ValueError("a field needs a value (path, xpath, const, param, template) or 'fields'")
        return self


#: A code list in full (values or file, and a default) or as a plain mapping of code to value.
_CodeListGiven = Annotated[CodeList | dict[str | int, str | int], Field(union_mode="left_to_right")]


class MappingFile(_Strict):
    source: SourceSpec = Field(default_factory=SourceSpec)
    target: TargetSpec
    codelists: dict[str, _CodeListGiven] = Field(default_factory=dict)
    fields: dict[str, FieldSpec]


class CodeFile(RootModel[dict[str | int, str | int]]):
    """A code list kept in a file of its own: ``code: value`` lines."""
