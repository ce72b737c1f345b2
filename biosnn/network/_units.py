"""A network library built from translation units, each object cached by its own hash.

:func:`biosnn.network._cengine.generate_units` cuts a network's C source into units (one
per non-exact population, one for the step loop).  :func:`build` compiles only the units
whose object is not in the cache, in parallel (one compiler process each), and links all
objects into one shared library, stored like every library of the cache
(``c/<sha256 of its bytes>.so``).  So a change to one equation recompiles only the units
whose text it changes and relinks: a synapse equation or statement, or a reset, is in
the step loop (``net``); a neuron equation or threshold only in its population's unit
(``pop<k>``, called by name from the loop).  The other objects are reused.

Cache records (:mod:`biosnn.cache`'s trust rules): an object is a blob
``c/<sha256 of its bytes>.o``, found through a ref ``netobj-<k>.ref`` where ``k`` hashes
the package key, the compiler identity, the flags, the CPU, the unit's name and its text.
The object's bytes are read and hash-checked, then written into the private temporary
directory the linker runs in: a damaged or replaced object is a miss (recompiled), never
linked.  A ref ``netobj-<l>.ref`` (``l`` hashes the same identities and every unit's
name and text) names the library built from exactly those units, so a change that
alters no C text (the equations of an 'exact' population: its propagator is an input)
compiles and links nothing; the library is hash-checked before use like every library.
A network of one unit (only 'exact' populations) is compiled and linked in one compiler
run, as before the units existed: no object to reuse, one process less.
"""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

__all__ = ["build"]


def _object_ref(folder: Path, parts: list) -> Path:
    key = hashlib.sha256("\0".join(parts).encode()).hexdigest()
    return folder / f"netobj-{key}.ref"


def build(compiler, flags: tuple, cpu: str, units: list, source: str) -> tuple[Path, list]:
    """Compile the missing units, link, store the library; ``(library path, names of
    the units compiled)``.

    Parameters
    ----------
    compiler : biosnn.codegen.c_build.Compiler
    flags : tuple of str
        The full flags of the library (with ``-shared``); units get them without
        ``-shared``, with ``-c``.
    cpu : str
        The CPU identity (``-march=native`` code differs between CPUs).
    units : list of (name, text)
        Names are plain tokens (``net``, ``pop0``); texts are generated C.
    source : str
        The whole source (stored as a ``.c`` blob next to the library, for reading).
    """
    from biosnn import cache
    from biosnn.codegen import c_build

    folder = c_build.cache_dir()
    common = [cache.package_key(), compiler.identity, " ".join(flags), cpu]
    # the same unit texts were built before (an edit that changed no C text, such as
    # an exact population's equation: its propagator is an input): that library
    lib_ref = _object_ref(folder, [*common, "library", *(f"{n}\0{t}" for n, t in units)])
    lib = c_build._verified(folder, cache.read_ref(lib_ref))
    if lib is not None:
        cache.put_blob(folder, source.encode(), ".c")
        return lib, []
    cache.clean_stale(folder)
    with cache.temp_dir(folder) as tmp:
        tmp = Path(tmp)
        if len(units) == 1:
            # one unit (only exact populations): compile and link in one compiler run
            ((name, text),) = units
            (tmp / f"{name}.c").write_text(text)
            c_build._run(compiler, [*flags, "-o", "lib.so", f"{name}.c", "-lm"], cwd=tmp)
            todo = [name]
        else:
            todo = _objects(compiler, flags, common, units, folder, tmp)
            objects = [f"{name}.o" for name, _ in units]
            c_build._run(compiler, [*flags, "-o", "lib.so", *objects, "-lm"], cwd=tmp)
        data = (tmp / "lib.so").read_bytes()
    lib = folder / f"{hashlib.sha256(data).hexdigest()}.so"
    if not lib.exists():
        cache.write_atomic(lib, data)
    cache.write_ref(lib_ref, lib.stem)
    cache.put_blob(folder, source.encode(), ".c")
    return lib, todo


def _objects(compiler, flags, common, units, folder, tmp) -> list:
    """Put every unit's object into ``tmp`` (``<name>.o``): the cached one, hash-checked,
    or compiled (the missing ones in parallel, then cached); the names compiled.
    """
    from biosnn import cache
    from biosnn.codegen import c_build

    unit_flags = [f for f in flags if f != "-shared"]
    todo, refs = [], {}
    for name, text in units:
        refs[name] = ref = _object_ref(folder, [*common, name, text])
        digest = cache.read_ref(ref)
        data = cache.read_blob(folder, digest, ".o") if digest else None
        if data is not None:
            (tmp / f"{name}.o").write_bytes(data)
        else:
            (tmp / f"{name}.c").write_text(text)
            todo.append(name)

    def compile_one(name):
        c_build._run(compiler, [*unit_flags, "-c", "-o", f"{name}.o", f"{name}.c"], cwd=tmp)

    if todo:
        with ThreadPoolExecutor(max_workers=len(todo)) as pool:
            list(pool.map(compile_one, todo))  # list(): the first CompilerError is raised
    for name in todo:
        digest = cache.put_blob(folder, (tmp / f"{name}.o").read_bytes(), ".o")
        cache.write_ref(refs[name], digest)
    return todo
