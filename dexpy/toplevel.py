"""The pipeline, one top-level block at a time.

    text -> blocks -> groups -> surface AST -> infer (Core) -> simplify (Simp)
         -> lower (Imp) -> LLVM -> JIT -> values -> printed `> ` lines

`Session` holds the environment of everything evaluated so far (prelude,
imports, earlier blocks). `eval_block` never raises for a user error: errors
become output lines, so the file/REPL goes on with the next block.
"""
from __future__ import annotations

import dataclasses
import os
import pickle
import sys
import time
import traceback
from collections.abc import Iterator
from pathlib import Path

from .deep import call_deep
from .backend.jit import optimization
from .block_cache import Chain
from .backend.run import TopValue, run_function
from .core import ir
from .core.check import check_core
from .core.pretty import pp_type
from .errors import DexError, ParseError, TypeErr, checks_enabled
from .infer.decls import Evaluate, ShowHtml, ShowType, elab_top
from .infer.env import FailedB, TopEnv
from .infer.records import declare as declare_records
from .infer.unify import normalize
from .names import Name, NameSupply
from .outputs import ErrorOut, HtmlOut, HtmlSink, Output, TimingOut, from_lines, text_lines
from .printer import format_static, format_value
from .printer2021 import format_static as format_static_2021
from .printer2021 import format_value as format_value_2021
from .printer2021 import show_type as show_type_2021
from .printer2021 import show_type_value as show_type_value_2021
from .resources import dialect2021_prelude_path, dialect2022_prelude_path, lib_dir, prelude_path
from .simp import ir as S
from .simplify import SType, Simplifier
from .source import SourceFile
from .syntax import surface as Surf
from .syntax import dialect as dialect_names
from .syntax.dialect2021 import desugar_top as desugar_2021
from .syntax.dialect2022 import desugar_top as desugar_2022, pre_nat as pre_nat_2022
from .infer.redefine import drop_replaced, instance_counts
from .syntax.dialect2021 import instance_parts as instance_parts_2021
from .syntax.parse import parse_file, reparse_2021
from .tiers import block_level


