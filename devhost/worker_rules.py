"""The Azure Functions Python worker's rules, as the devhost applies them.

Mirrors worker 4.34.0 (Azure/azure-functions-python-worker, docs/devhost.md says how to re-check
on an upgrade):
- finding the app: `loader.index_function_app` (exactly one top-level FunctionRegister);
- indexing each function: `functions.Registry.add_indexed_function` (binding directions, the
  `context` parameter, parameters against bindings, parameter and return annotations);
- converting data: `bindings.meta.from_incoming_proto` / `get_datum` (the binding registry of
  azure-functions, with the worker's generic binding for the rest).
Not mirrored because this app uses neither: deferred (SDK-type) bindings and HTTP streaming;
only the SDK-type check's failure on special forms is (see `_check_sdk_type`).
"""

from __future__ import annotations

import collections.abc
import inspect
import re
import time
import typing
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import azure.functions as func
from azure.functions import meta

DIRECTION_OUT = 1  # BindingInfo.Direction in the worker's protocol: in 0, out 1, inout 2
DIRECTION_INOUT = 2
HTTP_TRIGGER = "httpTrigger"
DURABLE_CLIENT = "durableClient"
SCRIPT_FILE_SETTING = "PYTHON_SCRIPT_FILE_NAME"
SCRIPT_FILE_DEFAULT = "function_app.py"
_SCRIPT_FILE_PATTERN = re.compile(r"^[a-zA-Z0-9_][a-zA-Z0-9_\-]*\.py$")


class WorkerRefusal(Exception):
    """The worker would refuse the app; the message is the one the host would log."""


class FunctionLoadError(WorkerRefusal):
    """A function the worker cannot load (the worker's own class name and message)."""

    def __init__(self, function_name: str, msg: str) -> None:
        super().__init__(f"FunctionLoadError: cannot load the {function_name} function: {msg}")


@dataclass(frozen=True)
class ParamType:
    """How the worker converts one binding: the binding's converter and the Python type."""

    binding: str
    pytype: Any


@dataclass(frozen=True)
class IndexedFunction:
    """What the worker keeps of a function it accepted."""

    name: str
    requires_context: bool
    inputs: dict[str, ParamType]
    return_type: ParamType | None

    @property
    def has_return(self) -> bool:
        """A function without a return binding must return None."""
        return self.return_type is not None


def script_file_name(environ: collections.abc.Mapping[str, str]) -> str:
    """The script the worker imports (PYTHON_SCRIPT_FILE_NAME), validated as the worker does."""
    name = environ.get(SCRIPT_FILE_SETTING) or SCRIPT_FILE_DEFAULT
    if not _SCRIPT_FILE_PATTERN.match(name):
        raise WorkerRefusal(f"InvalidFileNameError: Invalid file name: {name}")
    return name


def find_app(module: ModuleType, script_name: str) -> func.FunctionRegister:
    """The module's one top-level function app (any name), as `index_function_app` finds it."""
    # Every top-level name counts, so an alias of the same app is a second instance.
    apps = [value for value in vars(module).values() if isinstance(value, func.FunctionRegister)]
    if not apps:
        raise WorkerRefusal(
            f"ValueError: Could not find top level function app instances in {script_name}."
        )
    if len(apps) > 1:
        raise WorkerRefusal(
            f"ValueError: More than one {type(apps[0]).__name__} or other top level function "
            "app instances are defined."
        )
    return apps[0]


def index_function(function: Any) -> IndexedFunction:
    """Check one function of `get_functions()` as the worker does; any error refuses the app."""
    try:
        indexed = _index_function(function)
        _check_retry_policy(function)
    except WorkerRefusal:
        raise
    except Exception as exc:  # the worker reports any other error as the host would log it
        raise WorkerRefusal(f"{type(exc).__name__}: {exc}") from exc
    return indexed


def _index_function(function: Any) -> IndexedFunction:
    """`Registry.add_indexed_function`: bindings, `context`, parameters and annotations."""
    name = function.get_function_name()
    user_function = function.get_user_function()
    params = dict(inspect.signature(user_function).parameters)
    annotations = typing.get_type_hints(user_function)
    return_binding: str | None = None
    explicit_return = implicit_return = False
    bound: dict[str, Any] = {}
    for binding in function.get_bindings():
        if binding.direction == DIRECTION_INOUT:
            raise FunctionLoadError(name, '"inout" bindings are not supported')
        if binding.name == "$return":
            if binding.direction != DIRECTION_OUT:
                raise FunctionLoadError(name, '"$return" binding must have direction set to "out"')
            if not explicit_return:
                return_binding = binding.type
            explicit_return = True
            continue
        bound[binding.name] = binding
        if _has_implicit_output(binding.type):
            implicit_return = True
            if not explicit_return:
                return_binding = binding.type
    requires_context = _requires_context(name, params, bound, annotations)
    inputs = _check_parameters(name, params, bound, annotations)
    return_type = _return_type(name, annotations, explicit_return, return_binding)
    if implicit_return and not explicit_return:
        return_type = ParamType(str(return_binding), annotations.get("return"))
    return IndexedFunction(name, requires_context, inputs, return_type)


