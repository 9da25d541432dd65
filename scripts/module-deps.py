#!/usr/bin/env python3
"""The import graph between hookgate's top-level modules: cycles and layer violations.

A stand-in for `cargo modules dependencies --acyclic` that needs no rust-analyzer:
walks the module tree from src/lib.rs (and src/main.rs as the node `main`, with
the files of src/main/ its `mod` declarations name), follows
`mod x;` declarations to their files, and in each file collects every path that
leaves its top-level module: `crate::x..` (in `use`, grouped `use crate::{a, b::c}`
and expression paths), `super::..` chains that climb to the crate root, and, in
main.rs, `hookgate::x..`. Comments, doc comments, strings and `#[cfg(test)]` items
are not read; nor are test modules (`#[cfg(test)] mod tests;`, files named
tests.rs, files under a tests/ folder). `pub(crate)` and `pub(in crate::x)` are
visibility, not imports.

Prints the edges (`a -> b  (file:line, ...)`), then every cycle (a strongly
connected component of more than one module), the cycles between the files of
one top-level module (server::flow <-> server::respond; its mod.rs left out),
then every edge the layering in scripts/module-layers.txt forbids. Exits 1 if
there is a cycle between top-level modules or a layer violation (cycles inside
a module too with --inner), 2 on a usage error.

Usage: scripts/module-deps.py [--src src] [--layers FILE] [--dot] [--quiet] [--inner]
  --dot    print the graph as Graphviz (cycle edges red, violations dashed) and exit 0
  --quiet  print only the problems
  --inner  fail on a cycle inside a top-level module too
Tests: python3 -m unittest discover -s scripts -p 'test_module_deps.py'
"""
import argparse
import re
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The library's name as the binary spells it.
LIB_NAME = "hookgate"
# The node for src/main.rs (the binary).
MAIN = "main"

# === lexer ===

_IDENT = re.compile(r"(?:r#)?[A-Za-z_][A-Za-z0-9_]*")
_RAW_STR = re.compile(r'(?:b|c)?r(#*)"')
_CHAR = re.compile(r"b?'(?:\\(?:u\{[0-9A-Fa-f]+\}|x[0-9A-Fa-f]{2}|.)|[^\\'\n])'")
_NUMBER = re.compile(r"[0-9][0-9A-Za-z_]*")


class Token:
    __slots__ = ("text", "line")

    def __init__(self, text, line):
        self.text = text
        self.line = line

    def __repr__(self):
        return f"{self.text}@{self.line}"


def tokenize(src):
    """Identifiers, `::` and single punctuation characters, with their line;
    comments, strings, chars, lifetimes and numbers are dropped."""
    out = []
    i, n, line = 0, len(src), 1
    while i < n:
        c = src[i]
        if c == "\n":
            line += 1
            i += 1
        elif c.isspace():
            i += 1
        elif src.startswith("//", i):
            j = src.find("\n", i)
            i = n if j < 0 else j
        elif src.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if src.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif src.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    line += src[i] == "\n"
                    i += 1
        elif (m := _RAW_STR.match(src, i)) and (c in "rbc"):
            end = src.find('"' + m.group(1), m.end())
            end = n if end < 0 else end + 1 + len(m.group(1))
            line += src.count("\n", i, end)
            i = end
        elif c == '"' or (c in "bc" and src.startswith('"', i + 1)):
            i = src.index('"', i) + 1
            while i < n and src[i] != '"':
                if src[i] == "\\":
                    i += 1
                if i < n and src[i] == "\n":
                    line += 1
                i += 1
            i += 1
        elif c == "'" or (c == "b" and src.startswith("'", i + 1)):
            m = _CHAR.match(src, i)
            if m:
                i = m.end()
            else:  # a lifetime or label: 'a, 'static
                m = _IDENT.match(src, i + 1)
                i = m.end() if m else i + 1
        elif m := _IDENT.match(src, i):
            out.append(Token(m.group(0).removeprefix("r#"), line))
            i = m.end()
        elif m := _NUMBER.match(src, i):
            i = m.end()
        elif src.startswith("::", i):
            out.append(Token("::", line))
            i += 2
        else:
            out.append(Token(c, line))
            i += 1
    return out


