"""Every check of notebooks 00-08 survives a broken answer with a message, never a traceback of its own.

The exercises' solutions come from ``solutions/``; each is broken in the ways a student's code breaks (it
returns None, raises, returns float64, an extra dimension, a string or a numpy array), one exercise function
at a time, and the check must answer with a CheckResult that names what happened: "returned None", "your code
raised ...", a pass or a named message for float64, a message for the wrong shape; never "the check could
not use ..." (the check's own crash) where the answer is one of these.
"""

from __future__ import annotations

import ast
import importlib

import nbformat
import pytest
import torch
from torch import nn

from course_utils.checks import STRICT_ENV, CheckResult
from course_utils.config import seed_everything
from tests.test_exercises import SOLUTIONS, check_expression, exercise_cells, import_source

OWN_MODULES = {f"course_utils.checks.{name}" for name in
               ("tour", "unsupervised", "autoencoders", "pixel_models", "vae", "gan", "comparison", "diffusion")}
CHECK_CRASH = "the check could not use"
SLOW = {"check_iw_log_likelihood"}
# they return Python numbers: nothing to make numpy
NO_TENSORS = {"check_cluster_purity", "check_gan_step", "check_vae_step", "check_train_step"}


def _own_check_names() -> set[str]:
    names = set()
    for module in OWN_MODULES:
        names |= {name for name in dir(importlib.import_module(module)) if name.startswith("check_")}
    return names


def _exercises() -> list:
    """(check name, its argument names, namespace with the solution) of every exercise checked by our modules."""
    found, own = [], _own_check_names()
    for path, index in exercise_cells(SOLUTIONS):
        cells = nbformat.read(str(path), as_version=4).cells
        try:
            call = ast.parse(check_expression(cells, index), mode="eval").body
        except BaseException:  # noqa: BLE001 - a malformed check cell is test_exercises' business
            continue
        if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Name) or call.func.id not in own:
            continue
        namespace: dict = {"__name__": "__exercise__"}
        exec(compile(import_source(cells, index), f"<{path.name}: imports>", "exec"), namespace)
        exec(compile(cells[index].source, f"<{path.name}, cell {index}>", "exec"), namespace)
        check = namespace.get(call.func.id)
        if getattr(check, "__module__", None) not in OWN_MODULES:
            continue
        args = [a.id for a in call.args if isinstance(a, ast.Name)]
        found.append((f"{path.stem}-{call.func.id}", call.func.id, args, namespace))
    return found


EXERCISES = _exercises()


def _transform(value, how: str):
    if torch.is_tensor(value):
        if how == "float64":
            return value.double() if value.is_floating_point() else value
        if how == "numpy":
            return value.detach().numpy()
        return value.unsqueeze(0)
    if isinstance(value, tuple):
        return tuple(_transform(v, how) for v in value)
    if isinstance(value, dict):
        return {k: _transform(v, how) for k, v in value.items()}
    if isinstance(value, nn.Module):
        return _Transformed(value, how)
    if isinstance(value, float) and how == "shape":
        return [value]
    return value


class _Transformed(nn.Module):
    def __init__(self, inner: nn.Module, how: str):
        super().__init__()
        self.inner, self.how = inner, how

    def forward(self, *args):
        return _transform(self.inner(*args), self.how)


def _broken(fn, how: str):
    def broken(*args, **kwargs):
        if how == "none":
            fn(*args, **kwargs)
            return None
        if how == "raise":
            raise ValueError("something went wrong in the student's code")
        if how == "string":
            return "not a result"
        return _transform(fn(*args, **kwargs), how)

    return broken


def _run(check_name: str, args: list[str], namespace: dict, position: int, how: str) -> CheckResult:
    env = dict(namespace)
    env[args[position]] = _broken(namespace[args[position]], how)
    seed_everything(0)
    return eval(f"{check_name}({', '.join(args)})", env)


CASES = [pytest.param(name, check, args, namespace, position, how, id=f"{name}-arg{position}-{how}")
         for name, check, args, namespace in EXERCISES
         for position in range(len(args))
         for how in ("none", "raise", "float64", "shape", "string", "numpy")
         if (check not in SLOW or how in ("none", "raise")) and not (check in NO_TENSORS and how == "numpy")]


@pytest.fixture(autouse=True)
def lenient(monkeypatch):
    monkeypatch.delenv(STRICT_ENV, raising=False)
    monkeypatch.chdir(SOLUTIONS)


def test_every_own_check_is_covered():
    checked = {check for _, check, _, _ in EXERCISES}
    assert {"check_to_unit_range", "check_sample_raster", "check_negative_elbo", "check_gan_step",
            "check_sharpness"} <= checked, checked


@pytest.mark.parametrize("name, check, args, namespace, position, how", CASES)
def test_broken_answers_get_a_message(name, check, args, namespace, position, how):
    result = _run(check, args, namespace, position, how)
    assert isinstance(result, CheckResult)
    assert result.message, "an empty message"
    assert CHECK_CRASH not in result.message or how in ("string", "numpy"), result.message
    if how == "none":
        assert not result.passed and "returned None" in result.message, result.message
    elif how == "raise":
        assert not result.passed and "your code raised ValueError" in result.message, result.message
    elif how in ("shape", "string", "numpy"):
        assert not result.passed, f"{how}: the check passed a broken answer"