def _check_retry_policy(function: Any) -> None:
    """`loader.build_retry_protos`: the intervals must read as H:M:S, the count as an int."""
    try:
        retry = function.get_settings_dict("retry_policy")
    except AttributeError:
        return
    if not retry:
        return
    int(retry.get("max_retry_count"))
    fields = (
        ("delay_interval",)
        if retry.get("strategy") == "fixed_delay"
        else ("minimum_interval", "maximum_interval")
    )
    for name in fields:
        time.strptime(retry.get(name), "%H:%M:%S")


def _requires_context(
    name: str, params: dict[str, inspect.Parameter], bound: dict[str, Any], annotations: dict
) -> bool:
    if "context" not in params or "context" in bound:
        return False
    params.pop("context")
    annotation = annotations.get("context")
    if "context" in annotations and (
        not isinstance(annotation, type) or annotation.__name__ != "Context"
    ):
        raise FunctionLoadError(
            name,
            'the "context" parameter is expected to be of type azure.functions.Context, '
            f"got {annotation!r}",
        )
    return True


def _check_parameters(
    name: str, params: dict[str, inspect.Parameter], bound: dict[str, Any], annotations: dict
) -> dict[str, ParamType]:
    if set(params) - set(bound):
        raise FunctionLoadError(
            name,
            "the following parameters are declared in Python but not in function.json: "
            f"{set(params) - set(bound)!r}",
        )
    if set(bound) - set(params):
        raise FunctionLoadError(
            name,
            "the following parameters are declared in function.json but not in Python: "
            f"{set(bound) - set(params)!r}",
        )
    inputs: dict[str, ParamType] = {}
    for param in params.values():
        binding = bound[param.name]
        has_annotation = param.name in annotations
        annotation = annotations.get(param.name)
        _check_sdk_type(annotation)
        is_out = has_annotation and _is_out(annotation)
        pytype = annotation
        if is_out:
            args = _generic_args(annotation)
            if len(args) != 1:
                raise FunctionLoadError(
                    name, f"binding {param.name} has invalid Out annotation {annotation!r}"
                )
            pytype = args[0]
        if has_annotation and not isinstance(pytype, type) and not _is_generic_type(pytype):
            raise FunctionLoadError(
                name, f"binding {param.name} has invalid non-type annotation {annotation!r}"
            )
        binding_out = binding.direction == DIRECTION_OUT
        if binding_out and has_annotation and not is_out:
            raise FunctionLoadError(
                name,
                f'binding {param.name} is declared to have the "out" direction, but its '
                "annotation in Python is not a subclass of azure.functions.Out",
            )
        if not binding_out and is_out:
            raise FunctionLoadError(
                name,
                f'binding {param.name} is declared to have the "in" direction in '
                "function.json, but its annotation is azure.functions.Out in Python",
            )
        converter = binding.type
        if has_annotation and pytype in (str, bytes) and not _has_implicit_output(binding.type):
            converter = "generic"
        if has_annotation:
            fits = (
                _converter(converter).check_output_type_annotation(pytype)
                if is_out
                else _converter(converter).check_input_type_annotation(pytype)
            )
            if not fits:
                # The worker compares the v2 model's data_type (None) with its "undefined"
                # enum by identity, so it always reports the dataType form of this message.
                shown = getattr(pytype, "__name__", pytype)
                raise FunctionLoadError(
                    name,
                    f'{param.name!r} binding type "{binding.type}" and dataType '
                    f'"{binding.data_type}" in function.json do not match the corresponding '
                    f'function parameter\'s Python type annotation "{shown}"',
                )
        if not binding_out:
            inputs[param.name] = ParamType(converter, pytype)
    return inputs


def _return_type(
    name: str, annotations: dict, explicit_return: bool, binding: str | None
) -> ParamType | None:
    if not explicit_return:
        return None
    pytype = annotations.get("return")
    if "return" in annotations:
        if _is_generic_type(pytype) and _generic_origin(pytype).__name__ == "Out":
            raise FunctionLoadError(name, "return annotation should not be azure.functions.Out")
        if not isinstance(pytype, type):
            raise FunctionLoadError(name, f"has invalid non-type return annotation {pytype!r}")
        if not _converter(str(binding)).check_output_type_annotation(pytype):
            raise FunctionLoadError(
                name,
                f'Python return annotation "{pytype.__name__}" does not match binding type '
                f'"{binding}"',
            )
    return ParamType(str(binding), pytype)