# === parser ===

_OPEN = {"(": ")", "[": "]", "{": "}"}
_CLOSE = set(_OPEN.values())
# Items after which a `,` at depth 0 does not end the item (`impl<A, B>`, where clauses).
_ITEM_KW = {"fn", "impl", "mod", "struct", "enum", "trait", "union", "type", "static",
            "const", "use", "let", "macro_rules", "extern", "async", "unsafe"}
# Items that end only at their `;` (a `use` group or a struct literal has braces).
_SEMI_KW = {"use", "let", "const", "static", "type"}


class Ref:
    """A path that names `target` (an absolute module path, crate root = [])."""

    __slots__ = ("target", "line")

    def __init__(self, target, line):
        self.target = target
        self.line = line


class Parsed:
    def __init__(self):
        self.refs = []  # Ref
        self.mods = []  # (name, inline module path it is declared in) for `mod x;`
        self.test_mods = []  # the same for `#[cfg(test)] mod x;`
        self.globs = []  # lines of `crate::*`-style globs (not resolvable)
        self.test_only = False  # `#![cfg(test)]`


def _text(toks, i):
    return toks[i].text if 0 <= i < len(toks) else ""


def _attr_end(toks, i):
    """Index after the attribute starting at `#` (i), or None."""
    j = i + 1
    if _text(toks, j) == "!":
        j += 1
    if _text(toks, j) != "[":
        return None
    return _skip_group(toks, j)


def _skip_group(toks, i):
    """Index after the bracket group opening at i."""
    depth = 0
    for j in range(i, len(toks)):
        t = toks[j].text
        if t in _OPEN:
            depth += 1
        elif t in _CLOSE:
            depth -= 1
            if depth == 0:
                return j + 1
    return len(toks)


def _is_cfg_test(toks, i, end):
    """`#[cfg(test)]` or `#![cfg(test)]` exactly (not `cfg(any(test, ..))`)."""
    words = [t.text for t in toks[i:end] if t.text not in ("#", "!")]
    return words == ["[", "cfg", "(", "test", ")", "]"]


def _skip_item(toks, i):
    """Index after the item, field, variant, arm or statement starting at i
    (attributes first); a closing bracket of the enclosing group is not eaten."""
    while _text(toks, i) == "#" and (e := _attr_end(toks, i)):
        i = e
    j = i
    if _text(toks, j) == "pub":
        j += 1
        if _text(toks, j) == "(":
            j = _skip_group(toks, j)
    kw = _text(toks, j)
    item = kw in _ITEM_KW
    semi_only = kw in _SEMI_KW
    depth = 0
    while i < len(toks):
        t = toks[i].text
        if t in _OPEN:
            depth += 1
        elif t in _CLOSE:
            if depth == 0:
                return i
            depth -= 1
            if depth == 0 and t == "}" and not semi_only:
                return i + 1
        elif depth == 0 and (t == ";" or (t == "," and not item)):
            return i + 1
        i += 1
    return i


def _use_tree(toks, j, prefix, refs, globs):
    """Reads the path (or `{..}` group of paths) at toks[j], which follows
    `prefix::`; appends each full path to `refs` and each `*` line to
    `globs`: `{a, b::c, self, d::{e, f::g}}` -> a, b::c, (prefix), d::e, d::f::g.
    Returns the index after it."""
    t = _text(toks, j)
    if t == "{":
        j += 1
        while j < len(toks) and _text(toks, j) != "}":
            if _text(toks, j) == ",":
                j += 1
                continue
            j = _use_tree(toks, j, prefix, refs, globs)
            # past what follows the element (`as x`, a stray token) to `,` or `}`
            depth = 0
            while j < len(toks):
                t = toks[j].text
                if depth == 0 and t in (",", "}"):
                    break
                depth += (t in _OPEN) - (t in _CLOSE)
                j += 1
        return j + 1
    if t == "*":
        globs.append(toks[j].line)
        return j + 1
    if t == "self":
        refs.append(Ref(list(prefix), toks[j].line))
        return j + 1
    if t in ("super", "crate") or not t or not (t[0].isalpha() or t[0] == "_"):
        return j
    path = list(prefix) + [t]
    if _text(toks, j + 1) == "::" and _text(toks, j + 2) not in ("<", ""):
        return _use_tree(toks, j + 2, path, refs, globs)
    refs.append(Ref(path, toks[j].line))
    return j + 1


