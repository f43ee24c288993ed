"""Mutation operators over Dex source text, and the mutants built from them.

A mutant is a small, still mostly plausible variation of a real program: one to
three edits, all inside one target code block, applied by operators that each
know one kind of mistake (a deleted or doubled token, two names swapped, a
name replaced by another of the block or a common prelude name, a number
replaced by an extreme value, a truncated file, a stray unicode character, an
unbalanced bracket, changed indentation, a swapped operator, a dropped line).
To keep runs short, the program that runs is a *window* around the target block: every earlier block that defines something (earlier `:p`/`:t`
commands and prose are dropped), the mutated block, and the few blocks after it
(which may use what it defines).

Everything is driven by `random.Random`, seeded from (seed, index) for each
mutant, so a run is reproducible and one mutant can be rebuilt on its own.
"""
from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass

from ..syntax.blocks import RawBlock, split_blocks

# === tokens ===

_TOKEN = re.compile(r"""
    (?P<comment>--(?!o\b)[^\n]*|\#(?=[\s\#!])[^\n]*)
  | (?P<string>"(?:\\.|[^"\\\n])*")
  | (?P<number>\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_']*)
  | (?P<bracket>[()\[\]{}])
  | (?P<op>[-+*/<>=!&|^%.:$@\\~?,;]+)
  | (?P<space>[ \t]+)
  | (?P<newline>\r?\n)
  | (?P<other>.)
""", re.VERBOSE | re.DOTALL)


@dataclass(frozen=True, slots=True)
class Token:
    kind: str       # comment string number name bracket op space newline other
    start: int
    end: int
    text: str


def tokenize(text: str) -> list[Token]:
    """Splits `text` into tokens; concatenating their texts gives `text` back."""
    return [Token(m.lastgroup or "other", m.start(), m.end(), m.group())
            for m in _TOKEN.finditer(text)]


def _code_tokens(text: str, *kinds: str) -> list[Token]:
    """The tokens of `text` worth mutating (of the given kinds; all code if none)."""
    skip = ("space", "newline", "comment")
    return [t for t in tokenize(text)
            if t.kind not in skip and (not kinds or t.kind in kinds)]


def _splice(text: str, start: int, end: int, new: str) -> str:
    return text[:start] + new + text[end:]


# === operators: (block text, rng) -> mutated block text, or None if not applicable ===

Operator = Callable[[str, random.Random], "str | None"]

HUGE_NUMBERS = ("0", "-1", "-7", "1.5", "0.0", "-0.0", "2147483648", "4294967296",
                "9223372036854775808", "99999999999999999999", "1e308", "1e400", "1000000000")
STRAY_UNICODE = ("\u00a0", "\u200b", "\ufeff", "\u2028", "\u0301", "λ", "→", "∀", "ℕ",
                 "é", "😀", "\u2010", "\t", "\r", "\x00", "\x0c")
PRELUDE_NAMES = ("sum", "for", "Fin", "Float", "Int", "Nat", "Type", "Ref", "ordinal", "size",
                 "with_state", "run_state", "get", "yield_accum", "grad", "jvp", "linearize",
                 "transpose_linear", "n_to_i", "i_to_f", "unsafe_from_ordinal", "iota", "fold",
                 "scan", "select", "id", "case", "of", "def", "given", "Ix", "Add", "Maybe",
                 "Just", "Nothing", "List", "AsList", "to_list", "each", "error", "todo",
                 "unreachable", "dex_test_mode", "new_key", "rand", "mean", "argmax", "while")
SWAP_OPS = ("+", "-", "*", "/", "==", "/=", "<", ">", "<=", ">=", "&&", "||", ".", "$",
            "@", "<>", "**", ".*", "*.", "->", "=>", ":", "=", ",", "..", "..<", "+=", "!",
            "|", "\\", "::")


def delete_token(text: str, rng: random.Random) -> str | None:
    toks = _code_tokens(text)
    if not toks:
        return None
    t = rng.choice(toks)
    return _splice(text, t.start, t.end, "")