class Session:
    """A Dex top-level environment (a file being run, or a REPL)."""

    def __init__(self, *, load_prelude: bool = True, lib_path: tuple[str, ...] = (),
                 prelude: str | None = None, dump: str | None = None,
                 tiered: bool = False, redefine: bool = False, dialect: str | None = None) -> None:
        self.lib_path = tuple(lib_path)
        # the Dex dialect this session reads (dexpy/syntax/dialect.py, docs/dialects.md):
        # the 2021 front end desugars its forms before inference, and "2021" adds the
        # 2021 prelude layer (lib/dialect2021/prelude.dx) after the prelude
        self.dialect = dialect_names.normalize(dialect) or dialect_names.TODAY
        self.front_2021 = False
        # the REPL and the notebook kernel: a new top-level definition of a name replaces
        # the old one for later blocks (uses compiled before keep the old value); files
        # keep upstream's rule that a redefinition is an error
        self.redefine = redefine
        # blocks that run once on little data get LLVM's quick level (dexpy.tiers); the
        # command line and dexpy.api turn this on, a bare Session compiles all at O3
        self.tiered = tiered
        self.dump: str | None = None               # `--dump=simp|llvm`: print that IR to stderr
        self.names = NameSupply()
        self.env = TopEnv()
        self.values: dict[Name, TopValue] = {}
        self.value_types: dict[Name, S.Type] = {}
        self.prelude_errors: list[str] = []
        # the prelude's scope without a dialect's layer: library modules (lib/*.dx) are
        # today's Dex and are checked in it (docs/dialects.md, "Library modules")
        self.today_scope: dict | None = None
        self.import_depth = 0                      # modules being loaded (nested imports)
        self.modules: dict[str, dict] = {}        # module name -> the bindings it defines
        self.module_errors: dict[str, list[str]] = {}   # module name -> its failed blocks
        self.origins: dict[str, str] = {}         # imported name -> its module
        self.search_dirs: tuple[str, ...] = ()    # the running file's folder comes first
        # what the environment is built from, while that is only the prelude and
        # imports (the key under which an import's result is cached); None after
        # anything else was evaluated
        self.state_key: str | None = None
        # everything evaluated so far, hashed: the key of blocks' cached Simp functions
        self.chain = Chain()
        self.loaded_files: list[Path] = []
        if load_prelude:
            self.load_prelude(Path(prelude) if prelude else prelude_path())
        if self.dialect != dialect_names.TODAY:     # the dialect keys the block cache
            self.chain.add("dialect", self.dialect)
        # the prelude and its layers are today's Dex; the file's blocks are in the dialect
        self.front_2021 = dialect_names.uses_2021_front_end(self.dialect)
        self.prelude_scope = dict(self.env.scope)
        if self.today_scope is None:
            self.today_scope = self.prelude_scope
        self.dump = dump

    def load_prelude(self, path: Path) -> None:
        """Checks and evaluates the prelude, or restores it from the on-disk cache
        (keyed by its text and dexpy's own sources; a bad entry is just rebuilt)."""
        from . import cache
        layer = {"2021": dialect2021_prelude_path,
                 "2022": dialect2022_prelude_path}.get(self.dialect, lambda: None)()
        key = _prelude_key(path) if layer is None else _prelude_key(path, layer)
        blob = cache.load("prelude", key) if cache.enabled() else None
        if blob is not None:
            try:
                (self.env, self.names, self.values, self.value_types,
                 self.prelude_errors, self.today_scope) = pickle.loads(blob)
                self.state_key = key
                self.chain = Chain(key)
                return
            except Exception:  # noqa: BLE001 -- a stale or corrupt entry: check the prelude again
                self.env, self.names, self.values, self.value_types = TopEnv(), NameSupply(), {}, {}
                self.prelude_errors = []
        self.load_module(path, self.prelude_errors)
        if layer is not None:
            self.today_scope = dict(self.env.scope)
            self.load_layer(layer)
        self.state_key = key
        self.chain = Chain(key)
        if cache.enabled():
            state = (self.env, self.names, self.values, self.value_types, self.prelude_errors,
                     self.today_scope)
            try:
                cache.store("prelude", key, pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL))
            except Exception:  # noqa: BLE001 -- caching is an optimization only
                pass

    def load_module(self, path: Path, errors: list[str]) -> None:
        """Checks and evaluates the blocks of `path`, all on one deep thread (`call_deep`
        per block started a thread for each block's parse and evaluation: the prelude's
        654 blocks spent 0.15-1 s starting threads)."""
        call_deep(self._load_module, path, errors)

    def _load_module(self, path: Path, errors: list[str]) -> None:
        self.loaded_files.append(path)
        src = SourceFile(str(path), path.read_text())
        for block, out in self.run_source(src):
            if block.error is not None or any(_is_error(l) for l in out):
                errors.append(block.text.strip().splitlines()[0] if block.text.strip() else "")
                errors.extend(out)

    def load_layer(self, path: Path) -> None:
        """A dialect's prelude layer: it may redefine prelude names (the 2021 `ordinal`)."""
        redefine, self.redefine = self.redefine, True
        try:
            self.load_module(path, self.prelude_errors)
        finally:
            self.redefine = redefine

    def set_dialect(self, name: str) -> str:
        """Reads the blocks that follow in dialect `name` (the REPL's `:dialect`); entering
        2021 adds its prelude layer. Returns the dialect now read."""
        new = dialect_names.normalize(name) or dialect_names.TODAY
        if self.dialect == "2021" and new != "2021":
            raise DexError("the 2021 prelude layer cannot be taken out of a running session "
                           "(it redefines `ordinal` and `size`): start a new one to leave 2021")
        if new == "2021" and self.dialect != "2021":
            self.today_scope = dict(self.env.scope)
            self.load_layer(dialect2021_prelude_path())
        self.dialect = new
        self.front_2021 = dialect_names.uses_2021_front_end(new)
        self.chain.add("dialect", new)
        return new

    def names_in_scope(self) -> list[str]:
        return sorted(n for n in self.env.scope if not n.startswith("\0"))

    def run_source(self, src: SourceFile) -> Iterator[tuple[Surf.TopBlock, list[str]]]:
        """Parses `src` and evaluates each block in turn."""
        if Path(src.name).is_file() and not self.search_dirs:
            self.search_dirs = (str(Path(src.name).resolve().parent),)
        for block in parse_file(src, self.front_2021):
            yield block, self.eval_block(block)

    timing: _Timing | None = None
    # where the text presenters write `:html` outputs (`--html-dir`); None: a placeholder
    html_sink: HtmlSink | None = None

    def eval_block(self, block: Surf.TopBlock) -> list[str]:
        """Evaluates one block; returns its output lines (without the `> ` prefix)."""
        return text_lines(self.eval_outputs(block), self.html_sink)

    def eval_outputs(self, block: Surf.TopBlock) -> list[Output]:
        """Evaluates one block; returns its outputs (dexpy.outputs), which every
        presenter renders. Never raises for a user error: it is an ErrorOut."""
        if block.directive and block.directive[0] in ("time", "bench") and self.timing is None:
            self.timing = _Timing(block.directive)
            try:
                return self.eval_outputs(block) + [TimingOut(tuple(self.timing.report()))]
            finally:
                self.timing = None
        try:
            return self.run_outputs(block)
        except DexError as e:
            return [ErrorOut.of(e)]
        except RecursionError:
            return [ErrorOut("Compiler bug!\nrecursion limit exceeded", "Compiler bug")]
        except Exception as e:  # a bug in dexpy: report it, keep the session alive
            if os.environ.get("DEXPY_DEBUG"):
                raise
            detail = traceback.format_exception_only(type(e), e)[-1].strip()
            return [ErrorOut(f"Compiler bug!\n{detail}", "Compiler bug")]

    def run_block(self, block: Surf.TopBlock) -> list[str]:
        """Evaluates one block; returns its output lines; a user error raises DexError."""
        return text_lines(self.run_outputs(block), self.html_sink)

    def run_outputs(self, block: Surf.TopBlock) -> list[Output]:
        """Evaluates one block; returns its outputs; a user error raises DexError.
        The one way a block enters the session: every block, whatever its origin (a
        file, the REPL, the Python API), is recorded in the history that keys the block
        cache (`self.chain`) before it runs, so a cached function is only ever taken for
        the same history."""
        self.chain.add("block", block.span.source.name if block.span.source else "",
                       block.span.start, block.text)
        if block.error is not None and self.front_2021:
            block = reparse_2021(block) or block      # 2021 `data`/`interface`/`instance`
        if block.error is not None:
            err = block.error
            if isinstance(err, DexError):
                raise err
            raise ParseError(f" {err}")
        if block.decl is None:
            return []
        if not isinstance(block.decl, Surf.Import):
            self.state_key = None
        try:        # on a big stack: deep but ordinary nesting compiles (dexpy/deep.py)
            return from_lines(call_deep(self.eval_decl, block.decl))
        except RecursionError:
            raise DexError("expression nested too deeply", block.span) from None

    def eval_decl(self, decl: Surf.TopDecl) -> list[str]:
        if isinstance(decl, Surf.Import):
            return self.import_module(decl)
        if self.front_2021 and isinstance(decl, Surf.InstanceDecl):
            return self._eval_instance_2021(decl)
        return self._redefining(decl) if self.redefine else self._eval_decl(decl)

    def _eval_instance_2021(self, decl: Surf.InstanceDecl) -> list[str]:
        """A 2021 instance: methods under 2021 names (`add`, `sub`, `scaleVec`) are
        today's, maybe of two classes; an unknown method is reported without a
        location, as 2021 Dex did. One whose head repeats an instance in scope
        replaces it."""
        out: list[str] = []
        try:
            for part in instance_parts_2021(decl):
                before = instance_counts(self.env)
                out += self._redefining(part) if self.redefine else self._eval_decl(part)
                # as that time's prelude had none, a file's instance may repeat the head
                # of one today's has (`instance [Add a, Add b] Add (a & b)`): it replaces it
                drop_replaced(self.env, before)
        except TypeErr as exc:
            if exc.message.startswith("not a method name") or " is not a method of " in exc.message:
                raise TypeErr(exc.message) from None
            raise
        return out

    def _shadow_prelude(self, decl: Surf.TopDecl) -> None:
        """A 2021 file may define a function of today's prelude (`def the`, `project`:
        2021's had none of that name); the file's hides the prelude's from then on.
        Class methods stay taken (`idiv = 1` is already defined, as in 2021)."""
        names = {n for n in _bound_names(decl) if n in self.prelude_scope
                 and self.env.scope.get(n) is self.prelude_scope[n]
                 and n not in self.env.method_names}
        if names:
            _unbind(self.env, names)

    def _redefining(self, decl: Surf.TopDecl) -> list[str]:
        scope, ambiguous = _unbind(self.env, _bound_names(decl))
        before = instance_counts(self.env)
        try:
            out = self._eval_decl(decl)
        except BaseException:       # a failed redefinition keeps the old definition
            self.env.scope.update(scope)
            self.env.ambiguous.update(ambiguous)
            raise
        drop_replaced(self.env, before)     # a repeated instance head replaces the old one
        return out

    def _eval_decl(self, decl: Surf.TopDecl) -> list[str]:
        if self.front_2021:
            self._shadow_prelude(decl)
            # 2021's integer literals are Int first; the 2022-23 form's are Nat, as today's
            if self.dialect == "2022":      # that time's own instance forms (dialect2022.py)
                if pre_nat_2022(decl):      # read with `Int` literals: keys the block cache
                    self.chain.add("era", "pre-Nat")
                decl = desugar_2022(decl)
            decl = desugar_2021(decl, self.env.scope.__contains__, self.dialect == "2021")
            if declare_records(self.env, self.names, decl):     # 2021 record/variant shapes
                return []           # a row-polymorphic def: a template (infer/records.py)
        try:
            action = elab_top(self.env, self.names, decl)
        except DexError:
            name = _defined_name(decl)
            if name is not None and name not in self.env.scope:
                self.env.scope[name] = FailedB()
            raise
        match action:
            case ShowType(ty):
                from .infer.topconst import with_constants
                show = show_type_2021 if self.dialect == "2021" else pp_type
                return [show(normalize(with_constants(self.env, ty), self.env))]
            case Evaluate(name, core, ty):
                return self.evaluate(name, core, ty)
            case ShowHtml(core):
                return self.show_html(core)
        return []

    def evaluate(self, name: Name | None, core: ir.Expr, ty: ir.Expr) -> list[str]:
        try:
            return self._evaluate(name, core, ty)
        except BaseException:
            if name is not None:     # a value that could not be computed is not defined
                from .core.traverse import free_vars
                for src, b in list(self.env.scope.items()):
                    bound = getattr(b, "name", None)
                    if bound == name:
                        del self.env.scope[src]
                    elif bound in self.env.defs and name in free_vars(self.env.defs[bound]):
                        self.env.scope[src] = FailedB()     # a pattern variable of that value
            raise

    def _simplify(self, core: ir.Expr) -> tuple[S.SimpFunction | None, Simplifier | None, object]:
        """A block's Simp function from the block cache, else (None, the simplifier,
        the block's simplified value): the caller decides whether the value compiles
        (`_function`), is a type, or is static. Checks Core first under DEXPY_CHECK=1."""
        if checks_enabled():
            check_core(core, _TopNames(self))
        fn = self.chain.load(self.names)
        if fn is not None:
            return fn, None, None
        simp = Simplifier(self.env, self.names, self.value_types)
        return None, simp, simp.ev(core, {})

    def _function(self, simp: Simplifier, value: object) -> S.SimpFunction:
        """The Simp function computing `value`, stored in the block cache."""
        fn = simp.function(value, known=self._known_int)
        self.chain.store(fn, self.names)
        return fn

    def _known_int(self, a: S.Atom) -> int | None:
        """The value of an integer top-level value a block uses (for `fuse_gathers`)."""
        from .tiers import param_bound
        v = self.values.get(a.name) if isinstance(a, S.Var) else None
        return None if v is None else param_bound(a, v)

    def _evaluate(self, name: Name | None, core: ir.Expr, ty: ir.Expr) -> list[str]:
        fn, simp, value = self._simplify(core)
        if fn is None:
            if isinstance(value, SType):
                if name is not None:
                    self.env.defs[name] = core
                    return []
                show_ty = show_type_value_2021 if self.dialect == "2021" else _show_type_value
                return [show_ty(normalize(simp.resolve_type(value), self.env))]
            if name is None and not simp.b.lets and not _has_data(value):   # static values
                static = format_static_2021 if self.dialect == "2021" else format_static
                return [static(self.env, ty, value)]
            fn = self._function(simp, value)
        out, lines = self._run(fn)
        if name is not None:
            self.values[name] = out
            self.value_types[name] = out.ty
            self.chain.add("value", pickle.dumps(out.ty, protocol=pickle.HIGHEST_PROTOCOL))
            from .infer.topconst import record_constant      # `Fin d` is `Fin 2` after `d = 2`
            consts = record_constant(self.env, name, ty, out.scalar_parts())
            if consts:
                self.chain.add("constants", repr(consts))
            return lines
        show = format_value_2021 if self.dialect == "2021" else format_value
        return lines + show(self.env, ty, out.to_python()).split("\n")

    def _run(self, fn: S.SimpFunction) -> tuple[TopValue, list[str]]:
        """Compiles and runs a block's function: its value and the lines it printed.
        It is compiled for the values of the earlier top-level integers it uses
        (`simplify.constants`)."""
        from .simplify.constants import bind_constants
        fn, args = bind_constants(fn, [self.values[p.name] for p in fn.params])
        self.dump_ir(fn)
        if self.timing is not None and self.timing.bench:    # runs many times: O3
            out, printed = self.timing.run(fn, args)
        else:       # runs once (`%time` too): LLVM's effort as its work bound deserves
            run = run_function if self.timing is None else self.timing.run
            with optimization(block_level(fn, args, self.tiered)):
                out, printed = run(fn, args)
        return out, printed.split("\n")[:-1] if printed else []

    def show_html(self, core: ir.Expr) -> list[str | Output]:
        """`:html e` (e : String, checked by elab_top): evaluates e; its text is the
        block's HTML output, after any lines e printed."""
        fn, simp, value = self._simplify(core)
        if fn is None:
            if isinstance(value, SType):
                raise DexError("`:html` needs a String")
            fn = self._function(simp, value)
        out, lines = self._run(fn)
        return [*lines, HtmlOut(_dex_string(out.to_python()))]

    def dump_ir(self, fn: S.SimpFunction) -> None:
        """`--dump=simp|imp|llvm|llvm-opt`: the block's IR on stderr (like upstream's %passes)."""
        if self.dump == "simp":
            from .simp.pretty import pp_function
            print(pp_function(fn), file=sys.stderr)
        elif self.dump in ("imp", "llvm", "llvm-opt"):
            from .backend.run import compile_function
            cf = compile_function(fn)
            if self.dump == "imp":
                from .imp.pretty import pp_function as pp_imp
                print(pp_imp(cf.imp), file=sys.stderr)
            else:
                print(cf.llvm_ir if self.dump == "llvm" else cf.compiled.optimized_ir,
                      file=sys.stderr)

    def import_module(self, decl: Surf.Import) -> list[str]:
        """`import m`: m's own top-level names become visible here (not the names m
        itself imported); instances are global. A module is checked once."""
        if decl.module in self.modules and self.state_key is not None:
            # loaded before (by another module's import): its names become visible now,
            # which the key of the environment must say, or a later import restored from
            # the cache would bring back an environment without them (issue 11)
            self.state_key = _visible_key(self.state_key, decl.module)
        if decl.module not in self.modules:
            path = self.find_module(decl.module)
            if path is None:
                raise DexError(f"Couldn't find a source file for module {decl.module}", decl.span)
            files = self.restore_import(decl.module, path)
            if files is None:
                key, self.state_key = self.state_key, None
                first = len(self.loaded_files)
                self.modules[decl.module], errors = self.load_isolated(path)
                if errors:
                    self.module_errors[decl.module] = errors
                files = [(_portable(f), _file_hash(f)) for f in self.loaded_files[first:]]
                self.save_import(key, decl.module, path, files)
            self.chain.add("import", decl.module, *(f"{f}\0{h}" for f, h in files))
        for name, binding in self.modules[decl.module].items():
            current = self.env.scope.get(name)
            if current is None or current is binding:
                self.env.scope[name] = binding
                self.origins[name] = decl.module
            elif decl.module == self.origins.get(name, "") + "@" + self.dialect:
                self.env.scope[name] = binding     # `Point` of 2021's diagram
                self.origins[name] = decl.module
            elif name not in self.prelude_scope or current is not self.prelude_scope[name]:
                self.env.ambiguous[name] = (self.origins.get(name, "this file"), decl.module)
        layer = decl.module + "@" + self.dialect
        if (self.dialect in LAYERS and self.import_depth == 0 and _layer_of(decl.module) is None
                and self.find_module(layer) is not None
                and self.find_module(decl.module).parent == lib_dir()):
            # a 2021 file's `import plot` also brings plot's 2021 names (lib/dialect2021/)
            return self.import_module(dataclasses.replace(decl, module=layer))
        errors = self.module_errors.get(decl.module)
        if errors:      # its other definitions are imported: the session goes on
            return [ErrorOut(_module_errors(decl.module, errors), "Error", decl.span)]
        return []

    # --- the import cache: the environment after `import m`, keyed by the environment
    # before it (the prelude and earlier imports) and m's text; each entry lists the
    # files it was built from with their hashes, and is used only if none changed ---

    def _import_key(self, state: str, module: str, path: Path) -> str:
        import hashlib
        h = hashlib.sha256(state.encode())
        # the dialect reads the module (2022 shares today's prelude key, not its front end)
        h.update(b"\0" + self.dialect.encode())
        h.update(b"\0" + module.encode() + b"\0" + _portable(path).encode() + b"\0")
        h.update(path.read_bytes())
        return h.hexdigest()

    def restore_import(self, module: str, path: Path) -> list[tuple[str, str]] | None:
        """Restores the environment after `import module` from the cache; returns the
        files it was built from with their hashes (None: not cached)."""
        from . import cache
        if self.state_key is None or not cache.enabled():
            return None
        key = self._import_key(self.state_key, module, path)
        blob = cache.load("module", key)
        if blob is None:
            return None
        try:
            files, state = pickle.loads(blob)
            if any(_file_hash(_local(f)) != h for f, h in files):
                return None
            (self.env, self.names, self.values, self.value_types, self.modules,
             self.prelude_scope, self.today_scope, self.module_errors) = state
        except Exception:  # noqa: BLE001 -- a stale or corrupt entry: check the module again
            return None
        self.state_key = key
        return files

    def save_import(self, state: str | None, module: str, path: Path,
                    files: list[tuple[str, str]]) -> None:
        from . import cache
        if state is None or not cache.enabled():
            return
        key = self._import_key(state, module, path)
        entry = (files,
                 (self.env, self.names, self.values, self.value_types, self.modules,
                  self.prelude_scope, self.today_scope, self.module_errors))
        try:
            cache.store("module", key, pickle.dumps(entry, protocol=pickle.HIGHEST_PROTOCOL))
        except Exception:  # noqa: BLE001 -- caching is an optimization only
            return
        self.state_key = key

    def find_module(self, name: str) -> Path | None:
        if (of := _layer_of(name)) is not None:    # a library module's 2021 (2022) names
            path = _layers_dir(of[1]) / f"{of[0]}.dx"
            return path if path.is_file() else None
        for folder in self.search_dirs + self.lib_path + (str(lib_dir()),):
            path = Path(folder) / f"{name}.dx"
            if path.is_file():
                return path
        return None

    def load_isolated(self, path: Path) -> tuple[dict, list[str]]:
        """Checks a module in a scope of its own (prelude + its own imports); returns
        the names it defines and its failed blocks (each one's first line and error). A library module (lib/m.dx) is today's Dex, read with
        today's prelude and front end whatever the session's dialect; a 2021 session
        adds lib/dialect2021/m.dx, which gives it its 2021 names."""
        layer_dirs = tuple(_layers_dir(d).resolve() for d in LAYERS)
        library = path.resolve().parent in (lib_dir().resolve(),) + layer_dirs
        base = self.today_scope if library and self.today_scope is not None \
            else self.prelude_scope
        saved = self.env.scope, self.search_dirs, self.origins, self.front_2021
        self.env.scope = dict(base)
        self.search_dirs = (str(lib_dir() if library else path.parent),)
        self.origins = {}
        self.front_2021 = self.front_2021 and not library
        self.import_depth += 1
        # a 2021 layer may redefine its module's names (`Point` of 2021's diagram)
        redefine = self.redefine
        self.redefine = redefine or path.resolve().parent in layer_dirs
        try:
            errors: list[str] = []
            self.load_module(path, errors)
            return {k: v for k, v in self.env.scope.items()
                    if (k not in base or v is not base[k]) and not self._imported(k, v)}, errors
        finally:
            self.env.scope, self.search_dirs, self.origins, self.front_2021 = saved
            self.import_depth -= 1
            self.redefine = redefine

    def _imported(self, name: str, binding: object) -> bool:
        return name in self.origins and \
            self.modules.get(self.origins[name], {}).get(name) is binding


