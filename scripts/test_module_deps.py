"""Tests of scripts/module-deps.py: the path parser on tricky snippets, the
module-tree walk, cycles and layers.

Run: python3 -m unittest discover -s scripts -p 'test_module_deps.py'
"""
import importlib.util
import io
import tempfile
import textwrap
import unittest
from contextlib import redirect_stdout
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "module_deps", Path(__file__).resolve().parent / "module-deps.py")
md = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(md)


def tops(src, modpath=("server", "flow"), **kw):
    """The set of top-level modules a snippet refers to (crate root = "")."""
    parsed = md.parse(textwrap.dedent(src), list(modpath), **kw)
    return {r.target[0] if r.target else "" for r in parsed.refs}


class ParsePaths(unittest.TestCase):
    def test_plain_use_and_expression_paths(self):
        self.assertEqual(tops("""
            use crate::config::Route;
            fn f() { let s = crate::spool::Spool::open(&c)?; }
        """), {"config", "spool"})

    def test_grouped_use_with_nested_braces_and_self(self):
        self.assertEqual(tops("""
            use crate::{
                broker::{self, connect::{Link, Live}},
                envelope,
                telemetry::metrics::{Metrics, Route as R},
            };
        """), {"broker", "envelope", "telemetry"})

    def test_group_element_self_is_the_prefix(self):
        parsed = md.parse("use crate::{self, verify::{self, Verified}};", ["server"])
        self.assertEqual([r.target for r in parsed.refs],
                         [[], ["verify"], ["verify", "Verified"]])

    def test_full_paths_through_nested_groups(self):
        parsed = md.parse("use crate::{a::{b::{c, d as e}, f,}, g::{self}, *};\n"
                          "fn f() { crate::h::i::<T>::j(); crate::k::L { x: 1 }; }", ["x"])
        self.assertEqual([r.target for r in parsed.refs],
                         [["a", "b", "c"], ["a", "b", "d"], ["a", "f"], ["g"],
                          ["h", "i"], ["k", "L"]])
        self.assertEqual(parsed.globs, [1])

    def test_paths_in_comments_and_strings_are_ignored(self):
        self.assertEqual(tops(r'''
            //! see [`crate::broker`]
            /// uses crate::spool
            /* crate::outbox /* nested crate::app */ still comment crate::worker */
            const A: &str = "crate::dedupe::Cache";
            const B: &str = r#"a "quoted" crate::store"#;
            const C: &[u8] = b"crate::tls \" crate::tls";
            const D: char = '"'; // a quote char must not open a string
            use crate::config;
        '''), {"config"})

    def test_lifetimes_and_chars_do_not_confuse_the_lexer(self):
        self.assertEqual(tops("""
            fn f<'a>(x: &'a str) -> char { let c = '\\''; let d = b'{'; '}' }
            use crate::secret::Secret;
        """), {"secret"})

    def test_pub_crate_is_not_a_path(self):
        self.assertEqual(tops("""
            pub(crate) struct S;
            pub(crate) fn f() {}
            pub(in crate::server) fn g() {}
            pub(super) fn h() {}
        """), set())

    def test_cfg_test_items_are_skipped(self):
        self.assertEqual(tops("""
            use crate::config::Config;
            #[cfg(test)]
            use crate::store::testing::Memory;
            enum Cmd {
                Sync(u8),
                #[cfg(test)]
                Panic,
            }
            fn run(c: Cmd) {
                match c {
                    Cmd::Sync(_) => {}
                    #[cfg(test)]
                    Cmd::Panic => crate::worker::abort(),
                }
                let x = crate::broker::Status::Connected;
            }
            #[cfg(test)]
            mod tests {
                use crate::outbox::Outbox;
                fn t() { crate::app::run(); }
            }
            #[cfg(test)]
            impl<A, B> Foo<A, B> where A: X, B: Y { fn f() { crate::spool::x(); } }
        """), {"config", "broker"})

    def test_cfg_any_test_is_not_skipped(self):
        self.assertEqual(tops("""
            #[cfg(any(test, feature = "sim"))]
            use crate::salesforce::sim;
        """), {"salesforce"})

    def test_cfg_test_mod_declaration_is_recorded_as_test(self):
        parsed = md.parse("#[cfg(test)]\npub(crate) mod testing;\nmod real;", ["store"])
        self.assertEqual(parsed.test_mods, [("testing", [])])
        self.assertEqual(parsed.mods, [("real", [])])

    def test_inner_cfg_test_marks_the_file(self):
        self.assertTrue(md.parse("#![cfg(test)]\nuse crate::app;", ["x"]).test_only)

    def test_super_stays_inside_unless_it_reaches_the_root(self):
        # server/flow.rs: super:: is server.
        self.assertEqual(tops("use super::{respond, ConnInfo};"), {"server"})
        # server/flow/admit.rs: super::super:: is server.
        self.assertEqual(tops("use super::super::Gateway;", ("server", "flow", "admit")),
                         {"server"})
        # server/mod.rs: super:: is the crate root.
        self.assertEqual(tops("use super::config::Route;", ("server",)), {"config"})
        self.assertEqual(tops("use super::{config, verify::Verified};", ("server",)),
                         {"config", "verify"})

    def test_inline_module_deepens_super(self):
        self.assertEqual(tops("""
            mod inner { use super::super::config::Config; }
            use super::tls::Dn;
        """, ("server",)), {"config", "tls"})

    def test_self_and_foreign_crates_are_not_ours(self):
        self.assertEqual(tops("""
            use self::listener::run;
            use std::sync::Arc;
            use ::tokio::net::TcpListener;
            fn f() -> crate_name::X { other::crate_x() }
        """), set())

    def test_raw_identifier(self):
        self.assertEqual(tops("use crate::r#type::Kind;"), {"type"})

    def test_glob_is_reported(self):
        parsed = md.parse("use crate::*;\nuse crate::{a, *};", ["x"])
        self.assertEqual(parsed.globs, [1, 2])

    def test_binary_names_the_library(self):
        self.assertEqual(tops("use hookgate::config::Config; fn m() { hookgate::app::run() }",
                              ("main",), crate_names=("crate", "hookgate")),
                         {"config", "app"})

    def test_line_numbers(self):
        parsed = md.parse("// a\n\nuse crate::{\n  a,\n  b};\n", ["x"])
        self.assertEqual([(r.target[0], r.line) for r in parsed.refs], [("a", 4), ("b", 5)])


