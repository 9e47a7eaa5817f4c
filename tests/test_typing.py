"""The public API is annotated for users' type checkers (mypy runs in CI on the package),
and the stub of the compiled module, python/modcore/_core.pyi, matches what was built."""

import ast
import dataclasses
import importlib
import inspect
import re
from pathlib import Path

import pytest

import modcore
from modcore import _core

MODULES = [
    "modcore",
    "modcore.nn",
    "modcore.nn.lesion",
    "modcore.nn.checkpoint",
    "modcore.network.transformer",
]


def _public_callables(module):
    """(name, function) for each public function, and each public method or property of a
    public class (a dataclass's generated __init__ aside), of the module's __all__."""
    for name in getattr(module, "__all__", [n for n in vars(module) if not n.startswith("_")]):
        obj = getattr(module, name)
        if inspect.isclass(obj) and obj.__module__.startswith("modcore"):
            for attr, value in vars(obj).items():
                if attr.startswith("_") and attr != "__init__":
                    continue
                if attr == "__init__" and dataclasses.is_dataclass(obj):
                    continue
                func = value.fget if isinstance(value, property) else value
                func = getattr(func, "__func__", func)  # classmethod, staticmethod
                if inspect.isfunction(func):
                    yield f"{name}.{attr}", func
        elif inspect.isfunction(obj) and obj.__module__.startswith("modcore"):
            yield name, obj


@pytest.mark.parametrize("module_name", MODULES)
def test_public_functions_annotate_every_parameter_and_return(module_name):
    if module_name.startswith("modcore.nn"):
        pytest.importorskip("torch")
    module = importlib.import_module(module_name)
    missing = []
    for name, func in _public_callables(module):
        sig = inspect.signature(func)
        for p in sig.parameters.values():
            if p.name not in ("self", "cls") and p.annotation is inspect.Parameter.empty:
                missing.append(f"{name}({p.name})")
        if sig.return_annotation is inspect.Signature.empty:
            missing.append(f"{name} -> ?")
    assert missing == []


def test_the_checks_above_see_the_api():
    names = dict(_public_callables(modcore))
    assert {"spectral_cluster", "ncut_significance", "Network.from_weights"} <= set(names)


def test_package_is_marked_typed():
    assert (Path(modcore.__file__).parent / "py.typed").is_file()


def _stub_functions():
    stub = Path(modcore.__file__).parent / "_core.pyi"
    tree = ast.parse(stub.read_text(encoding="utf-8"))
    return {
        node.name: [a.arg for a in node.args.args]
        for node in tree.body
        if isinstance(node, ast.FunctionDef)
    }


def _built_parameters(func):
    """Parameter names from pybind11's signature line: ``ncut(sizes: ..., blocks: list, ...)``."""
    first = func.__doc__.splitlines()[0]
    inside = first[first.index("(") + 1 : first.rindex(")")]
    return re.findall(r"(?:^|, )(\w+):", inside)


def test_core_stub_names_every_binding_with_its_parameters():
    built = {n: getattr(_core, n) for n in dir(_core) if not n.startswith("_")}
    built = {n: f for n, f in built.items() if callable(f)}
    stub = _stub_functions()
    assert sorted(stub) == sorted(built)
    for name, params in stub.items():
        assert params == _built_parameters(built[name]), name