def _module_errors(module: str, errors: list[str]) -> str:
    """The message of an import of a module some of whose blocks failed: each failed
    block's first line and its error."""
    n = sum(1 for e in errors if _is_error(e))
    head = f"Error: module {module} has {n} failed block{'s' if n != 1 else ''} " \
           f"(its other definitions are imported):"
    return "\n".join([head, *errors])


def _visible_key(state: str, module: str) -> str:
    """The environment key after `import module` of a module already loaded."""
    import hashlib
    return hashlib.sha256(f"{state}\0visible\0{module}".encode()).hexdigest()


class _Timing:
    """`%time` / `%bench "name"`: the block's compile and run times, printed as upstream:
    a blank line, the bench name, `Compile time: ...`, `Run time:     ... ` (docs/io.md)."""

    BENCH_SECONDS = 1.0        # keep re-running a benchmarked block for about this long
    BENCH_MAX_RUNS = 100

    def __init__(self, directive: tuple[str, ...]) -> None:
        self.bench = directive[0] == "bench"
        self.name = directive[1] if self.bench and len(directive) > 1 else ""
        self.start = time.perf_counter()
        self.run_total = 0.0
        self.run_single = 0.0
        self.runs = 0

    def run(self, fn: S.SimpFunction, args: list[TopValue]) -> tuple[TopValue, str]:
        from .backend.run import compile_function, run_compiled
        cf = compile_function(fn)
        t0 = time.perf_counter()
        result = run_compiled(cf, args)
        elapsed = time.perf_counter() - t0
        runs, total = 1, elapsed
        while self.bench and total < self.BENCH_SECONDS and runs < self.BENCH_MAX_RUNS:
            t = time.perf_counter()
            run_compiled(cf, args)
            total += time.perf_counter() - t
            runs += 1
        self.run_total += total
        self.run_single += total / runs
        self.runs = runs
        return result

    def report(self) -> list[str]:
        compile_time = time.perf_counter() - self.start - self.run_total
        run = f"Run time:     {_duration(self.run_single)} "
        if self.bench:
            run += f"\t(based on {self.runs} {'run' if self.runs == 1 else 'runs'})"
        return ["", *([self.name] if self.name else []),
                f"Compile time: {_duration(compile_time)}", run]