def duplicate_token(text: str, rng: random.Random) -> str | None:
    toks = _code_tokens(text)
    if not toks:
        return None
    t = rng.choice(toks)
    sep = " " if t.kind in ("name", "number") else rng.choice(("", " "))
    return _splice(text, t.end, t.end, sep + t.text)


def swap_names(text: str, rng: random.Random) -> str | None:
    names = _code_tokens(text, "name")
    if len({t.text for t in names}) < 2:
        return None
    a = rng.choice(names)
    b = rng.choice([t for t in names if t.text != a.text])
    first, second = sorted((a, b), key=lambda t: t.start)
    return (text[:first.start] + second.text + text[first.end:second.start] + first.text
            + text[second.end:])


def replace_name(text: str, rng: random.Random) -> str | None:
    names = _code_tokens(text, "name")
    if not names:
        return None
    t = rng.choice(names)
    pool = [n for n in {x.text for x in names} | set(PRELUDE_NAMES) if n != t.text]
    return _splice(text, t.start, t.end, rng.choice(sorted(pool)))


def replace_number(text: str, rng: random.Random) -> str | None:
    nums = _code_tokens(text, "number")
    if not nums:
        return None
    t = rng.choice(nums)
    new = rng.choice([n for n in HUGE_NUMBERS if n != t.text])
    if new.startswith("-"):
        new = f"({new})" if rng.random() < 0.5 else new
    return _splice(text, t.start, t.end, new)


def truncate(text: str, rng: random.Random) -> str | None:
    if len(text.strip()) < 2:
        return None
    cut = rng.randrange(1, len(text.rstrip()))
    return text[:cut] + "\n"


def insert_unicode(text: str, rng: random.Random) -> str | None:
    toks = tokenize(text)
    if not toks:
        return None
    at = rng.choice(toks).start if rng.random() < 0.7 else rng.randrange(len(text) + 1)
    return _splice(text, at, at, rng.choice(STRAY_UNICODE))


def unbalance_brackets(text: str, rng: random.Random) -> str | None:
    brackets = _code_tokens(text, "bracket")
    if brackets and rng.random() < 0.6:
        t = rng.choice(brackets)
        return _splice(text, t.start, t.end, "")
    toks = _code_tokens(text)
    if not toks:
        return None
    t = rng.choice(toks)
    at = t.start if rng.random() < 0.5 else t.end
    return _splice(text, at, at, rng.choice("()[]{}"))


def change_indentation(text: str, rng: random.Random) -> str | None:
    lines = text.splitlines(keepends=True)
    code = [i for i, line in enumerate(lines) if line.strip()]
    if not code:
        return None
    i = rng.choice(code)
    line = lines[i]
    indent = len(line) - len(line.lstrip(" \t"))
    if indent and rng.random() < 0.5:
        lines[i] = line[rng.randrange(1, indent + 1):]
    else:
        lines[i] = " " * rng.choice((1, 2, 3, 4, 8)) + line
    return "".join(lines)


def swap_operator(text: str, rng: random.Random) -> str | None:
    ops = _code_tokens(text, "op")
    if not ops:
        return None
    t = rng.choice(ops)
    return _splice(text, t.start, t.end, rng.choice([o for o in SWAP_OPS if o != t.text]))


def drop_line(text: str, rng: random.Random) -> str | None:
    lines = text.splitlines(keepends=True)
    code = [i for i, line in enumerate(lines) if line.strip()]
    if len(code) < 2:
        return None
    del lines[rng.choice(code)]
    return "".join(lines)


OPERATORS: dict[str, Operator] = {
    "delete-token": delete_token,
    "duplicate-token": duplicate_token,
    "swap-names": swap_names,
    "replace-name": replace_name,
    "replace-number": replace_number,
    "truncate": truncate,
    "insert-unicode": insert_unicode,
    "unbalance-brackets": unbalance_brackets,
    "change-indentation": change_indentation,
    "swap-operator": swap_operator,
    "drop-line": drop_line,
}


# === mutants ===

