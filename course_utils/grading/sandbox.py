"""Run untrusted exercise code: one forked process per exercise, in its own temporary folder, with limits.

The grader starts a few *worker* processes (:class:`Worker`), each a fresh Python that imports torch, the
course's checks and everything the notebooks import once, with an environment scrubbed down to what they
need and HOME in a temporary folder. For every exercise a worker forks a child (cheap: the imports are
already done), and the child, before it runs a line of the student's code:

- moves into its own new temporary folder (HOME, TMPDIR, the working directory, matplotlib's config);
- caps its address space (``RLIMIT_AS``: the worker's size plus ``memory`` bytes), the size of files it may
  write, core dumps, and CPU time; a wall-clock limit is enforced from outside (the worker kills it);
- where the Linux kernel has Landlock, may write files only inside its folder (and ``/dev``) and cannot
  signal processes outside itself; as root it also gets an empty network namespace (no network);
- remembers the course's own check functions and a fingerprint of every function and class of
  ``course_utils``, torch's main namespaces, numpy and builtins.

Then it runs the notebook's setup imports (the course's), the submission's answer cell, and the *course's*
check call (from the solution notebook) with the genuine check functions, and reports over a pipe. A check
name that the student's code rebinds is ignored and flagged; a changed course or torch function is flagged
as tampering and the exercise scores 0. What this does *not* stop is described in the README ("Grading").
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

from .metadata import GradedCell

DEFAULT_TIMEOUT = 60.0  # seconds per exercise
DEFAULT_MEMORY = 2 * 1024**3  # bytes an exercise may allocate on top of the worker's own size
MAX_FILE_SIZE = 64 * 1024**2  # largest file an exercise may write (its printed output included)
NOT_IMPLEMENTED_HINT = "not implemented yet"  # course_utils.checks.NOT_IMPLEMENTED_HINT starts with this
NOT_ANSWERED_HINT = "not answered yet"  # course_utils.checks.questions.NOT_ANSWERED_HINT starts with this
# Environment variables a worker keeps from the grader's environment; everything else is dropped.
KEEP_ENV = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ")

# Verdicts a child can report (the grader adds "missing" and "unreadable" for what never reaches a worker).
PASS, FAIL, NOT_ATTEMPTED, ERROR, TIMEOUT, TAMPERED, MISSING = (
    "pass", "fail", "not attempted", "error", "timeout", "tampered", "missing")


def item_payload(item: GradedCell, answer: str | None, student_imports: str = "") -> dict:
    """What a worker needs to grade one exercise: the course's setup and check, the student's answer."""
    return {"grade_id": item.grade_id, "notebook": item.notebook, "cell": item.answer_index,
            "setup": item.setup, "earlier": list(item.earlier), "student_imports": student_imports, "answer": answer,
            "check": item.check_source, "check_names": list(item.check_names), "needs": list(item.needs)}


def scrubbed_env(home: str | Path) -> dict[str, str]:
    """The environment a worker gets: a few harmless variables, HOME/TMPDIR in ``home``, one thread."""
    env = {key: os.environ[key] for key in KEEP_ENV if key in os.environ}
    env.setdefault("PATH", "/usr/bin:/bin")
    env.setdefault("LANG", "C.UTF-8")
    home = str(home)
    env.update(HOME=home, TMPDIR=home, MPLCONFIGDIR=home, COURSE_CACHE=os.path.join(home, "cache"),
               MPLBACKEND="Agg", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", COURSE_THREADS="1",
               PYTHONDONTWRITEBYTECODE="1", PYTHONHASHSEED="0", CUDA_VISIBLE_DEVICES="")
    return env


# ----------------------------------------------------------------------------------------------------------
# The grader's side: a worker process and the conversation with it


class WorkerFailed(RuntimeError):
    """The worker process died or stopped answering (not an exercise's fault: the grader retries once)."""


class Worker:
    """A worker process that grades exercises in forked children; ``grade(items)`` returns their results.

    ``preload``: import statements run once in the worker (every notebook's setup), so children start
    fast; ``warmup``: payloads whose (trusted) answers and checks the worker runs once before any fork.
    ``timeout``: seconds per exercise; ``memory``: bytes per exercise. ``root``: the folder under which the
    worker and its children make their temporary folders (deleted by :meth:`close`).
    """

    def __init__(self, preload: str, root: str | Path, timeout: float = DEFAULT_TIMEOUT,
                 memory: int = DEFAULT_MEMORY, project: str | Path | None = None, warmup: list[dict] | None = None):
        self.timeout, self.memory = float(timeout), int(memory)
        self.home = tempfile.mkdtemp(prefix="worker-", dir=root)
        project = str(project or Path(__file__).resolve().parents[2])
        bootstrap = (f"import sys; sys.path.insert(0, {project!r}); "
                     "from course_utils.grading.sandbox import serve; serve()")
        self._log = open(os.path.join(self.home, "worker.log"), "wb")  # noqa: SIM115 (closed in close())
        self.proc = subprocess.Popen(
            [sys.executable, "-I", "-B", "-c", bootstrap], cwd=self.home, env=scrubbed_env(self.home),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log, start_new_session=True)
        self._buffer = b""
        self._send({"preload": preload, "timeout": self.timeout, "memory": self.memory, "warmup": warmup or []})
        ready = self._receive(deadline=time.monotonic() + 600)
        self.protections = ready.get("protections", [])

    def _send(self, message: dict) -> None:
        try:
            self.proc.stdin.write((json.dumps(message) + "\n").encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError) as err:
            raise WorkerFailed(f"the worker process is gone ({err})") from None

    def _receive(self, deadline: float) -> dict:
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise WorkerFailed("the worker process stopped answering")
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    raise WorkerFailed(f"the worker process ended (exit status {self.proc.poll()})")
                self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        try:
            return json.loads(line)
        except json.JSONDecodeError:
            raise WorkerFailed("the worker process answered garbage") from None

    def grade(self, items: list[dict]) -> list[dict]:
        """Grade ``items`` (from :func:`item_payload`) one child each; one result dict per item, in order."""
        self._send({"items": items})
        reply = self._receive(deadline=time.monotonic() + len(items) * (self.timeout + 30) + 30)
        results = reply.get("results")
        if not isinstance(results, list) or len(results) != len(items):
            raise WorkerFailed("the worker process answered something else than the results asked for")
        return results

    def close(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout, self._log):
            try:
                stream.close()
            except OSError:
                pass
        shutil.rmtree(self.home, ignore_errors=True)


# ----------------------------------------------------------------------------------------------------------
# The worker's side (runs in the worker process started by Worker)

LINUX = sys.platform.startswith("linux")  # Landlock, network namespaces, prctl: Linux only
_LANDLOCK_ABI: int | None = None
_libc = None
_BASELINE: dict[str, tuple] | None = None  # the worker's fingerprints after warm-up: what every child starts from


def _lib():
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


def _set_limit(which: int, soft: int, hard: int | None = None) -> None:
    try:
        resource.setrlimit(which, (soft, soft if hard is None else hard))
    except (ValueError, OSError):  # a platform without this limit (or a lower hard limit): go on without
        pass


def _die_with_parent() -> None:
    """Linux: this process gets SIGKILL when the one that started it ends (PR_SET_PDEATHSIG)."""
    if LINUX:
        _lib().prctl(1, signal.SIGKILL, 0, 0, 0)


def landlock_abi() -> int:
    """The kernel's Landlock ABI version (0: not available, or not Linux)."""
    global _LANDLOCK_ABI
    if not LINUX:
        return 0
    if _LANDLOCK_ABI is None:
        try:
            version = _lib().syscall(444, None, ctypes.c_size_t(0), ctypes.c_uint32(1))  # CREATE_RULESET_VERSION
        except Exception:
            version = -1
        _LANDLOCK_ABI = max(int(version), 0)
    return _LANDLOCK_ABI


def _landlock_writes_only_in(folders: list[str]) -> bool:
    """Forbid this process (and what it starts) to write files outside ``folders`` or signal others."""
    abi = landlock_abi()
    if abi < 1:
        return False
    write = sum(1 << bit for bit in (1, 4, 5, 6, 7, 8, 9, 10, 11, 12))  # write, remove, make_*
    if abi >= 2:
        write |= 1 << 13  # refer (link/rename across folders)
    if abi >= 3:
        write |= 1 << 14  # truncate

    class Ruleset(ctypes.Structure):
        _fields_ = [("fs", ctypes.c_uint64), ("net", ctypes.c_uint64), ("scoped", ctypes.c_uint64)]

    class PathBeneath(ctypes.Structure):
        _pack_ = 1
        _fields_ = [("allowed", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]

    scoped = 0b10 if abi >= 6 else 0  # LANDLOCK_SCOPE_SIGNAL: no signals to processes outside
    size = 24 if abi >= 6 else 16 if abi >= 4 else 8
    attr = Ruleset(write, 0, scoped)
    libc = _lib()
    ruleset = libc.syscall(444, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    if ruleset < 0:
        return False
    try:
        for folder in folders:
            fd = os.open(folder, os.O_PATH | os.O_CLOEXEC)
            try:
                rule = PathBeneath(write, fd)
                if libc.syscall(445, ruleset, 1, ctypes.byref(rule), ctypes.c_uint32(0)) < 0:
                    return False
            finally:
                os.close(fd)
        if libc.prctl(38, 1, 0, 0, 0) < 0:  # PR_SET_NO_NEW_PRIVS, required by landlock_restrict_self
            return False
        return libc.syscall(446, ruleset, ctypes.c_uint32(0)) == 0
    finally:
        os.close(ruleset)


def _no_network() -> bool:
    """Move into a new, empty network namespace (root only): nothing to connect to. False if not possible."""
    if not LINUX or os.geteuid() != 0:
        return False
    try:
        return _lib().unshare(0x40000000) == 0  # CLONE_NEWNET
    except Exception:
        return False


def _vm_size() -> int:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _fingerprints() -> dict[str, tuple]:
    """Identity of every function and class that a check relies on, to tell whether student code changed one.

    Maps a dotted name to ``(fingerprint, object)``.
    """
    import builtins
    import math

    import numpy
    import torch
    import torch.nn.functional

    spaces: dict[str, dict] = {}
    for name, module in list(sys.modules.items()):
        if module is not None and (name == "course_utils" or name.startswith("course_utils.")):
            spaces[name] = vars(module)
            for attr, value in list(vars(module).items()):
                if isinstance(value, type) and getattr(value, "__module__", "") == name:
                    spaces[f"{name}.{attr}"] = dict(vars(value))
    for label, module in (("torch", torch), ("torch.nn.functional", torch.nn.functional),
                          ("torch.linalg", torch.linalg), ("numpy", numpy), ("builtins", builtins),
                          ("math", math)):
        spaces[label] = vars(module)
    spaces["torch.Tensor"] = dict(vars(torch.Tensor))
    prints: dict[str, tuple] = {}
    for label, space in spaces.items():
        for attr, value in list(space.items()):
            if callable(value) or isinstance(value, (type, staticmethod, classmethod, property)):
                prints[f"{label}.{attr}"] = (_fingerprint(value), value)
    for name, module in list(sys.modules.items()):
        if name.startswith("course_utils"):
            prints[f"sys.modules[{name!r}]"] = ((id(module),), module)
    return prints


def _fingerprint(value) -> tuple:
    code = getattr(value, "__code__", None)
    closure = getattr(value, "__closure__", None) or ()
    inner = []
    for cell in closure:
        try:
            content = cell.cell_contents
        except ValueError:
            content = None
        inner.append((id(content), id(getattr(content, "__code__", None))))
    return (id(value), id(code), id(getattr(value, "__defaults__", None)), tuple(inner))


def _torch_wraps(old, new) -> bool:
    """True when ``new`` is torch's own wrapper around ``old`` (torch wraps some functions lazily, e.g.
    ``torch.manual_seed`` when torch._dynamo is first imported): not a change by the student."""
    import torch

    code = getattr(new, "__code__", None)
    return (getattr(new, "__wrapped__", None) is old and code is not None
            and code.co_filename.startswith(os.path.dirname(torch.__file__) + os.sep))


def _changed(before: dict[str, tuple]) -> list[str]:
    after = _fingerprints()
    changed = []
    for name, (mark, old) in before.items():
        now = after.get(name)
        if now is None or (now[0] != mark and not _torch_wraps(old, now[1])):
            changed.append(name)
    return sorted(changed)


class _IPythonStub:
    """``get_ipython()`` for graded cells: magics and shell commands do nothing, except that the body of a
    ``%%time``, ``%%timeit`` or ``%%capture`` cell still runs (once)."""

    def __init__(self, namespace: dict | None = None):
        self.namespace = namespace if namespace is not None else {}

    def __call__(self):
        return self

    def run_line_magic(self, *args, **kwargs):
        return None

    def run_cell_magic(self, name, line, cell):
        if name in ("time", "timeit", "capture"):
            from course_utils.grading.metadata import python_source

            exec(compile(python_source(cell), "<cell magic>", "exec"), self.namespace)

    system = run_line_magic
    getoutput = run_line_magic


def _where(err: BaseException, filename: str) -> str:
    lines = [frame.lineno for frame in traceback.extract_tb(err.__traceback__) if frame.filename == filename]
    return f" (line {lines[-1]})" if lines else ""


def _describe(err: BaseException, memory: int) -> str:
    text = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
    if isinstance(err, MemoryError) or "allocate" in str(err):
        text += f" (out of memory: the grader allows {memory / 1024**3:.1g} GB per exercise)"
    return text


def run_item(item: dict, memory: int) -> dict:
    """Grade one exercise in this (child) process; returns ``{verdict, message, flags}``."""
    from course_utils import checks as course_checks
    from course_utils.config import seed_everything
    from course_utils.grading.metadata import python_source

    check_result = course_checks.CheckResult
    flags: list[str] = []
    where = f"<{item['notebook']}, cell {item['cell']}>"

    def result(verdict: str, message: str) -> dict:
        return {"verdict": verdict, "message": message, "flags": flags}

    # the course's check functions, taken before any student code runs
    scratch: dict = {"__name__": "__main__"}
    exec(compile(item["setup"], "<setup>", "exec"), scratch)
    genuine = {name: scratch[name] for name in item["check_names"] if name in scratch}
    if len(genuine) != len(item["check_names"]):
        return result(ERROR, "grader problem: the notebook's imports do not define "
                             f"{', '.join(n for n in item['check_names'] if n not in genuine)}")
    before = _BASELINE if _BASELINE is not None else _fingerprints()

    namespace: dict = {"__name__": "__main__"}
    namespace["get_ipython"] = _IPythonStub(namespace)
    for statement in item["student_imports"].splitlines():
        try:
            exec(compile(statement, "<your imports>", "exec"), namespace)
        except BaseException:  # noqa: BLE001 (an import of theirs that fails is theirs; the course's follow)
            pass
    exec(compile(item["setup"], "<setup>", "exec"), namespace)
    for number, source in enumerate(item.get("earlier", [])):  # the course's earlier exercises (trusted)
        try:
            exec(compile(python_source(source), f"<earlier exercise {number}>", "exec"), namespace)
        except BaseException:  # noqa: BLE001 (the student's own exercise decides what follows)
            pass
    try:
        code = compile(python_source(item["answer"]), where, "exec")
    except SyntaxError as err:
        return result(ERROR, f"syntax error in your exercise cell, line {err.lineno}: {err.msg}")
    except Exception as err:
        return result(ERROR, f"your exercise cell cannot be read as Python: {err}")
    try:
        exec(code, namespace)
    except SystemExit as err:
        return result(ERROR, f"your exercise cell called sys.exit({'' if err.code is None else err.code!r}): "
                             "the rest of the cell and its check did not run")
    except BaseException as err:  # noqa: BLE001
        return result(ERROR, f"your exercise cell raised {_describe(err, memory)}{_where(err, where)}")
    changed = _changed(before)
    if changed:
        return result(TAMPERED, f"your exercise cell changed {', '.join(changed[:3])}"
                                f"{f' and {len(changed) - 3} more' if len(changed) > 3 else ''}: "
                                "the course's code must not be modified, so this exercise scores 0")
    missing = [name for name in item["needs"] if name not in namespace]
    if missing:
        return result(MISSING, f"your exercise cell does not define {', '.join(f'`{n}`' for n in missing)}, "
                               "which the check needs: was it renamed or deleted?")
    for name, check in genuine.items():
        if namespace.get(name) is not check:
            flags.append(f"your code defines `{name}`, the name of the course's check: it was graded with "
                         "the course's own check")
            namespace[name] = check
    seed_everything(0)
    tree_source = item["check"]
    try:
        import ast

        outcome = None
        for statement in ast.parse(python_source(tree_source)).body:
            value = getattr(statement, "value", None)  # `check_x(x)` or `result = check_x(x)`
            if isinstance(statement, (ast.Expr, ast.Assign)) and isinstance(value, ast.Call) \
                    and isinstance(value.func, ast.Name) and value.func.id in genuine:
                outcome = eval(compile(ast.Expression(value), "<check>", "eval"), namespace)
                break  # what follows the check (e.g. yours_or_reference) is not part of grading
            exec(compile(ast.Module(body=[statement], type_ignores=[]), "<check>", "exec"), namespace)
        else:
            return result(ERROR, "grader problem: the course's check cell has no statement that calls its check")
    except SystemExit as err:
        return result(ERROR, f"your code called sys.exit({'' if err.code is None else err.code!r}) during the check")
    except BaseException as err:  # noqa: BLE001
        return result(ERROR, f"your code raised {_describe(err, memory)} during the check")
    changed = _changed(before)
    if changed:
        return result(TAMPERED, f"your code changed {', '.join(changed[:3])} while it was checked: "
                                "the course's code must not be modified, so this exercise scores 0")
    if type(outcome) is not check_result:
        return result(ERROR, f"grader problem: the check returned {type(outcome).__name__}, not a CheckResult")
    if outcome.passed:
        return result(PASS, outcome.message)
    message = outcome.message
    if "allocate" in message or "MemoryError" in message:
        message += f" (out of memory: the grader allows {memory / 1024**3:.1g} GB per exercise)"
    untouched = message.startswith((NOT_IMPLEMENTED_HINT, NOT_ANSWERED_HINT))
    return result(NOT_ATTEMPTED if untouched else FAIL, message)


def _child(item: dict, folder: str, result_fd: int, memory: int, timeout: float) -> None:
    """In the forked child: lock down, grade, write the result to ``result_fd``, exit."""
    code = 0
    try:
        os.setsid()
        _die_with_parent()
        os.chdir(folder)
        log = os.open(os.path.join(folder, "output.txt"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
        os.environ.update(HOME=folder, TMPDIR=folder, MPLCONFIGDIR=folder)
        tempfile.tempdir = folder
        _no_network()
        _landlock_writes_only_in([folder, "/dev"])
        cpu = int(timeout) + 10
        _set_limit(resource.RLIMIT_CORE, 0)
        _set_limit(resource.RLIMIT_FSIZE, MAX_FILE_SIZE)
        _set_limit(resource.RLIMIT_CPU, cpu, cpu + 5)
        if _vm_size():  # Linux: the worker's size plus what the exercise may allocate
            _set_limit(resource.RLIMIT_AS, _vm_size() + memory)
        outcome = run_item(item, memory)
    except BaseException as err:  # noqa: BLE001
        outcome = {"verdict": ERROR, "message": f"grader problem: {type(err).__name__}: {err}", "flags": []}
        code = 1
    try:
        os.write(result_fd, json.dumps(outcome).encode())
    finally:
        os._exit(code)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def grade_in_child(item: dict, root: str, timeout: float, memory: int) -> dict:
    """Fork a child for one exercise, wait at most ``timeout`` seconds, return its result (or why none)."""
    started = time.monotonic()
    outcome = _grade_in_child(item, root, timeout, memory)
    outcome["seconds"] = round(time.monotonic() - started, 3)
    return outcome


def _grade_in_child(item: dict, root: str, timeout: float, memory: int) -> dict:
    folder = tempfile.mkdtemp(prefix="exercise-", dir=root)
    read_end, write_end = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        _child(item, folder, write_end, memory, timeout)
    os.close(write_end)
    data, deadline, timed_out = b"", time.monotonic() + timeout, False
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            ready, _, _ = select.select([read_end], [], [], left)
            if ready:
                chunk = os.read(read_end, 1 << 16)
                if not chunk:
                    break
                data += chunk
    finally:
        os.close(read_end)
        if timed_out:
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        try:
            os.killpg(pid, signal.SIGKILL)  # whatever it started
        except (ProcessLookupError, PermissionError):
            pass
        tail = _tail(os.path.join(folder, "output.txt"))
        shutil.rmtree(folder, ignore_errors=True)
    if timed_out:
        return {"verdict": TIMEOUT, "flags": [],
                "message": f"stopped after {timeout:g} s, the time allowed per exercise: an endless loop, "
                           "or far too slow?"}
    try:
        outcome = json.loads(data)
        if isinstance(outcome, dict) and {"verdict", "message", "flags"} <= set(outcome):
            return outcome
    except (json.JSONDecodeError, UnicodeDecodeError):
        pass
    if os.WIFSIGNALED(status):
        name = _signal_name(os.WTERMSIG(status))
        why = {"SIGKILL": " (out of memory?)", "SIGXCPU": " (CPU time limit)", "SIGSEGV": " (a crash)"}.get(name, "")
        message = f"the process running your code was killed by {name}{why} before its check finished"
    else:
        message = (f"the process running your code ended (exit status {os.WEXITSTATUS(status)}) before its "
                   "check finished: does your code call os._exit() or end the process?")
    if tail:
        message += f". Its last output: {tail}"
    return {"verdict": ERROR, "message": message, "flags": []}


def _tail(path: str, chars: int = 300) -> str:
    try:
        with open(path, "rb") as file:
            file.seek(0, os.SEEK_END)
            file.seek(max(0, file.tell() - chars))
            return " ".join(file.read().decode("utf-8", "replace").split())
    except OSError:
        return ""


def serve() -> None:
    """The worker's main loop: preload, then answer each ``{"items": [...]}`` line with ``{"results": [...]}``."""
    protocol = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # whatever the imports print goes to the log, never into the conversation
    sys.stdout = sys.stderr
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent()
    setup = json.loads(sys.stdin.readline())
    timeout, memory = float(setup["timeout"]), int(setup["memory"])
    root = os.getcwd()
    import torch

    torch.set_num_threads(1)
    import importlib
    import pkgutil

    import course_utils.checks
    import course_utils.grading.metadata  # noqa: F401 (IPython's transformer, imported once)

    for module in pkgutil.iter_modules(course_utils.checks.__path__):
        importlib.import_module(f"course_utils.checks.{module.name}")
    for statement in setup["preload"].splitlines() + ["import torch._dynamo"]:
        try:
            exec(statement, {"__name__": "__preload__"})
        except BaseException:  # noqa: BLE001 (a child that needs it will say what is wrong)
            traceback.print_exc()
    # Warm up: run every check once on the course's own solution (trusted code), so that what torch and the
    # checks set up on first use is done once here, before any fork, and not counted as a student's change.
    for item in setup.get("warmup", []):
        try:
            namespace: dict = {"__name__": "__main__"}
            namespace["get_ipython"] = _IPythonStub(namespace)
            exec(compile(item["setup"], "<setup>", "exec"), namespace)
            for source in item.get("earlier", []) + [item["answer"]]:
                exec(compile(course_utils.grading.metadata.python_source(source), "<solution>", "exec"), namespace)
            exec(compile(course_utils.grading.metadata.python_source(item["check"]), "<check>", "exec"), namespace)
        except BaseException:  # noqa: BLE001
            traceback.print_exc()
    course_utils.grading.metadata.python_source("x = 1")
    global _BASELINE
    _BASELINE = _fingerprints()
    import gc

    gc.collect()
    gc.freeze()  # children share the worker's objects: the garbage collector leaves them alone (fewer copies)
    protections = ["own process and folder per exercise", "scrubbed environment", "time and memory limits"]
    if landlock_abi():
        protections.append(f"writes only in its folder (Landlock ABI {landlock_abi()})")
    if LINUX and os.geteuid() == 0:
        protections.append("no network")
    protocol.write(json.dumps({"ready": True, "protections": protections}) + "\n")
    protocol.flush()
    for line in sys.stdin:
        request = json.loads(line)
        results = [grade_in_child(item, root, timeout, memory) for item in request["items"]]
        protocol.write(json.dumps({"results": results}) + "\n")
        protocol.flush()


# Threads in the worker would make fork unsafe; the worker never starts one (this guards the assumption).
assert threading.current_thread() is threading.main_thread()
