"""Typed events: ``class CartAdded(Event, name="shop/cart.added"): cart_id: str``.

The fields declared in the class body are the event's *data*. When the class
is made they move into a Pydantic model of their own (``CartAdded.data_model``,
with the body's validators, ``model_config`` and methods), so the event class
itself only holds the envelope every event has:

* ``name``  the event name (a class attribute, from the ``name=`` keyword)
* ``data``  an instance of the data model (typed: ``ev.data.cart_id`` is a str)
* ``id``    a UUIDv7 string, made here unless given
* ``ts``    milliseconds since the epoch, now unless given
* ``user``  optional map of scalars
* ``v``     optional version string (default: the ``version=`` class keyword)

For type checkers ``ev.data`` is the event class itself (``Self``), whose body
declares exactly the data fields, so ``ev.data.cart_id`` type-checks as
``str``; ``ev.cart_id`` works too and reads ``ev.data.cart_id``. A data field
named like an envelope attribute (``id``, ``ts``, ``user``, ``v``, ``name``)
is only reachable as ``ev.data.<field>``.

The Avro schema of the data comes from :mod:`weir.events.avro_schema`, made
once per class (when the class is made, so an unsupported type fails early).
"""

from __future__ import annotations

import inspect
import sys
import typing
from collections.abc import Mapping
from datetime import datetime
from types import FunctionType
from typing import Any, ClassVar, Self, cast

from pydantic import BaseModel, ConfigDict, ValidationError

from weir.errors import EventInvalidError, EventModelError
from weir.events.avro_schema import ModelAvro, model_record
from weir.events.checks import check_id, check_ts, check_user, check_version, now_ms
from weir.events.envelope import envelope_schema
from weir.events.ids import new_event_id
from weir.events.jsonable import to_jsonable
from weir.events.names import check_event_name, data_namespace
from weir.events.validate import FieldError, invalid

_ENVELOPE = ("name", "data", "id", "ts", "user", "v")
_CLASSES: dict[str, type[Event]] = {}


class EventData(BaseModel):
    """Base of every generated data model: unknown fields are an error, not dropped."""

    model_config = ConfigDict(extra="forbid", ser_json_bytes="base64", val_json_bytes="base64")


