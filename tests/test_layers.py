"""The layer contract of biosnn (docs/architecture.md, "Layers"), checked on the source.

Every module's imports are read with :mod:`ast` - at module level *and* inside functions
(a function-level import that goes upward is a cycle that only waits for its first call)
- and each one must go to the module's own layer or to a layer below; and the import
graph of biosnn's modules must have no cycle.  Failures name the module, the line and the
imported module.

What counts as an import of a biosnn module:

* ``import biosnn.x.y``, ``from biosnn.x import y`` (``y`` a submodule, else ``biosnn.x``),
  relative imports;
* ``from biosnn.pkg import NAME`` where the package's ``__init__.py`` resolves ``NAME``
  lazily through its ``_LAZY`` table (``biosnn``, ``biosnn.equations`` ...), and ``import
  biosnn`` followed by ``biosnn.NAME``: an import of the module that defines ``NAME``
  (``biosnn.__version__`` is the root package's own);
* ``importlib.import_module("biosnn.x")`` with a literal name.

The root package itself imports nothing at module level (its ``_LAZY`` imports happen when
a name is first used); it is the public face, not a layer.
"""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: Bottom to top.  A module belongs to the layer of its longest matching prefix.  Within a
#: layer, imports go any way that makes no cycle.
LAYERS = (
    (
        "base",
        (
            "biosnn.errors",
            "biosnn.names",
            "biosnn.jsonable",
            "biosnn._memory",
            "biosnn._interrupt",
            "biosnn._outputs",
            "biosnn.cache",
            "biosnn.units",
            "biosnn.stimulus",
        ),
    ),
    # the vocabulary of the equation language and its numeric meaning: the sympy
    # functions the parser builds (with their NumPy and C definitions) and the printer
    # that evaluates sympy expressions; below equations, which need both
    (
        "expressions",
        (
            "biosnn.codegen.safe_numpy",
            "biosnn.codegen.functions",
            "biosnn.codegen.numeric_source",
        ),
    ),
    ("equations", ("biosnn.equations",)),
    # methods as data (tableaux, noise, step-size control, the checked run request):
    # printed into C by codegen, run by the NumPy drivers
    (
        "methods",
        (
            "biosnn.solvers.tableaux",
            "biosnn.solvers.noise",
            "biosnn.solvers.controllers",
            "biosnn.solvers.request",
        ),
    ),
    ("codegen", ("biosnn.codegen",)),
    ("solvers", ("biosnn.solvers",)),
    ("analysis, network", ("biosnn.analysis", "biosnn.network", "biosnn.spikes")),
    ("interface", ("biosnn.cli", "biosnn.demo", "biosnn.__main__")),
)

#: The only imports allowed to go upward, each with its reason.  Keep this short.
ALLOWED_UPWARD = {
    ("biosnn.equations.model", "biosnn.codegen.lower"): (
        "Model.kernel_spec() and Model.layout are conveniences that call the lowering "
        "stage inside the method (biosnn.codegen.lower imports no biosnn.equations.model)"
    ),
}


def modules(root: Path) -> dict:
    """Dotted module name -> path, for every ``.py`` file of the package under ``root``."""
    out = {}
    for path in sorted((root / "biosnn").rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _lazy_table(path: Path) -> dict:
    """``_LAZY`` of a package's ``__init__.py`` (public name -> module), or {}."""
    tree = ast.parse(path.read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "_LAZY" for t in node.targets
        ):
            return ast.literal_eval(node.value)
    return {}


def imports(root: Path) -> list:
    """``(module, line, imported module)`` for every import of a biosnn module."""
    mods = modules(root)
    lazy = {m: _lazy_table(p) for m, p in mods.items() if p.name == "__init__.py"}

    def resolve(name):
        while name not in mods and "." in name:
            name = name.rsplit(".", 1)[0]
        return name if name in mods else None

    def from_package(package, name):
        """The module ``from package import name`` reads: a submodule, the module named
        by the package's ``_LAZY`` table, else the package itself.
        """
        if f"{package}.{name}" in mods:
            return f"{package}.{name}"
        if name in lazy.get(package, {}):
            return lazy[package][name]
        return package if package != "biosnn" else None  # biosnn.__version__

    found = []
    for module, path in mods.items():
        if module == "biosnn":
            continue
        package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
        tree = ast.parse(path.read_text(), str(path))
        targets = []
        root_bound = False
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name == "biosnn":
                        root_bound = root_bound or alias.asname is None
                    elif alias.name.startswith("biosnn."):
                        targets.append((node.lineno, resolve(alias.name)))
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    name = ".".join(base + ([node.module] if node.module else []))
                else:
                    name = node.module or ""
                if name == "biosnn" or name.startswith("biosnn."):
                    package = name if name in lazy else resolve(name)
                    targets += [(node.lineno, from_package(package, a.name)) for a in node.names]
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "import_module"
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and str(node.args[0].value).startswith("biosnn")
            ):
                targets.append((node.lineno, resolve(node.args[0].value)))
        if root_bound:  # ``import biosnn``: the names it is used for
            for node in ast.walk(tree):
                if (
                    isinstance(node, ast.Attribute)
                    and isinstance(node.value, ast.Name)
                    and node.value.id == "biosnn"
                ):
                    targets.append((node.lineno, from_package("biosnn", node.attr)))
        found += [(module, line, t) for line, t in targets if t is not None and t != module]
    return sorted(set(found))