def _duration(d: float) -> str:
    """Seconds as upstream prints them: 3 decimals in s, ms, us or ns."""
    for scale, unit, low in ((1, "s", 1), (1e3, "ms", 1e-3), (1e6, "us", 1e-6)):
        if d >= low:
            return f"{d * scale:.3f} {unit}"
    return f"{d * 1e9:.3f} ns"


def _dex_string(v: object) -> str:
    """A String value from `TopValue.to_python` ((length, bytes)) as Python text."""
    if isinstance(v, tuple) and len(v) == 2:
        v = v[1]
    try:
        data = bytes(v)                                     # type: ignore[arg-type]
    except (TypeError, ValueError):
        data = bytes(int(b) & 0xFF for b in v)              # type: ignore[union-attr]
    return data.decode("utf-8", errors="replace")


def _has_data(v: object) -> bool:
    """Whether a simplified value holds run-time data (anything to compute)."""
    from .simplify import Dyn, SBoolW8, SCon, SProd
    match v:
        case Dyn() | SBoolW8():
            return True
        case SProd(elems) | SCon(fields=elems):
            return any(_has_data(x) for x in elems)
    return False


LIB = "<lib>/"
"""How a file of the standard library is named in cache keys: by its place in lib/,
not where the package is installed, so the entries built with the package
(`dexpy/stdlib_cache.py`) serve every copy of it."""