def decode(binding: ParamType, datum: meta.Datum) -> Any:
    """The Python value the worker hands the function for this binding's data."""
    return _converter(binding.binding).decode(datum, trigger_metadata={})


def encode(binding: ParamType, value: Any) -> meta.Datum:
    """The data the worker returns to the host for the function's result."""
    try:
        return _converter(binding.binding).encode(value, expected_type=binding.pytype)
    except NotImplementedError:
        raise TypeError(
            f'unable to encode outgoing TypedData: unsupported type "{binding.binding}" for '
            f'Python type "{type(value).__name__}"'
        ) from None


def _converter(binding: str) -> Any:
    """The azure-functions converter registered for the binding, else the generic binding."""
    return meta.get_binding_registry().get(binding) or GenericBinding


def _has_implicit_output(binding: str) -> bool:
    converter = _converter(binding)
    if converter is GenericBinding:
        return GenericBinding.has_implicit_output(binding)
    return bool(getattr(converter, "has_implicit_output", lambda: False)())


def _check_sdk_type(annotation: Any) -> None:
    """The base extension's SDK-type test, which the worker runs on every annotation."""
    # Only its failure is mirrored (the devhost hosts no SDK types): it asks whether the
    # annotation's origin is an Iterable, which raises for an origin that is not a class,
    # such as Optional[...]'s Union.
    origin = typing.get_origin(annotation) if annotation is not None else None
    if origin is not None:
        issubclass(origin, collections.abc.Iterable)


def _is_out(annotation: Any) -> bool:
    candidate = _generic_origin(annotation) if _is_generic_type(annotation) else None
    candidate = candidate if candidate is not None else annotation
    return isinstance(candidate, type) and candidate.__name__ == "Out"


def _is_generic_type(tp: Any) -> bool:
    """typing_inspect's test as vendored by the worker: PEP 585 aliases (dict[...]) fail it."""
    # typing's private alias classes, as the worker's test reads them (not in typeshed).
    special = (typing._GenericAlias, typing._SpecialGenericAlias)  # type: ignore[attr-defined]
    return (isinstance(tp, type) and issubclass(tp, typing.Generic)) or (
        isinstance(tp, special)
        and tp.__origin__ not in (typing.Union, tuple, typing.ClassVar, collections.abc.Callable)
    )


def _generic_origin(tp: Any) -> Any:
    # typing._GenericAlias: private, not in typeshed; the worker's vendored code reads it.
    if isinstance(tp, typing._GenericAlias):  # type: ignore[attr-defined]
        return tp.__origin__ if tp.__origin__ is not typing.ClassVar else None
    return typing.Generic if tp is typing.Generic else None


def _generic_args(tp: Any) -> tuple[Any, ...]:
    # typing._GenericAlias: private, not in typeshed; the worker's vendored code reads it.
    return tp.__args__ if isinstance(tp, typing._GenericAlias) else ()  # type: ignore[attr-defined]


class GenericBinding:
    """The worker's converter for bindings azure-functions does not register."""

    @classmethod
    def check_input_type_annotation(cls, pytype: type) -> bool:
        """Only text and bytes."""
        return issubclass(pytype, (str, bytes))

    @classmethod
    def check_output_type_annotation(cls, pytype: type) -> bool:
        """Only text and bytes."""
        return issubclass(pytype, (str, bytes, bytearray))

    @classmethod
    def has_implicit_output(cls, binding: str) -> bool:
        """Every generic binding but the durable client returns a value."""
        return binding != DURABLE_CLIENT

    @classmethod
    def decode(cls, datum: meta.Datum, *, trigger_metadata: Any) -> Any:
        """Strings, bytes and JSON text pass through unchanged."""
        if datum is None or datum.type is None:
            return None
        if datum.type in ("string", "bytes", "json"):
            return datum.value
        raise ValueError(
            f'unexpected type of data received for the "generic" binding : {datum.type!r}'
        )

    @classmethod
    def encode(cls, value: Any, *, expected_type: Any) -> meta.Datum:
        """Plain values keep their type; anything else cannot be sent."""
        if isinstance(value, str):
            return meta.Datum(type="string", value=value)
        if isinstance(value, (bytes, bytearray)):
            return meta.Datum(type="bytes", value=bytes(value))
        for kind, datum_type in ((type(None), None), (dict, "dict"), (list, "list")):
            if isinstance(value, kind):
                return meta.Datum(type=datum_type, value=value)
        if isinstance(value, int):
            return meta.Datum(type="int", value=value)
        if isinstance(value, float):
            return meta.Datum(type="double", value=value)
        raise NotImplementedError
