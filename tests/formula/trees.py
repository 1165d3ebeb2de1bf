"""Random formula trees for the differential property tests (specs/formula.md A.6): every operator
and function, leaves from {variables, 0, -0.0, 1, 2, 0.5, 3, 1e308, 5e-324, inf, nan}, rendered
with random whitespace, redundant parentheses and both power spellings."""
from __future__ import annotations

from hypothesis import strategies as st

from kiln import _opcodes as OPC

SCALARS = ("x", "y", "z")
LISTS = ("v", "w")
NUMS = (0.0, 1.0, 2.0, 0.5, 3.0, 1e308, 5e-324)
BINOPS = ("+", "-", "*", "/", "//", "%", "**")
CMPS = ("<", "<=", ">", ">=", "==", "!=")
FIXED = {"abs": 1, "sqrt": 1, "floor": 1, "ceil": 1, "trunc": 1, "round": 1, "clamp": 3, "pow": 2, "if": 3,
         "where": 3, **{n: 1 for n in OPC.FN1}, **{n: 2 for n in OPC.FN2}}

leaves = st.one_of(
    st.sampled_from(SCALARS).map(lambda n: ("var", n)),
    st.sampled_from(NUMS).map(lambda v: ("num", v)),
    st.just(("neg", ("num", 0.0))),
    st.sampled_from(("inf", "nan", "pi", "e")).map(lambda n: ("const", n)),
)


def _extend(children):
    return st.one_of(
        st.tuples(st.sampled_from(("neg", "pos", "not")), children),
        st.tuples(st.just("bin"), st.sampled_from(BINOPS), children, children),
        st.tuples(st.sampled_from(("and", "or")), children, children),
        st.integers(1, 3).flatmap(lambda k: st.tuples(
            st.just("cmp"), st.lists(st.sampled_from(CMPS), min_size=k, max_size=k).map(tuple),
            st.lists(children, min_size=k + 1, max_size=k + 1).map(tuple))),
        st.sampled_from(sorted(FIXED)).flatmap(lambda f: st.tuples(
            st.just("call"), st.just(f), st.lists(children, min_size=FIXED[f], max_size=FIXED[f]).map(tuple))),
        st.tuples(st.just("call"), st.sampled_from(("min", "max")), st.lists(children, min_size=2, max_size=4).map(tuple)),
        st.tuples(st.just("call"), st.just("round"),
                  st.tuples(children, st.integers(0, 12).map(lambda k: ("num", float(k))))),
        st.tuples(st.just("call"), st.sampled_from(("sum", "avg", "min", "max", "count")),
                  st.sampled_from(LISTS).map(lambda n: (("list", n),))),
    )


trees = st.recursive(leaves, _extend, max_leaves=24)


def render(tree, draw_ws=lambda: " ", power="**") -> str:
    """Fully parenthesised text (so parse(render(t)) == t), with the given whitespace source."""
    out: list[str] = []
    work = [tree]
    while work:
        n = work.pop()
        if isinstance(n, str):
            out.append(n)
            continue
        tag = n[0]
        w = draw_ws()
        if tag == "num":
            out.append(repr(n[1]))
        elif tag in ("var", "const", "list"):
            out.append(n[1] if tag != "var" or n[1] not in ("e",) else "{e}")
        elif tag in ("neg", "pos", "not"):
            op = {"neg": "-", "pos": "+", "not": "not "}[tag]
            work.extend(reversed(["(", op, w, "(", n[1], ")", ")"]))
        elif tag == "bin":
            op = power if n[1] == "**" else n[1]
            work.extend(reversed(["(", "(", n[2], ")", w, op, w, "(", n[3], ")", ")"]))
        elif tag in ("and", "or"):
            work.extend(reversed(["(", "(", n[1], ")", " ", tag, " ", "(", n[2], ")", ")"]))
        elif tag == "cmp":
            parts = ["(", "(", n[2][0], ")"]
            for op, rhs in zip(n[1], n[2][1:]):
                parts += [w, op, w, "(", rhs, ")"]
            parts.append(")")
            work.extend(reversed(parts))
        elif tag == "call":
            parts = [n[1], "("]
            for i, a in enumerate(n[2]):
                if i:
                    parts += [",", w]
                parts.append(a)
            parts.append(")")
            work.extend(reversed(parts))
    return "".join(out)


whitespace = st.sampled_from(("", " ", "  ", "\t", "\n", " # c\n"))
values = st.one_of(st.sampled_from((0.0, -0.0, 1.0, 2.0, 0.5, 3.0, -1.5, 1e308, 5e-324, float("inf"),
                                    float("-inf"), float("nan"))),
                   st.floats(allow_nan=True, allow_infinity=True), st.floats(-10, 10))
bindings = st.fixed_dictionaries({
    "x": values, "y": values, "z": values,
    "v": st.lists(values, max_size=5), "w": st.lists(values, max_size=5),
})