def _portable(path: Path) -> str:
    """`path`'s name in a cache key: `<lib>/plot.dx` in the library, else absolute."""
    full, lib = path.resolve(), lib_dir().resolve()
    return LIB + full.relative_to(lib).as_posix() if full.is_relative_to(lib) else str(full)


def _local(name: str) -> Path:
    """The file a cache key's name stands for here (`_portable`'s inverse)."""
    return lib_dir() / name[len(LIB):] if name.startswith(LIB) else Path(name)


def _file_hash(path: Path) -> str:
    import hashlib
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return ""


LAYER = "@2021"
"""The suffix of a library module's 2021 layer (`plot@2021`: lib/dialect2021/plot.dx);
a 2022-23 file's are `complex@2022` (lib/dialect2022/complex.dx)."""
LAYERS = ("2021", "2022")


def _layer_of(module: str) -> tuple[str, str] | None:
    """(module, dialect) of a layer's name (`plot@2021`), None for any other module."""
    base, at, dialect = module.rpartition("@")
    return (base, dialect) if at and dialect in LAYERS else None


def _layers_dir(dialect: str = "2021") -> Path:
    return (dialect2022_prelude_path() if dialect == "2022" else dialect2021_prelude_path()).parent


def _prelude_key(path: Path, *layers: Path) -> str:
    """The prelude's text (and its dialect layers'), dexpy's version and every
    compiler source file."""
    import hashlib
    from . import __version__
    h = hashlib.sha256(__version__.encode())
    h.update(path.read_bytes())
    for layer in layers:
        h.update(layer.read_bytes())
    for src in sorted(Path(__file__).parent.rglob("*.py")):
        h.update(src.name.encode())
        h.update(src.read_bytes())
    return h.hexdigest()