def parse(src, modpath, crate_names=("crate",)):
    """The module references in one file whose module path is `modpath`
    (src/server/flow.rs -> ["server", "flow"]). `crate_names`: the words that
    name this library's root (`hookgate` too in the binary)."""
    toks = tokenize(src)
    p = Parsed()
    inline = []  # (name, depth at which its `{` was opened)
    depth = 0
    i = 0

    def here():
        return list(modpath) + [m for m, _ in inline]

    def resolve(prefix, j):
        """`prefix` is absolute; toks[j] follows its `::`."""
        if _text(toks, j) == "self":  # `crate::self` is not a path; `super::self` rare
            return
        _use_tree(toks, j, prefix, p.refs, p.globs)

    while i < len(toks):
        t = toks[i].text
        if t == "#":
            end = _attr_end(toks, i)
            if end is not None and _is_cfg_test(toks, i, end):
                if _text(toks, i + 1) == "!":
                    if not inline and depth == 0:
                        p.test_only = True
                        return p
                    i = end
                    continue
                j = end
                while _text(toks, j) == "#" and (e := _attr_end(toks, j)):
                    j = e
                if _text(toks, j) == "pub":
                    j += 1
                    if _text(toks, j) == "(":
                        j = _skip_group(toks, j)
                if _text(toks, j) == "mod" and _text(toks, j + 2) == ";":
                    p.test_mods.append((_text(toks, j + 1), [m for m, _ in inline]))
                i = _skip_item(toks, end)
                continue
            i += 1
            continue
        if t == "mod" and _text(toks, i - 1) not in ("::",):
            name = _text(toks, i + 1)
            nxt = _text(toks, i + 2)
            if nxt == ";":
                p.mods.append((name, [m for m, _ in inline]))
                i += 3
                continue
            if nxt == "{":
                inline.append((name, depth))
                depth += 1
                i += 3
                continue
        if t == "{":
            depth += 1
        elif t == "}":
            depth -= 1
            if inline and inline[-1][1] == depth:
                inline.pop()
        elif t in crate_names and _text(toks, i + 1) == "::" and _text(toks, i - 1) != "::":
            # `pub(in crate::x)` is visibility, not an import.
            if not (_text(toks, i - 1) == "in" and _text(toks, i - 2) == "("):
                resolve([], i + 2)
            i += 2
            continue
        elif t == "super" and _text(toks, i - 1) != "::" and _text(toks, i + 1) == "::":
            if _text(toks, i - 1) == "in" and _text(toks, i - 2) == "(":
                i += 2
                continue
            path = here()
            j = i
            while _text(toks, j) == "super" and _text(toks, j + 1) == "::":
                path = path[:-1]
                j += 2
            resolve(path, j)
            i = j
            continue
        i += 1
    return p


# === module tree ===


def is_test_file(rel):
    parts = Path(rel).parts
    return parts[-1] == "tests.rs" or "tests" in parts[:-1]