def write_tree(root, files):
    for rel, text in files.items():
        p = Path(root) / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text))


class Tree(unittest.TestCase):
    FILES = {
        "lib.rs": "pub mod a; pub mod b; mod c;\n#[cfg(test)] mod tests;",
        "a.rs": "use crate::b::X;\npub mod inner;\n#[cfg(test)] mod tests;",
        "a/inner.rs": "use crate::c::Y;",
        "a/tests.rs": "use crate::c::Z;",  # test module: not counted anyway
        "b/mod.rs": "mod deep; mod one; mod two;\npub struct X;",
        "b/one.rs": "use super::two::T; pub struct O;",
        "b/two.rs": "use crate::b::{one::O, X}; pub struct T;",  # one <-> two
        "b/deep.rs": "use super::super::a::inner;",  # b -> a: a cycle
        "c.rs": "pub struct Y;",
        "tests.rs": "use crate::c::Y;",
        "stray.rs": "use crate::a;",
        "main.rs": "use hookgate::b::X;",
    }

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        write_tree(self.tmp.name, self.FILES)
        self.layers = Path(self.tmp.name) / "layers.txt"
        self.layers.write_text("low: c  # comment\nmid: a b\ntop: main\n")

    def tearDown(self):
        self.tmp.cleanup()

    def test_graph(self):
        nodes, edges, globs, orphans = md.graph(self.tmp.name)
        self.assertEqual(nodes, ["a", "b", "c", "main"])
        self.assertEqual(set(edges), {("a", "b"), ("a", "c"), ("b", "a"), ("main", "b")})
        self.assertEqual(edges[("a", "c")], ["a/inner.rs:1"])
        self.assertEqual(orphans, ["stray.rs"])
        self.assertEqual(md.cycles(nodes, edges), [["a", "b"]])

    def test_binary_modules_in_src_main_belong_to_main(self):
        write_tree(self.tmp.name, {
            "main.rs": 'use hookgate::b::X;\n#[path = "main/probe.rs"]\nmod probe;',
            "main/probe.rs": "use hookgate::c::Y;\nuse super::helper;",
        })
        nodes, edges, _, orphans = md.graph(self.tmp.name)
        self.assertEqual(edges[("main", "c")], ["main/probe.rs:1"])
        self.assertNotIn("main/probe.rs", orphans)
        self.assertEqual(nodes, ["a", "b", "c", "main"])

    def test_inner_graph(self):
        nodes, edges = md.inner_graph(self.tmp.name)
        self.assertIn("b::one", nodes)
        self.assertEqual(set(edges), {("b::one", "b::two"), ("b::two", "b::one")})
        self.assertEqual(md.cycles(nodes, edges), [["b::one", "b::two"]])

    def test_layers(self):
        nodes, edges, _, _ = md.graph(self.tmp.name)
        layers, labels = md.read_layers(self.layers)
        self.assertEqual(labels, ["low", "mid", "top"])
        bad, unplaced = md.violations(nodes, edges, layers)
        self.assertEqual([(a, b) for a, b, *_ in bad], [("a", "b"), ("b", "a")])
        self.assertEqual(unplaced, [])

    def test_main_exits_1_on_a_cycle_and_0_without(self):
        out = io.StringIO()
        with redirect_stdout(out):
            rc = md.main(["--src", self.tmp.name, "--layers", str(self.layers)])
        self.assertEqual(rc, 1)
        self.assertIn("a <-> b", out.getvalue())
        self.assertIn("(informational): b::one <-> b::two", out.getvalue())
        (Path(self.tmp.name) / "b/deep.rs").write_text("pub struct D;")
        self.layers.write_text("low: c b\nmid: a\ntop: main\n")
        out = io.StringIO()
        with redirect_stdout(out):
            rc = md.main(["--src", self.tmp.name, "--layers", str(self.layers)])
        self.assertEqual(rc, 0, out.getvalue())
        self.assertIn("cycles: none", out.getvalue())

    def test_dot(self):
        out = io.StringIO()
        with redirect_stdout(out):
            rc = md.main(["--src", self.tmp.name, "--layers", str(self.layers), "--dot"])
        self.assertEqual(rc, 0)
        self.assertIn('"a" -> "b" [', out.getvalue())
        self.assertIn("color=red", out.getvalue())


class Cycles(unittest.TestCase):
    def test_two_components_and_a_dag(self):
        edges = {("a", "b"): [], ("b", "c"): [], ("c", "a"): [], ("d", "e"): [],
                 ("e", "d"): [], ("f", "a"): []}
        self.assertEqual(md.cycles(list("abcdef"), edges), [["a", "b", "c"], ["d", "e"]])
        self.assertEqual(md.cycles(list("abc"), {("a", "b"): [], ("b", "c"): []}), [])


if __name__ == "__main__":
    unittest.main()