def _bound_names(decl: Surf.TopDecl) -> set[str]:
    """The top-level names a declaration binds (its constructors, methods and
    pattern variables included)."""
    match decl:
        case Surf.Def() | Surf.StructDecl() | Surf.Foreign():
            return {decl.name}
        case Surf.Let(pat=pat):
            return _pattern_names(pat)
        case Surf.DataDecl():
            return {decl.name, *(c.name for c in decl.cons)}
        case Surf.InterfaceDecl():
            return {decl.name, *(m for m, _ in decl.methods)}
        case Surf.InstanceDecl(instance_name=str(name)):
            return {name}
    return set()


def _pattern_names(pat: Surf.Pat) -> set[str]:
    match pat:
        case Surf.PVar(name):
            return {name}
        case Surf.PTuple(elems) | Surf.PCon(args=elems) | Surf.PTable(elems):
            return set().union(*map(_pattern_names, elems))
        case Surf.PDepPair(lhs, rhs):
            return _pattern_names(lhs) | _pattern_names(rhs)
    return set()


def _unbind(env: TopEnv, names: set[str]) -> tuple[dict, dict]:
    """Removes `names` from the scope (a struct's constructor and methods with it)
    and from the ambiguous names; returns what was removed from each, to put back
    if the new definition fails."""
    scope: dict = {}
    for key in list(env.scope):
        base = key[len("\0con:"):] if key.startswith("\0con:") else key.split(".", 1)[0]
        if key in names or (base in names and key != base):
            scope[key] = env.scope.pop(key)
    ambiguous = {name: env.ambiguous.pop(name) for name in names & env.ambiguous.keys()}
    return scope, ambiguous


def _defined_name(decl: Surf.TopDecl) -> str | None:
    if isinstance(decl, Surf.Def):
        return decl.name
    if isinstance(decl, Surf.Let) and isinstance(decl.pat, Surf.PVar):
        return decl.pat.name
    return None




class _TopNames:
    """Membership test for names bound at top level (definitions and evaluated values)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def __contains__(self, name: object) -> bool:
        return name in self.session.env.defs or name in self.session.values


def _show_type_value(t: ir.Expr) -> str:
    """`:p` of a type: a tuple of types prints its elements at argument precedence."""
    if isinstance(t, ir.TupleTy) and t.elems:
        return "(" + ", ".join(pp_type(e) for e in t.elems) + ")"
    return pp_type(t)


def _is_error(line: str) -> bool:
    return line.startswith(("Type error", "Error:", "Parse error", "Syntax error", "Compiler bug",
                            "Runtime error"))