class Event:
    """Base of typed events; see the module docstring."""

    __slots__ = ("data", "id", "ts", "user", "v")

    name: ClassVar[str]
    __event_name__: ClassVar[str | None] = None  # the same; None for abstract classes
    version: ClassVar[str | None] = None
    data_model: ClassVar[type[BaseModel]] = EventData
    abstract: ClassVar[bool] = True

    data: Self
    id: str
    ts: int
    user: dict[str, Any] | None
    v: str | None

    def __init_subclass__(
        cls, *, name: str | None = None, version: str | None = None, **kwargs: Any
    ) -> None:
        super().__init_subclass__(**kwargs)
        cls.data_model = _make_data_model(cls, sys._getframe(1))
        cls.abstract = name is None
        if version is not None:
            cls.version = check_version(version, path="version")
        if name is not None:
            cls.name = check_event_name(name, path=f"{cls.__qualname__}(name=...)")
            cls.__event_name__ = name
            if cls.data_model.__pydantic_complete__:
                cls.avro()  # fail now, not at the first send, for types with no Avro form
            _CLASSES[name] = cls

    def __init__(
        self,
        data: Mapping[str, Any] | BaseModel | None = None,
        *,
        user: Mapping[str, Any] | None = None,
        id: str | None = None,
        ts: int | datetime | None = None,
        v: str | None = None,
    ) -> None:
        cls = type(self)
        if cls.abstract:
            raise TypeError(f"{cls.__qualname__} has no event name (class X(Event, name=...))")
        model = cls.data_model
        if type(data) is model:
            value: Any = data
        else:
            try:
                if isinstance(data, BaseModel):
                    value = model.model_validate(data, from_attributes=True)
                else:  # the validator itself: model_validate's wrapper costs ~20%
                    value = model.__pydantic_validator__.validate_python(
                        {} if data is None else data
                    )
            except ValidationError as exc:
                raise invalid(pydantic_errors(exc, "data"), prefix=f"{cls.name}: ") from None
        self.data = value
        self.id = new_event_id() if id is None else check_id(id)
        self.ts = now_ms() if ts is None else check_ts(ts)
        self.user = None if user is None else check_user(user)
        self.v = cls.version if v is None else check_version(v)

    # -- the Avro side ---------------------------------------------------------

    @classmethod
    def avro(cls) -> ModelAvro:
        """The data record of this class and its datum converter (made once)."""
        made = cls.__dict__.get("_weir_avro")
        if made is None:
            if cls.abstract:
                raise EventModelError(f"{cls.__qualname__} has no event name")
            if not cls.data_model.__pydantic_complete__:
                cls.data_model.model_rebuild(raise_errors=True)
            made = model_record(
                cls.data_model, namespace=data_namespace(cls.name), owner=cls.__qualname__
            )
            type.__setattr__(cls, "_weir_avro", made)
        return cast(ModelAvro, made)

    @classmethod
    def avro_schema(cls) -> dict[str, Any]:
        """The Avro schema of the whole event (what the registry holds for ``cls.name``)."""
        return envelope_schema(cls.name, cls.avro().record, inferred=False)

    # -- conversions -----------------------------------------------------------

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Self:
        """The event from its dict form (decoded Avro, or JSON): name, data, id, ts, user, v."""
        name = record.get("name", cls.name)
        if name != cls.name:
            raise EventInvalidError(
                f"name: {name!r} is not {cls.name!r} ({cls.__qualname__})", path="name"
            )
        return cls(
            record.get("data"),
            id=record.get("id"),
            ts=record.get("ts"),
            user=record.get("user"),
            v=record.get("v"),
        )

    def to_record(self) -> dict[str, Any]:
        """The whole event as a dict of Python values (data as ``model_dump()``)."""
        return {
            "name": self.name,
            "data": cast(BaseModel, self.data).model_dump(),
            "id": self.id,
            "ts": self.ts,
            "user": self.user,
            "v": self.v,
        }

    def to_json(self) -> dict[str, Any]:
        """The JSON object form (what ``POST /e/{key}`` takes; see :mod:`weir.events.raw`)."""
        try:
            data = to_jsonable(type(self).avro().to_datum(self.data), datum=True)
        except ValueError:  # e.g. a Decimal beyond its schema: let the receiver name the field
            data = to_jsonable(cast(BaseModel, self.data).model_dump())
        out: dict[str, Any] = {"name": self.name, "data": data, "id": self.id, "ts": self.ts}
        if self.user is not None:
            out["user"] = self.user
        if self.v is not None:
            out["v"] = self.v
        return out

    # -- plain object behaviour -------------------------------------------------

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, Event)
        return (self.id, self.ts, self.user, self.v, self.data) == (
            other.id,
            other.ts,
            other.user,
            other.v,
            other.data,
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"{type(self).__qualname__}(id={self.id!r}, ts={self.ts}, data={self.data!r})"

    if not typing.TYPE_CHECKING:  # type checkers already see the body's fields on the class

        def __getattr__(self, item: str) -> Any:
            if item.startswith("__") or item in _ENVELOPE:
                raise AttributeError(item)
            return getattr(object.__getattribute__(self, "data"), item)


def event_class(name: str) -> type[Event] | None:
    """The typed event class made last for event name ``name``, if any."""
    return _CLASSES.get(name)


def pydantic_errors(exc: ValidationError, root: str) -> list[FieldError]:
    """Pydantic's errors as field errors with Weir paths (``data.items[2].price``)."""
    out = []
    for error in exc.errors(include_url=False):
        path = root
        for part in error["loc"]:
            path = f"{path}[{part}]" if isinstance(part, int) else f"{path}.{part}"
        out.append(FieldError(path, str(error["msg"])))
    return out or [FieldError(root, str(exc))]


def _make_data_model(cls: type[Event], frame: Any) -> type[BaseModel]:
    """Move the body's data fields (and validators, config, methods) into a Pydantic model."""
    own = inspect.get_annotations(cls)  # this class's own, as written
    body: dict[str, Any] = {
        "__module__": cls.__module__,
        "__qualname__": f"{cls.__qualname__}.Data",
        "__annotations__": {},
    }
    for key, annotation in own.items():
        body["__annotations__"][key] = annotation
        if key in cls.__dict__:
            body[key] = cls.__dict__[key]
            if not _is_classvar(annotation):
                type.__delattr__(cls, key)  # the default lives on the data model now
    for key, value in list(cls.__dict__.items()):
        if key.startswith("__") or key in body:
            continue
        if type(value).__name__ == "PydanticDescriptorProxy" or key == "model_config":
            body[key] = value
            type.__delattr__(cls, key)
        elif isinstance(value, FunctionType | property | classmethod | staticmethod):
            body[key] = value  # methods work on the data too (``self.cart_id``)
    bases = tuple(
        b.data_model
        for b in cls.__bases__
        if issubclass(b, Event) and b.data_model is not EventData
    ) or (EventData,)
    metaclass: Any = type(bases[0])  # pydantic's model metaclass
    model = cast(type[BaseModel], metaclass(f"{cls.__name__}Data", bases, body))
    if not model.__pydantic_complete__:
        # Forward references: resolve them where the event class was written.
        namespace = {**frame.f_globals, **frame.f_locals}
        model.model_rebuild(_types_namespace=namespace, raise_errors=False)
    return model


def _is_classvar(annotation: Any) -> bool:
    if isinstance(annotation, str):
        return annotation.startswith(("ClassVar", "typing.ClassVar"))
    return typing.get_origin(annotation) is ClassVar or annotation is ClassVar