def module_files(src_dir):
    """{relative file: module path} for every file reached from lib.rs by
    non-test `mod x;` declarations, and main.rs as [MAIN]; plus the files
    under src_dir that no declaration reaches."""
    src_dir = Path(src_dir)
    files = {}
    tests = set()  # files of `#[cfg(test)] mod x;`
    todo = [(src_dir / "lib.rs", [], src_dir)]
    while todo:
        path, modpath, child_dir = todo.pop()
        rel = path.relative_to(src_dir).as_posix()
        if is_test_file(rel):
            continue
        parsed = parse(path.read_text(encoding="utf-8"), modpath)
        if parsed.test_only:
            continue
        files[rel] = (modpath, parsed)
        for name, inner in parsed.test_mods:
            d = child_dir.joinpath(*inner)
            for cand in (d / f"{name}.rs", d / name / "mod.rs"):
                tests.add(cand.relative_to(src_dir).as_posix())
        for name, inner in parsed.mods:
            d = child_dir.joinpath(*inner)
            for cand in (d / f"{name}.rs", d / name / "mod.rs"):
                if cand.exists():
                    sub_dir = cand.parent if cand.name == "mod.rs" else d / name
                    todo.append((cand, modpath + inner + [name], sub_dir))
                    break
    main = src_dir / "main.rs"
    if main.exists():
        parsed = parse(main.read_text(encoding="utf-8"), [MAIN],
                       crate_names=("crate", LIB_NAME))
        files["main.rs"] = ([MAIN], parsed)
        # The binary's own modules: `#[path = "main/x.rs"] mod x;` in main.rs,
        # files of src/main/ (part of the node `main`; they import the library
        # as `hookgate::`).
        for name, inner in parsed.mods:
            cand = src_dir / MAIN / Path(*inner) / f"{name}.rs"
            rel = cand.relative_to(src_dir).as_posix()
            if cand.exists() and not is_test_file(rel):
                files[rel] = ([MAIN, *inner, name],
                              parse(cand.read_text(encoding="utf-8"), [MAIN, *inner, name],
                                    crate_names=("crate", LIB_NAME)))
    reached = set(files) | tests
    orphans = sorted(
        p.relative_to(src_dir).as_posix() for p in src_dir.rglob("*.rs")
        if p.relative_to(src_dir).as_posix() not in reached
        and not is_test_file(p.relative_to(src_dir).as_posix())
    )
    return files, orphans


def graph(src_dir):
    """(modules, edges {(a, b): [file:line]}, globs [file:line], orphans)."""
    files, orphans = module_files(src_dir)
    nodes, edges, globs = _edges(files, depth=1)
    return nodes, edges, globs, orphans


def inner_graph(src_dir):
    """The same one level down, between the files of each top-level module
    (server::flow -> server::listener); its mod.rs, which declares the
    others, is left out."""
    files, _ = module_files(src_dir)
    nodes, edges, _ = _edges(files, depth=2)
    return nodes, edges


def _edges(files, depth):
    node_of = {}
    for modpath, _ in files.values():
        if len(modpath) >= depth:
            node_of[tuple(modpath[:depth])] = "::".join(modpath[:depth])
    edges = defaultdict(list)
    globs = []
    for rel, (modpath, parsed) in sorted(files.items()):
        globs += [f"{rel}:{line}" for line in parsed.globs]
        own = tuple(modpath[:depth])
        if len(modpath) < depth or own[0] == MAIN and depth > 1:
            continue  # lib.rs (only the declarations), a mod.rs below depth 1
        for ref in parsed.refs:
            target = tuple(ref.target[:depth])
            if target in node_of and target != own and target[0] != MAIN:
                if depth > 1 and target[:-1] != own[:-1]:
                    continue  # another top-level module: the outer graph's business
                where = edges[(node_of[own], node_of[target])]
                if f"{rel}:{ref.line}" not in where:
                    where.append(f"{rel}:{ref.line}")
    return sorted(set(node_of.values())), dict(edges), globs


# === cycles and layers ===


