"""`derive` is the only reader of PatientFacts (issue 16), checked on the source (ast).

The rule, for every module of src/ldncds/engine:

* facts.py defines the model and derive.py reads it. No other engine module reads a PatientFacts
  value at all: not its raw lists, and not its scalars either (a `facts.sex` read elsewhere would
  bypass derive just as much).
* Elsewhere a PatientFacts value (a parameter annotated `PatientFacts` or `PatientFacts | None`, or
  a local name bound to one) is only handed on: as a positional or keyword argument of a call, or
  bound to another local name. Every other use is refused: an attribute (`facts.notes`,
  `facts.model_copy`), a subscript, iteration, a comparison, `return facts`, storing it on an
  object, or giving it to a builtin (`getattr(facts, name)`, `vars(facts)`, `dict(facts)`).
* A call that receives it and that resolves to engine code (a function of the module, one imported
  from another engine module, or a method of the enclosing class) must take it in a parameter
  annotated `PatientFacts`, so the same rule follows the value there, down to derive. An engine
  class never receives it.
* Outside facts.py, PatientFacts is never a class field, a variable's or a return annotation, nor
  nested in a parameter's (`list[PatientFacts]` is refused, not followed), and the name is not used
  to build or inspect one. So a value leaves a function only as such an argument: `ctx.facts.notes`
  cannot be written, and derive.py cannot hand the facts out inside `Derived`.

Not followed: a value handed to a call the test cannot resolve to engine code, e.g. a method of
another object or the standard library (`copy_context().run(self._method, facts)`, which calls back
a method this rule checks); mypy (strict for the engine) checks the type such a callee takes.
"""

from __future__ import annotations

import ast
import builtins
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ENGINE = Path(__file__).resolve().parents[2] / "src" / "ldncds" / "engine"
MODEL = "facts"  # defines PatientFacts
READER = "derive"  # the one module that reads it
FACTS = "PatientFacts"
BUILTINS = frozenset(dir(builtins))


@dataclass
class _Module:
    name: str
    tree: ast.Module
    defs: dict[str, ast.AST] = field(default_factory=dict)  # top-level functions and classes
    imported: dict[str, tuple[str, str]] = field(default_factory=dict)  # local name -> (module, name)
    modules: dict[str, str] = field(default_factory=dict)  # local alias -> engine module
    outside: set[str] = field(default_factory=set)  # names imported from outside the engine

    @property
    def facts_names(self) -> set[str]:
        return {local for local, target in self.imported.items() if target == (MODEL, FACTS)}


def _engine_module(node: ast.ImportFrom) -> str | None:
    """The engine module an import names (`from .derive import x`, `from ldncds.engine.derive ...`)."""
    if node.level == 1:
        return node.module or ""
    if node.level == 0 and node.module and node.module.startswith("ldncds.engine"):
        return node.module.removeprefix("ldncds.engine").lstrip(".")
    return None


def _index(name: str, source: str) -> _Module:
    module = _Module(name, ast.parse(source))
    for node in module.tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            module.defs[node.name] = node
    for node in ast.walk(module.tree):
        if isinstance(node, ast.ImportFrom):
            target = _engine_module(node)
            for alias in node.names:
                local = alias.asname or alias.name
                if target is None:
                    module.outside.add(local)
                elif target == "":  # `from . import therapy as therapy_mod`
                    module.modules[local] = alias.name
                else:
                    module.imported[local] = (target, alias.name)
        elif isinstance(node, ast.Import):
            module.outside.update((a.asname or a.name).split(".")[0] for a in node.names)
    return module


def _annotation(node: ast.expr | None) -> ast.expr | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return ast.parse(node.value, mode="eval").body
    return node


def _mentions(node: ast.expr | None, names: set[str]) -> bool:
    node = _annotation(node)
    return node is not None and any(isinstance(n, ast.Name) and n.id in names for n in ast.walk(node))