AFTER_BLOCKS = 3            # blocks after the target that still run
_COMMAND = re.compile(r"(?:%[a-z]+\s*\n)*:[a-z]")      # `:p ..`, also after `%time`


@dataclass(frozen=True)
class Mutant:
    """One mutated program: `text` runs; the rest says how it was made."""

    source: str             # the corpus file it came from
    seed: int
    index: int
    ops: tuple[str, ...]
    block_line: int         # 1-based line of the target block in `source`
    text: str
    baseline: str = ""      # the same window with the block unmutated

    @property
    def name(self) -> str:
        return f"s{self.seed}-m{self.index}"


def mutant_rng(seed: int, index: int) -> random.Random:
    """The generator of mutant `index` of a run with `seed` (independent of the others)."""
    return random.Random(f"dexpy-fuzz:{seed}:{index}")


def _is_command(block: RawBlock) -> bool:
    return bool(_COMMAND.match(block.text))


def window(blocks: list[RawBlock], target: int, new_text: str, *, keep_after: bool) -> str:
    """The program run for a mutant of block `target`: earlier definitions, the mutated
    block, and (unless the mutation truncated the file) up to AFTER_BLOCKS blocks after it."""
    parts = [b.text + b.trailing for b in blocks[:target]
             if b.kind == "code" and not _is_command(b)]
    if parts and not parts[-1].endswith("\n"):
        parts[-1] += "\n"
    parts.append(new_text)
    if keep_after:
        if not new_text.endswith("\n"):
            parts.append("\n")
        parts.append(blocks[target].trailing)
        parts += [b.text + b.trailing for b in blocks[target + 1:target + 1 + AFTER_BLOCKS]
                  if b.kind == "code"]
    return "".join(parts)


def apply_ops(text: str, rng: random.Random, count: int,
              names: tuple[str, ...] = tuple(OPERATORS)) -> tuple[str, tuple[str, ...]]:
    """Applies `count` operators drawn from `names` to `text` (skipping those that do
    not apply or change nothing); returns the new text and the operators applied."""
    applied: list[str] = []
    for _ in range(count):
        for _attempt in range(20):
            name = rng.choice(names)
            new = OPERATORS[name](text, rng)
            if new is not None and new != text:
                text = new
                applied.append(name)
                break
    return text, tuple(applied)


def make_mutant(source: str, text: str, seed: int, index: int,
                ops: tuple[str, ...] = tuple(OPERATORS)) -> Mutant | None:
    """Mutant `index` of `text` (the file `source`), or None if it has no code block
    (or none of the operators `ops` applies)."""
    rng = mutant_rng(seed, index)
    blocks = split_blocks(text)
    targets = [i for i, b in enumerate(blocks) if b.kind == "code" and b.text.strip()]
    if not targets:
        return None
    target = rng.choice(targets)
    count = rng.choices((1, 2, 3), weights=(6, 3, 1))[0]
    new_text, applied = apply_ops(blocks[target].text, rng, count, ops)
    if not applied:
        return None
    keep_after = "truncate" not in applied
    program = window(blocks, target, new_text, keep_after=keep_after)
    baseline = window(blocks, target, blocks[target].text, keep_after=keep_after)
    line = text.count("\n", 0, blocks[target].start) + 1
    return Mutant(source, seed, index, applied, line, program, baseline)


def generate(corpus: list[tuple[str, str]], seed: int, count: int,
             ops: tuple[str, ...] = tuple(OPERATORS)) -> list[Mutant]:
    """`count` mutants of the corpus (pairs of file name and text), reproducibly:
    mutant i takes file i mod len(corpus) after a seeded shuffle."""
    if not corpus:
        return []
    order = list(range(len(corpus)))
    random.Random(f"dexpy-fuzz-order:{seed}").shuffle(order)
    mutants: list[Mutant] = []
    index = 0
    misses = 0
    while len(mutants) < count and misses < 10 * len(corpus) + 10:
        source, text = corpus[order[index % len(order)]]
        mutant = make_mutant(source, text, seed, index, ops)
        index += 1
        if mutant is None:
            misses += 1
            continue
        mutants.append(mutant)
    return mutants