def cycles(nodes, edges):
    """Strongly connected components with more than one node (Tarjan)."""
    succ = defaultdict(list)
    for a, b in edges:
        succ[a].append(b)
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(succ[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return sorted(out)


def read_layers(path):
    """({module: layer number}, [layer label]) from the rule file: one layer a
    line, lowest first, `label: module module ..`; `#` starts a comment."""
    layers, labels = {}, []
    for n, raw in enumerate(Path(path).read_text(encoding="utf-8").splitlines()):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        label, _, mods = line.rpartition(":")
        for m in mods.split():
            if m in layers:
                raise ValueError(f"{path}:{n + 1}: {m} is on two lines")
            layers[m] = len(labels)
        labels.append(label.strip() or str(len(labels)))
    return layers, labels


def violations(nodes, edges, layers):
    """Edges that do not point to a strictly lower layer, and modules the
    rule file does not place."""
    bad = []
    for (a, b), where in sorted(edges.items()):
        la, lb = layers.get(a), layers.get(b)
        if la is not None and lb is not None and lb >= la:
            bad.append((a, b, la, lb, where))
    unplaced = sorted(m for m in nodes if m not in layers)
    return bad, unplaced


def dot(nodes, edges, cyc, bad, layers):
    in_cycle = {m: k for k, comp in enumerate(cyc) for m in comp}
    bad_edges = {(a, b) for a, b, *_ in bad}
    out = ["digraph modules {", "  rankdir=BT;", "  node [shape=box, fontname=monospace];"]
    by_layer = defaultdict(list)
    for m in nodes:
        by_layer[layers.get(m)].append(m)
    for lv, ms in sorted(by_layer.items(), key=lambda kv: (kv[0] is None, kv[0] or 0)):
        out.append("  { rank=same; " + " ".join(f'"{m}";' for m in sorted(ms)) + " }")
    for (a, b), where in sorted(edges.items()):
        attrs = [f'tooltip="{", ".join(where[:5])}"']
        if a in in_cycle and in_cycle.get(b) == in_cycle[a]:
            attrs.append("color=red")
        if (a, b) in bad_edges:
            attrs.append("style=dashed")
        out.append(f'  "{a}" -> "{b}" [{", ".join(attrs)}];')
    out.append("}")
    return "\n".join(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--src", default=str(ROOT / "src"))
    ap.add_argument("--layers", default=str(ROOT / "scripts" / "module-layers.txt"))
    ap.add_argument("--dot", action="store_true")
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--inner", action="store_true",
                    help="also fail on cycles between the files of one top-level module")
    args = ap.parse_args(argv)

    nodes, edges, globs, orphans = graph(args.src)
    layers, labels = read_layers(args.layers) if Path(args.layers).exists() else ({}, [])
    cyc = cycles(nodes, edges)
    bad, unplaced = violations(nodes, edges, layers)
    if args.dot:
        print(dot(nodes, edges, cyc, bad, layers))
        return 0

    if not args.quiet:
        print(f"module edges ({len(edges)}, between {len(nodes)} top-level modules):")
        for (a, b), where in sorted(edges.items()):
            more = f", +{len(where) - 3}" if len(where) > 3 else ""
            print(f"  {a} -> {b}  ({', '.join(where[:3])}{more})")
    for g in globs:
        print(f"warning: glob import from the crate, not followed: {g}")
    for f in orphans:
        print(f"warning: {f} is not reached by any non-test `mod` declaration")
    status = 0
    if cyc:
        status = 1
        print(f"cycles ({len(cyc)}):")
        for comp in cyc:
            print(f"  {' <-> '.join(comp)}")
            for (a, b), where in sorted(edges.items()):
                if a in comp and b in comp:
                    print(f"    {a} -> {b}  ({', '.join(where[:3])})")
    else:
        print("cycles: none")
    inner_nodes, inner_edges = inner_graph(args.src)
    inner = cycles(inner_nodes, inner_edges)
    for comp in inner:
        if args.inner:
            status = 1
        print(f"cycle inside a module{'' if args.inner else ' (informational)'}: "
              f"{' <-> '.join(comp)}")
        for (a, b), where in sorted(inner_edges.items()):
            if a in comp and b in comp:
                print(f"    {a} -> {b}  ({', '.join(where[:3])})")
    if layers:
        for m in unplaced:
            status = 1
            print(f"layer rule: {m} has no layer in {args.layers}")
        if bad:
            status = 1
            print(f"layer violations ({len(bad)}; a module may import only lower layers):")
            for a, b, la, lb, where in bad:
                print(f"  {a} ({labels[la]}) -> {b} ({labels[lb]})  ({', '.join(where[:3])})")
        else:
            print("layer violations: none")
    return status


if __name__ == "__main__":
    sys.exit(main())