def layer_of(module: str, layers=LAYERS):
    """Index of the layer of ``module`` (longest prefix), or None."""
    best = None
    for k, (_, prefixes) in enumerate(layers):
        for prefix in prefixes:
            if module == prefix or module.startswith(prefix + "."):
                if best is None or len(prefix) > best[1]:
                    best = (k, len(prefix))
    return None if best is None else best[0]


def violations(root: Path, layers=LAYERS, allowed=ALLOWED_UPWARD) -> list:
    """One line per upward import, unplaced module and cycle (empty: the contract holds)."""
    problems = []
    mods = modules(root)
    for module in mods:
        if module != "biosnn" and layer_of(module, layers) is None:
            problems.append(f"{module}: in no layer (add it to LAYERS in tests/test_layers.py)")
    edges = {}
    for module, line, target in imports(root):
        where = f"{mods[module].relative_to(root)}:{line}"
        if (module, target) in allowed:
            continue
        a, b = layer_of(module, layers), layer_of(target, layers)
        if a is not None and b is not None and b > a:
            problems.append(
                f"{where}: {module} ({layers[a][0]}) imports {target} ({layers[b][0]}), "
                "a layer above it"
            )
        edges.setdefault(module, {}).setdefault(target, where)
    problems += [f"import cycle: {c}" for c in _cycles(edges)]
    return problems


def _cycles(edges: dict) -> list:
    """Each strongly connected component of more than one module, as one cycle through it
    (``a (file:line) -> b (file:line) -> a``).
    """
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def connect(v):  # Tarjan
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, {}):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(_one_cycle(sorted(component), edges))

    for v in sorted(edges):
        if v not in index:
            connect(v)
    return out


def _one_cycle(component: list, edges: dict) -> str:
    """A path from the first module of ``component`` back to it, with the import lines."""
    inside = set(component)
    start = component[0]
    paths = {start: [start]}
    todo = [start]
    while todo:  # breadth first: the shortest cycle through ``start``
        v = todo.pop(0)
        for w, where in sorted(edges.get(v, {}).items()):
            if w == start:
                path = paths[v] + [start]
                hops = [f"{a} ({edges[a][b]})" for a, b in zip(path, path[1:])]
                return " -> ".join(hops + [start])
            if w in inside and w not in paths:
                paths[w] = paths[v] + [w]
                todo.append(w)
    return " <-> ".join(component)


def test_every_import_goes_down_and_there_is_no_cycle():
    problems = violations(ROOT)
    assert not problems, "\n".join(problems)


def test_the_allowed_upward_imports_exist():
    # an exception that is no longer needed must be removed from ALLOWED_UPWARD
    edges = {(m, t) for m, _, t in imports(ROOT)}
    assert set(ALLOWED_UPWARD) <= edges


def _package(tmp_path: Path, files: dict) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return tmp_path


def test_the_checker_finds_an_upward_import_inside_a_function_and_a_cycle(tmp_path):
    # a made-up package: low imports high inside a function (line 3), high and mid import
    # each other (a cycle), and the root's lazy table resolves ``biosnn.thing``
    root = _package(
        tmp_path,
        {
            "biosnn/__init__.py": '_LAZY = {"thing": "biosnn.high"}\n',
            "biosnn/low.py": "def f():\n    x = 1\n    from biosnn.high import g\n",
            "biosnn/mid.py": "import biosnn.high\n",
            "biosnn/high.py": "from biosnn import mid\n",
            "biosnn/user.py": "import biosnn\n\n\ndef f():\n    return biosnn.thing\n",
            "biosnn/stray.py": "",
        },
    )
    layers = (
        ("bottom", ("biosnn.low",)),
        ("middle", ("biosnn.mid", "biosnn.high")),
        ("top", ("biosnn.user",)),
    )
    problems = violations(root, layers, allowed={})
    assert (
        "biosnn/low.py:3: biosnn.low (bottom) imports biosnn.high (middle), a layer above it"
        in problems
    )
    assert "biosnn.stray: in no layer (add it to LAYERS in tests/test_layers.py)" in problems
    assert (
        "import cycle: biosnn.high (biosnn/high.py:1) -> biosnn.mid (biosnn/mid.py:1) "
        "-> biosnn.high" in problems
    )
    assert ("biosnn.user", 5, "biosnn.high") in imports(root)  # through _LAZY
    assert len(problems) == 3
    # the allowance removes exactly its edge
    allowed = {("biosnn.low", "biosnn.high"): "test"}
    assert len(violations(root, layers, allowed=allowed)) == 2