def _is_facts(node: ast.expr | None, names: set[str]) -> bool:
    """`PatientFacts`, `PatientFacts | None` or `Optional[PatientFacts]`: one patient's facts."""
    node = _annotation(node)
    if isinstance(node, ast.Name):
        return node.id in names
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        sides = [node.left, node.right]
        nones = [s for s in sides if isinstance(s, ast.Constant) and s.value is None]
        return len(nones) == 1 and any(_is_facts(s, names) for s in sides if s not in nones)
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id == "Optional":
        return _is_facts(node.slice, names)
    return False


def _params(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.arg]:
    a = fn.args
    return [*a.posonlyargs, *a.args, *a.kwonlyargs, *(x for x in (a.vararg, a.kwarg) if x)]


def _functions(tree: ast.AST) -> Iterator[tuple[ast.FunctionDef | ast.AsyncFunctionDef, ast.ClassDef | None]]:
    """Every function, nested ones too, with the class it is a method of (None for a plain function)."""
    classes = {
        id(item): node for node in ast.walk(tree) if isinstance(node, ast.ClassDef) for item in node.body
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node, classes.get(id(node))


def _annotation_problems(module: _Module) -> Iterator[str]:
    names = module.facts_names
    if not names:
        return
    annotations: set[int] = set()
    for node in ast.walk(module.tree):
        if isinstance(node, ast.AnnAssign):
            annotations.update(id(n) for n in ast.walk(node.annotation))
            if _mentions(node.annotation, names):
                yield f"line {node.lineno}: holds PatientFacts in a field or variable"
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            if node.returns is not None:
                annotations.update(id(n) for n in ast.walk(node.returns))
                if _mentions(node.returns, names):
                    yield f"line {node.lineno}: {node.name} returns PatientFacts"
            for arg in _params(node):
                if arg.annotation is None:
                    continue
                annotations.update(id(n) for n in ast.walk(arg.annotation))
                if _mentions(arg.annotation, names) and not _is_facts(arg.annotation, names):
                    yield f"line {node.lineno}: {node.name}({arg.arg}) nests PatientFacts in its type"
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Name) and node.id in names and id(node) not in annotations:
            yield f"line {node.lineno}: builds or inspects PatientFacts"


@dataclass(frozen=True)
class _Call:
    module: _Module
    fn: ast.FunctionDef | ast.AsyncFunctionDef | None  # None: not engine code (not followed)
    offset: int  # leading parameters the call does not spell (self)
    problem: str | None = None


def _callee(call: ast.Call, here: _Module, cls: ast.ClassDef | None, modules: dict[str, _Module]) -> _Call:
    f = call.func
    if isinstance(f, ast.Name):
        if f.id in here.defs:
            return _resolved(here, here.defs[f.id], f.id)
        if f.id in here.imported:
            target, name = here.imported[f.id]
            other = modules.get(target)
            node = other.defs.get(name) if other else None
            return _resolved(other, node, name) if other and node else _Call(here, None, 0)
        if f.id in BUILTINS and f.id not in here.outside:
            return _Call(here, None, 0, f"gives it to the builtin {f.id}()")
    elif isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name):
        if f.value.id == "self" and cls is not None:
            method = next(
                (
                    n
                    for n in cls.body
                    if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == f.attr
                ),
                None,
            )
            return _Call(here, method, 1) if method else _Call(here, None, 0)
        if f.value.id in here.modules and (other := modules.get(here.modules[f.value.id])):
            node = other.defs.get(f.attr)
            return _resolved(other, node, f.attr) if node else _Call(here, None, 0)
    return _Call(here, None, 0)


def _resolved(module: _Module, node: ast.AST, name: str) -> _Call:
    if isinstance(node, ast.ClassDef):
        return _Call(module, None, 0, f"hands it to the class {name}, which would keep it")
    assert isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    return _Call(module, node, 0)


def _receiving(callee: _Call, call: ast.Call, arg: ast.expr) -> ast.arg | None:
    """The callee's parameter that receives `arg` (None: none does, it lands in *args/**kwargs)."""
    assert callee.fn is not None
    a = callee.fn.args
    for keyword in call.keywords:
        if keyword.value is arg:
            return next(
                (p for p in [*a.posonlyargs, *a.args, *a.kwonlyargs] if p.arg == keyword.arg), a.kwarg
            )
    positional = [*a.posonlyargs, *a.args][callee.offset :]
    index = call.args.index(arg)
    return positional[index] if index < len(positional) else a.vararg


def _use_problem(
    node: ast.Name,
    parent: ast.AST,
    here: _Module,
    cls: ast.ClassDef | None,
    modules: dict[str, _Module],
) -> str | None:
    if isinstance(parent, ast.Call) and (
        node in parent.args or any(k.value is node for k in parent.keywords)
    ):
        if any(k.value is node and k.arg is None for k in parent.keywords):
            return "unpacks it (**)"
        callee = _callee(parent, here, cls, modules)
        if callee.problem or callee.fn is None:
            return callee.problem
        param = _receiving(callee, parent, node)
        if param is None or not _is_facts(param.annotation, callee.module.facts_names):
            return f"hands it to {callee.fn.name}(), which does not take it as PatientFacts"
        return None
    if isinstance(parent, ast.Assign | ast.NamedExpr) and parent.value is node:
        targets = parent.targets if isinstance(parent, ast.Assign) else [parent.target]
        if all(isinstance(t, ast.Name) for t in targets):
            return None  # an alias, followed like the parameter
        return "stores it on an object"
    if isinstance(parent, ast.Attribute):
        return f"reads .{parent.attr}"
    return f"uses it in a {type(parent).__name__} expression"


def _flow_problems(module: _Module, modules: dict[str, _Module]) -> Iterator[str]:
    names = module.facts_names
    if not names:
        return
    for fn, cls in _functions(module.tree):
        tracked = {p.arg for p in _params(fn) if _is_facts(p.annotation, names)}
        if not tracked:
            continue
        parents = {id(child): node for node in ast.walk(fn) for child in ast.iter_child_nodes(node)}
        for node in ast.walk(fn):  # aliases: `same = facts` (flow-insensitive, so never fewer uses)
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Name) and node.value.id in tracked:
                tracked.update(t.id for t in node.targets if isinstance(t, ast.Name))
        for node in ast.walk(fn):
            if isinstance(node, ast.Name) and node.id in tracked and isinstance(node.ctx, ast.Load):
                parent = parents[id(node)]
                if isinstance(parent, ast.keyword):  # `f(facts=facts)`: the call is one level up
                    parent = parents[id(parent)]
                problem = _use_problem(node, parent, module, cls, modules)
                if problem:
                    yield f"line {node.lineno}: {fn.name}: {problem}"


def problems(sources: dict[str, str]) -> dict[str, list[str]]:
    """Per engine module (name without .py), how it breaks the rule."""
    modules = {name: _index(name, source) for name, source in sources.items()}
    found: dict[str, list[str]] = {}
    for name, module in sorted(modules.items()):
        if name == MODEL:
            continue
        hits = list(dict.fromkeys(_annotation_problems(module)))
        if name != READER:
            hits += dict.fromkeys(_flow_problems(module, modules))
        if hits:
            found[name] = sorted(hits, key=lambda hit: int(hit.split()[1].rstrip(":")))
    return found


def _engine_sources() -> dict[str, str]:
    return {p.stem: p.read_text(encoding="utf-8") for p in sorted(ENGINE.glob("*.py"))}


# ---------------------------------------------------------------------------------------- the rule


def test_derive_is_the_only_engine_module_that_reads_patient_facts() -> None:
    assert problems(_engine_sources()) == {}


def test_the_entries_that_hand_facts_on_are_the_ones_named() -> None:
    # Not vacuous: the rule has values to follow, and these are every function outside derive.py
    # that takes a PatientFacts (each hands it on; the rule above checks how).
    takers = set()
    for name, source in _engine_sources().items():
        module = _index(name, source)
        for fn, cls in _functions(module.tree):
            if name not in (MODEL, READER) and any(
                _is_facts(p.annotation, module.facts_names) for p in _params(fn)
            ):
                takers.add(f"{name}.{cls.name + '.' if cls else ''}{fn.name}")
    assert {"assess.Engine.assess", "assess.Engine.in_scope", "scope.in_scope"} <= takers
    assert all(t.startswith(("assess.", "scope.")) for t in takers), takers


# ------------------------------------------------------------------- the check catches what it says

_HEAD = "from .facts import PatientFacts\nfrom .derive import derive\nfrom . import therapy as therapy_mod\n"
_DERIVE = (
    "from .facts import PatientFacts\ndef derive(facts: PatientFacts, on, valuesets): return facts.notes\n"
)
_THERAPY = "def status(x, *rest): ...\n"


def _check(body: str) -> list[str]:
    sources = {"facts": "class PatientFacts: ...\n", "derive": _DERIVE, "therapy": _THERAPY}
    return problems(sources | {"assess": _HEAD + body}).get("assess", [])


def test_handing_facts_on_to_derive_or_a_method_that_takes_them_is_allowed() -> None:
    body = (
        "from contextvars import copy_context\n"
        "def entry(facts: PatientFacts | None, on):\n"
        "    same = facts\n"
        "    return derive(same, on, None), derive(facts=facts, on=on, valuesets=None)\n"
        "class Engine:\n"
        "    def assess(self, facts: PatientFacts, on):\n"
        "        return copy_context().run(self._bare, facts, on), self._bare(facts, on)\n"
        "    def _bare(self, facts: PatientFacts, on):\n"
        "        return derive(facts, on, None)\n"
    )
    assert _check(body) == []


_METHOD_TAKING_ANY = (
    "class C:\n    def f(self, facts: PatientFacts): return self.g(facts)\n    def g(self, x): ..."
)


def test_reading_facts_outside_derive_is_refused() -> None:
    reads = {
        "def f(facts: PatientFacts): return facts.observations": "reads .observations",
        "def f(facts: PatientFacts): return list(facts.notes or [])": "reads .notes",
        "def f(facts: PatientFacts): return facts.model_copy()": "reads .model_copy",
        "def f(facts: PatientFacts): return getattr(facts, 'notes')": "builtin getattr()",
        "def f(facts: PatientFacts): return dict(facts)": "builtin dict()",
        "def f(facts: PatientFacts): return [n for n in facts]": "comprehension",
        "def f(facts: PatientFacts):\n    other = facts\n    return other.medications": "reads .medications",
        "def f(facts: PatientFacts): return lambda: facts.incomplete": "reads .incomplete",
        "def f(facts: PatientFacts): return facts": "Return",
        "def f(facts: PatientFacts, box): box.facts = facts": "stores it on an object",
        "def f(facts: PatientFacts): return therapy_mod.status(facts)": "status(), which does not take it",
        "def f(facts: PatientFacts): return g(facts)\ndef g(x): return x.notes": "g(), which does not",
        "def f(facts: PatientFacts): return derive(**{'facts': facts})": "Dict expression",
        "def f(facts: PatientFacts): return derive(x=facts)\n": "derive(), which does not",
        _METHOD_TAKING_ANY: "hands it to g()",
    }
    for body, expected in reads.items():
        found = _check(body)
        assert any(expected in p for p in found), (body, found)


def test_holding_facts_where_the_rule_cannot_follow_them_is_refused() -> None:
    held = {
        "class Ctx:\n    facts: PatientFacts": "holds PatientFacts in a field",
        "def f() -> PatientFacts: ...": "f returns PatientFacts",
        "def f(many: list[PatientFacts]): ...": "nests PatientFacts",
        "def f(facts: PatientFacts):\n    return Ctx(facts)\nclass Ctx: ...": "the class Ctx",
        "def f(raw):\n    return PatientFacts.model_validate(raw).notes": "builds or inspects PatientFacts",
    }
    for body, expected in held.items():
        found = _check(body)
        assert any(expected in p for p in found), (body, found)


def test_derive_may_read_but_not_hand_the_facts_out() -> None:
    sources = {
        "facts": "class PatientFacts: ...\n",
        "derive": _DERIVE + "class Derived:\n    facts: PatientFacts\n",
    }
    assert problems(sources) == {"derive": ["line 4: holds PatientFacts in a field or variable"]}
