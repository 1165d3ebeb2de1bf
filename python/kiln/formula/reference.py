"""The pure-Python reference of kiln.formula (specs/formula.md A.6).

Same tokenizer, parser and compiler rules as the native engine, written independently in Python:
``parse`` gives a syntax tree, ``compile`` the shared program (byte-identical items and pool),
``evaluate`` walks the tree with floats and ``math`` (C99 special cases restored, see _cmath), and
``evaluate_columns`` runs the program over numpy columns (numpy where exact, ``math`` per element
for pow and transcendental functions). Nothing here is fast; everything here is the oracle.
Positions are code points (Python strings).
"""
from __future__ import annotations

import dataclasses
import math
import struct
from typing import Any, Mapping, Optional

import numpy as np

from kiln import _opcodes as OPC
from kiln.errors import make_error
from kiln.formula import _cmath as C

# ---------------------------------------------------------------------------------------------
# Tokens
# ---------------------------------------------------------------------------------------------

END, NUMBER, NAME, PLACEHOLDER, LPAREN, RPAREN, COMMA, OP = range(8)
_LOOKALIKES = {"\u2212": "; use the ASCII minus -", "\u00d7": "; use * for multiplication",
               "\u00f7": "; use / for division", "\u2264": "; use <=", "\u2265": "; use >=", "\u2260": "; use !=",
               "\u00a0": "; a no-break space: use an ordinary space", "'": "; strings are not supported",
               '"': "; strings are not supported", "[": "; list variables are passed by name, as in max(v)",
               "]": "; list variables are passed by name, as in max(v)", "}": "; placeholders are written {name}"}
_BITWISE = "; bitwise operators do not exist on doubles"
PREC = {"<": 4, "<=": 4, ">": 4, ">=": 4, "==": 4, "!=": 4, "+": 5, "-": 5, "*": 6, "/": 6, "//": 6, "%": 6,
        "**": 8, "^": 8}
BINOP = {"+": "ADD", "-": "SUB", "*": "MUL", "/": "DIV", "//": "FLOORDIV", "%": "MOD", "**": "POW", "^": "POW",
         "<": "LT", "<=": "LE", ">": "GT", ">=": "GE", "==": "EQ", "!=": "NE", "and": "AND", "or": "OR"}
CONSTANTS = {"pi": math.pi, "e": math.e, "tau": math.tau, "inf": math.inf, "nan": math.nan, "true": 1.0, "True": 1.0,
             "false": 0.0, "False": 0.0}
# name -> (kind, opcode, id, arity); kinds: op fn1 fn2 select round minmax agg
FUNCTIONS = {
    "abs": ("op", "ABS", 0, 1), "sqrt": ("op", "SQRT", 0, 1), "floor": ("op", "FLOOR", 0, 1),
    "ceil": ("op", "CEIL", 0, 1), "trunc": ("op", "TRUNC", 0, 1), "round": ("round", "ROUND", 0, 0),
    "clamp": ("op", "CLAMP", 0, 3), "pow": ("op", "POW", 0, 2), "if": ("select", "SELECT", 0, 3),
    "where": ("select", "SELECT", 0, 3), "min": ("minmax", "MIN", 2, 0), "max": ("minmax", "MAX", 3, 0),
    "sum": ("agg", "LAGG", 0, 1), "avg": ("agg", "LAGG", 1, 1), "count": ("agg", "LAGG", 4, 1),
}
FUNCTIONS.update({n: ("fn1", "FN1", i, 1) for i, n in enumerate(OPC.FN1)})
FUNCTIONS.update({n: ("fn2", "FN2", i, 2) for i, n in enumerate(OPC.FN2)})
FUNCTION_ORDER = ["abs", "sqrt", "floor", "ceil", "trunc", "round", "clamp", "pow", "if", "where", "min", "max", "sum",
                  "avg", "count", *OPC.FN1, *OPC.FN2]


_CANONICAL_NAN = struct.unpack("<d", struct.pack("<Q", 0x7FF8000000000000))[0]


def _bits(v: float) -> int:
    return struct.unpack("<Q", struct.pack("<d", v))[0]


@dataclasses.dataclass
class Token:
    kind: int
    start: int
    end: int
    value: Any = None     # NUMBER: float; NAME/PLACEHOLDER: str; OP: the operator text


def _err(number: int, start: int, end: Optional[int] = None, **params: Any):
    e = make_error(number, **params, position=start, end=start if end is None else end)
    return e


def _ident_start(c: str) -> bool:
    return ("a" <= c <= "z") or ("A" <= c <= "Z") or c == "_"


def _ident(c: str) -> bool:
    return _ident_start(c) or ("0" <= c <= "9")


class Lexer:
    def __init__(self, text: str, max_name: int) -> None:
        self.t = text
        self.i = 0
        self.max_name = max_name

    def next(self) -> Token:
        t, n = self.t, len(self.t)
        while self.i < n:
            c = t[self.i]
            if c in " \t\r\n":
                self.i += 1
            elif c == "#":
                while self.i < n and t[self.i] != "\n":
                    self.i += 1
            else:
                break
        if self.i >= n:
            return Token(END, self.i, self.i)
        s = self.i
        c = t[s]
        d = t[s + 1] if s + 1 < n else ""
        if c.isdigit() and c.isascii() or (c == "." and d.isascii() and d.isdigit()):
            return self.number()
        if _ident_start(c):
            while self.i < n and _ident(t[self.i]):
                self.i += 1
            if len(t[s:self.i].encode()) > self.max_name:
                raise _err(4205, s, self.i, what="name length", limit=self.max_name, pos=s)
            return Token(NAME, s, self.i, t[s:self.i])
        if c == "{":
            return self.placeholder()

        def op(text: str) -> Token:
            self.i = s + len(text)
            return Token(OP if text not in "(),"  or text == "" else {"(": LPAREN, ")": RPAREN, ",": COMMA}[text],
                         s, self.i, text)

        def unsupported(k: int, hint: str):
            return _err(4009, s, s + k, op=t[s:s + k], pos=s, hint=hint)

        if c in "(),":
            return op(c)
        if c in "+-%^":
            return op(c)
        if c == "*":
            return op("**" if d == "*" else "*")
        if c == "/":
            return op("//" if d == "/" else "/")
        if c == "<":
            if d == "=":
                return op("<=")
            if d == ">":
                raise unsupported(2, "; write !=")
            if d == "<":
                raise unsupported(2, _BITWISE)
            return op("<")
        if c == ">":
            if d == "=":
                return op(">=")
            if d == ">":
                raise unsupported(2, _BITWISE)
            return op(">")
        if c == "=":
            if d == "=":
                return op("==")
            raise unsupported(1, "; write == to compare")
        if c == "!":
            if d == "=":
                return op("!=")
            raise unsupported(1, "; write not")
        if c == "&":
            raise unsupported(2, "; write and") if d == "&" else unsupported(1, _BITWISE)
        if c == "|":
            raise unsupported(2, "; write or") if d == "|" else unsupported(1, _BITWISE)
        if c == "~":
            raise unsupported(1, _BITWISE)
        if c == "@":
            raise unsupported(1, "; matrix multiplication does not exist on doubles")
        if c in "?:":
            raise unsupported(1, "; write if(c, a, b)")
        cp = ord(c)
        shown = f"\\x{cp:04X}" if cp < 0x20 or cp == 0x7F else c
        raise _err(4002, s, s + 1, char=shown, codepoint=f"{cp:04X}", pos=s, hint=_LOOKALIKES.get(c, ""))

    def number(self) -> Token:
        t, n, s = self.t, len(self.t), self.i
        isd = lambda k: k < n and "0" <= t[k] <= "9"  # noqa: E731
        ok = True
        while isd(self.i):
            self.i += 1
        if self.i < n and t[self.i] == ".":
            self.i += 1
            while isd(self.i):
                self.i += 1
        if self.i < n and t[self.i] in "eE":
            save = self.i
            self.i += 1
            if self.i < n and t[self.i] in "+-":
                self.i += 1
            if isd(self.i):
                while isd(self.i):
                    self.i += 1
            else:
                ok = False
                self.i = save
        lit_end = self.i
        if not ok or (self.i < n and (_ident(t[self.i]) or t[self.i] == ".")):
            e = self.i
            while e < n and (_ident(t[e]) or t[e] == "."):
                e += 1
            bad, lit, rest = t[s:e], t[s:lit_end], t[lit_end:e]
            hint = ""
            if len(bad) > 1 and bad[0] == "0" and bad[1] in "xXbo":
                hint = "; hexadecimal, binary and octal literals are not supported"
            elif "_" in bad and len(rest) > 1 and "0" <= rest[1] <= "9":
                hint = "; digit separators (_) are not supported"
            elif rest in ("j", "J"):
                hint = "; imaginary numbers are not supported"
            elif ok and rest and _ident_start(rest[0]):
                hint = f"; write {lit}*{rest}"
            raise _err(4006, s, e, text=bad, pos=s, hint=hint)
        lit = t[s:lit_end]
        v = float(lit)
        if math.isinf(v):
            raise _err(4007, s, lit_end, text=lit, pos=s)
        return Token(NUMBER, s, lit_end, v)

    def placeholder(self) -> Token:
        t, s = self.t, self.i
        j = s + 1

        def bad(reason: str, at: int):
            return _err(4008, s, at, pos=s, reason=reason)

        while j < len(t) and t[j] != "}":
            c = t[j]
            if c == "{":
                raise bad("'{' inside a placeholder", j + 1)
            if c == "\\":
                raise bad("'\\' inside a placeholder", j + 1)
            if ord(c) < 0x20 or ord(c) == 0x7F:
                raise bad("a control character inside a placeholder", j + 1)
            j += 1
        if j >= len(t):
            raise bad("unterminated placeholder: missing '}'", len(t))
        inner = t[s + 1:j]
        if not inner:
            raise bad("empty placeholder", j + 1)
        if inner[0] in " \t\u00a0" or inner[-1] in " \t\u00a0":
            raise bad("leading or trailing whitespace", j + 1)
        if len(inner.encode()) > self.max_name:
            raise _err(4205, s, j + 1, what="placeholder length", limit=self.max_name, pos=s)
        self.i = j + 1
        return Token(PLACEHOLDER, s, self.i, inner)


def _describe(tok: Token, text: str) -> str:
    s = text[tok.start:tok.end]
    return {END: "the end of the formula", NUMBER: f"number {s}", NAME: f"name {s}", PLACEHOLDER: f"placeholder {s}",
            LPAREN: "'('", RPAREN: "')'", COMMA: "','"}.get(tok.kind, f"operator {s}")


# ---------------------------------------------------------------------------------------------
# Parser + compiler (one pass, explicit stacks): tree and program together
# ---------------------------------------------------------------------------------------------

@dataclasses.dataclass
class Operand:
    start: int
    kind: str = "other"       # other const var neg cmp
    known: bool = False
    value: float = 0.0
    sym: int = 0
    span: tuple = (0, 0)
    tree: Any = None
    cmp_items: list = dataclasses.field(default_factory=list)
    cmp_spans: list = dataclasses.field(default_factory=list)
    cmp_known: bool = False
    cmp_value: float = 0.0


@dataclasses.dataclass
class Pending:
    kind: str                 # binary neg plus not lparen call
    tok: str = ""
    prec: int = 0
    span: tuple = (0, 0)
    fn: str = ""
    operand_base: int = 0
    argc: int = 0


@dataclasses.dataclass
class Symbol:
    name: str
    first: tuple
    scalar_uses: int = 0
    list_uses: int = 0
    first_scalar: tuple = (0, 0)
    list_call: tuple = (0, 0)
    list_fn: str = ""


@dataclasses.dataclass(frozen=True)
class Compiled:
    items: bytes
    pool: bytes
    n_vars: int
    n_lists: int
    variables: tuple          # (name, is_list, first_position, slot)
    functions: tuple
    tree: Any
    node_count: int
    depth: int
    spans: tuple
    mode: str


class _Compiler:
    def __init__(self, text: str, mode: str, fold: bool, limits, constants) -> None:
        self.text = text
        self.mode = mode
        self.fold = fold
        (self.max_length, self.max_depth, self.max_nodes, self.max_args, self.max_name) = limits
        self.constants = dict(constants)
        self.lex = Lexer(text, self.max_name)
        self.peeked: Optional[Token] = None
        self.items: list = []          # [op, token, arg0]
        self.spans: list = []
        self.pool: list = []
        self.operands: list = []
        self.ops: list = []
        self.symbols: list = []
        self.sym_index: dict = {}
        self.functions: list = []
        self.nodes = 0

    # -- helpers mirror the native compiler --------------------------------------------------
    def next(self) -> Token:
        if self.peeked is not None:
            t, self.peeked = self.peeked, None
            return t
        return self.lex.next()

    def peek(self) -> Token:
        if self.peeked is None:
            self.peeked = self.lex.next()
        return self.peeked

    def count_node(self, span) -> None:
        self.nodes += 1
        if self.nodes > self.max_nodes:
            raise _err(4203, span[0], span[1], what="syntax-tree node count", limit=self.max_nodes, pos=span[0])

    def intern(self, v: float) -> int:
        if v != v:
            v = _CANONICAL_NAN     # one NaN in the pool, as the native compiler stores it
        b = _bits(v)
        for i, p in enumerate(self.pool):
            if _bits(p) == b:
                return i
        self.pool.append(v)
        return len(self.pool) - 1

    def emit(self, op: str, span, token: int = 0, arg0: int = 0) -> None:
        self.items.append([op, token, arg0])
        self.spans.append(span)

    def erase(self, a: int, b: int) -> None:
        del self.items[a:b]
        del self.spans[a:b]

    def can_fold(self, r: float) -> bool:
        return self.fold and (self.mode == "ieee" or math.isfinite(r))

    def push_const(self, v: float, span, tree) -> None:
        o = Operand(start=len(self.items), kind="const", known=True, value=v, span=span, tree=tree)
        self.emit("LIT", span, self.intern(v))
        self.operands.append(o)

    def collapse(self, start: int, v: float, span, tree) -> Operand:
        self.erase(start, len(self.items))
        o = Operand(start=start, kind="const", known=True, value=v, span=span, tree=tree)
        self.emit("LIT", span, self.intern(v))
        self.operands.append(o)
        return o

    def unexpected(self, t: Token, expected: str):
        if t.kind == END:
            return _err(4004, t.start, t.end, pos=t.start, expected=expected)
        return _err(4003, t.start, t.end, found=_describe(t, self.text), pos=t.start, expected=expected)

    def not_allowed_here(self) -> bool:
        if not self.ops:
            return False
        p = self.ops[-1]
        return not (p.kind in ("lparen", "call", "not") or p.tok in ("and", "or"))

    def use_variable(self, name: str, span) -> None:
        self.count_node(span)
        idx = self.sym_index.get(name)
        if idx is None:
            idx = len(self.symbols)
            self.symbols.append(Symbol(name, span))
            self.sym_index[name] = idx
        s = self.symbols[idx]
        if s.scalar_uses == 0:
            s.first_scalar = span
        s.scalar_uses += 1
        self.operands.append(Operand(start=len(self.items), kind="var", sym=idx, span=span, tree=("var", name)))
        self.emit("VAR", span, idx)

    def operand_token(self, t: Token) -> None:
        span = (t.start, t.end)
        if t.kind == NUMBER:
            self.count_node(span)
            self.push_const(t.value, span, ("num", t.value))
            return
        if t.kind == PLACEHOLDER:
            self.use_variable(t.value, span)
            return
        name = t.value
        if name in ("and", "or"):
            raise _err(4010, t.start, t.end, word=name, pos=t.start, hint="; an operand is expected here")
        if self.peek().kind == LPAREN:
            low = name.lower()
            if low not in FUNCTIONS:
                cands = [c for c in FUNCTION_ORDER if _edit(low, c) <= 2]
                best = min(cands, key=lambda c: (_edit(low, c), FUNCTION_ORDER.index(c))) if cands else None
                hint = f"; did you mean {best}()?" if best else ""
                raise _err(4101, t.start, t.end, name=name, pos=t.start, suggestion=hint)
            self.count_node(span)
            if low not in self.functions:
                self.functions.append(low)
            self.next()
            self.ops.append(Pending("call", fn=low, span=span, operand_base=len(self.operands)))
            return
        if name == "if":
            raise _err(4010, t.start, t.end, word=name, pos=t.start, hint="; write if(c, a, b)")
        if name in CONSTANTS:
            v = CONSTANTS[name]
            if self.mode == "strict" and not math.isfinite(v):
                raise _err(4105, t.start, t.end, name=name, pos=t.start)
            self.count_node(span)
            self.push_const(v, span, ("const", name))
            return
        if name in self.constants:
            self.count_node(span)
            self.push_const(self.constants[name], span, ("const", name))
            return
        self.use_variable(name, span)

    # -- reductions ------------------------------------------------------------------------------
    def reduce(self, p: Pending) -> None:
        if p.kind == "plus":
            a = self.operands[-1]
            if a.kind == "cmp":
                a.kind = "other"
            a.tree = ("pos", a.tree)
            return
        if p.kind == "neg":
            a = self.operands.pop()
            tree = ("neg", a.tree)
            if a.known and self.can_fold(-a.value):
                o = self.collapse(a.start, -a.value, a.span, tree)
                o.span = p.span
                return
            if a.kind == "neg" and self.fold:
                self.erase(len(self.items) - 1, len(self.items))
                a.kind = "other"
                a.tree = tree
                self.operands.append(a)
                return
            self.emit("NEG", p.span)
            self.operands.append(Operand(start=a.start, kind="neg", known=a.known, value=-a.value, span=p.span,
                                         tree=tree))
            return
        if p.kind == "not":
            a = self.operands.pop()
            v = 1.0 if a.value == 0.0 else 0.0
            tree = ("not", a.tree)
            if a.known and self.can_fold(v):
                self.collapse(a.start, v, p.span, tree)
                return
            self.emit("NOT", p.span)
            self.operands.append(Operand(start=a.start, known=a.known, value=v, span=p.span, tree=tree))
            return
        self.reduce_binary(p)

    def reduce_binary(self, p: Pending) -> None:
        b = self.operands.pop()
        a = self.operands.pop()
        op = BINOP[p.tok]
        is_cmp = PREC.get(p.tok) == 4
        if is_cmp and a.kind == "cmp":
            mid, mid_spans = list(a.cmp_items), list(a.cmp_spans)
            self.items[b.start:b.start] = [list(x) for x in mid]
            self.spans[b.start:b.start] = mid_spans
            m_start, m_known, m_value = b.start, a.cmp_known, a.cmp_value
            b.start += len(mid)
            rc_known = m_known and b.known
            rc_value = C.apply(op, 0, m_value, b.value) if rc_known else 0.0
            rc_items = [list(x) for x in self.items[b.start:]]
            rc_spans = list(self.spans[b.start:])
            if rc_known and self.can_fold(rc_value):
                self.erase(m_start, len(self.items))
                self.emit("LIT", p.span, self.intern(rc_value))
            else:
                self.emit(op, p.span)
            tree = ("cmp", a.tree[1] + (p.tok,), a.tree[2] + (b.tree,)) if a.tree[0] == "cmp" else None
            r = Operand(start=a.start, kind="cmp", cmp_items=rc_items, cmp_spans=rc_spans, cmp_known=b.known,
                        cmp_value=b.value, span=a.span, tree=tree)
            if a.known and (not C.truthy(a.value) or rc_known):
                r.known = True
                r.value = rc_value if C.truthy(a.value) else a.value
            if a.known and self.fold:
                if not C.truthy(a.value):
                    self.erase(m_start, len(self.items))
                else:
                    self.erase(a.start, m_start)
            else:
                self.emit("AND", p.span)
            self.operands.append(r)
            return
        if is_cmp:
            tree = ("cmp", (p.tok,), (a.tree, b.tree))
        elif p.tok in ("and", "or"):
            tree = (p.tok, a.tree, b.tree)
        else:
            tree = ("bin", "**" if p.tok == "^" else p.tok, a.tree, b.tree)
        r = Operand(start=a.start, span=a.span, tree=tree)
        if a.known and b.known:
            r.known = True
            r.value = C.apply(op, 0, a.value, b.value)
        elif a.known and op in ("AND", "OR") and C.truthy(a.value) == (op == "OR"):
            r.known, r.value = True, a.value
        if is_cmp:
            r.kind = "cmp"
            r.cmp_items = [list(x) for x in self.items[b.start:]]
            r.cmp_spans = list(self.spans[b.start:])
            r.cmp_known, r.cmp_value = b.known, b.value
        if op == "POW" and b.known and _bits(b.value) == _bits(2.0):
            if r.known:
                r.value = a.value * a.value
                if self.can_fold(r.value):
                    self.collapse(a.start, r.value, a.span, tree)
                    return
            self.erase(b.start, len(self.items))
            self.emit("SQR", p.span)
            self.operands.append(r)
            return
        if r.known and self.can_fold(r.value):
            c = self.collapse(a.start, r.value, a.span, tree)
            if is_cmp:
                c.kind = "cmp"
                c.cmp_items, c.cmp_spans, c.cmp_known, c.cmp_value = r.cmp_items, r.cmp_spans, r.cmp_known, r.cmp_value
            return
        if self.fold:
            def keep_a():
                self.erase(b.start, len(self.items))
                a.kind = "other" if a.kind == "cmp" else a.kind
                a.tree = tree
                self.operands.append(a)

            def keep_b():
                self.erase(a.start, b.start)
                b.start = a.start
                b.kind = "other" if b.kind == "cmp" else b.kind
                b.tree = tree
                self.operands.append(b)

            one, zero, mzero = _bits(1.0), _bits(0.0), _bits(-0.0)
            if op == "MUL" and b.known and _bits(b.value) == one:
                return keep_a()
            if op == "MUL" and a.known and _bits(a.value) == one:
                return keep_b()
            if op == "DIV" and b.known and _bits(b.value) == one:
                return keep_a()
            if op == "SUB" and b.known and _bits(b.value) == zero:
                return keep_a()
            if op == "ADD" and b.known and _bits(b.value) == mzero:
                return keep_a()
            if op == "POW" and b.known and _bits(b.value) == one:
                return keep_a()
            if op == "POW" and b.known and b.value == 0.0 and self.mode == "ieee":
                self.collapse(a.start, 1.0, a.span, tree)
                return
            if op in ("AND", "OR") and a.known:
                t = C.truthy(a.value)
                if (op == "AND") != t:
                    return keep_a()
                return keep_b()
        self.emit(op, p.span)
        self.operands.append(r)

    def reduce_call(self, p: Pending) -> None:
        kind, opname, fid, arity = FUNCTIONS[p.fn]
        argc = p.argc
        args = self.operands[p.operand_base:]
        del self.operands[p.operand_base:]
        start = args[0].start if args else len(self.items)
        tree = ("call", p.fn, tuple(a.tree for a in args))

        def wrong(expected: str):
            return _err(4102, p.span[0], p.span[1], name=p.fn, pos=p.span[0], expected=expected, got=argc)

        def finish(op: str, arg0: int, n: int) -> None:
            known = all(a.known for a in args[:n])
            if op == "SELECT" and args[0].known:
                known = (args[1] if C.truthy(args[0].value) else args[2]).known
            r = Operand(start=start, span=p.span, tree=tree)
            if known:
                vals = [a.value for a in args[:n]] + [0.0] * (3 - n)
                r.known = True
                r.value = C.apply(op, arg0, *vals)
                strict_error = self.mode == "strict" and op == "CLAMP" and vals[1] > vals[2]
                if self.can_fold(r.value) and not strict_error:
                    self.collapse(start, r.value, p.span, tree)
                    return
            self.emit(op, p.span, 0, arg0)
            self.operands.append(r)

        def list_arg(agg: int) -> None:
            a = args[0]
            if a.kind != "var" or len(self.items) != a.start + 1:
                raise _err(4103, p.span[0], p.span[1], name=p.fn, pos=p.span[0],
                           reason=f"takes one list variable (write the name of the list, as in {p.fn}(v))")
            s = self.symbols[a.sym]
            s.scalar_uses -= 1
            if s.list_uses == 0:
                s.list_call, s.list_fn = p.span, p.fn
            s.list_uses += 1
            self.items[-1] = ["LAGG", a.sym, agg]
            self.spans[-1] = p.span
            self.operands.append(Operand(start=a.start, span=p.span, tree=("call", p.fn, (("list", s.name),))))

        if kind in ("op", "fn1", "fn2", "select"):
            if argc != arity:
                raise wrong(str(arity))
            if kind == "select" and self.fold and args[0].known:
                if C.truthy(args[0].value):
                    self.erase(args[2].start, len(self.items))
                    self.erase(args[0].start, args[1].start)
                    chosen = args[1]
                else:
                    self.erase(args[0].start, args[2].start)
                    chosen = args[2]
                chosen.start = start
                if chosen.kind == "cmp":
                    chosen.kind = "other"
                chosen.tree = tree
                self.operands.append(chosen)
                return
            if opname == "POW":
                self.operands.extend(args)
                self.reduce_binary(Pending("binary", tok="**", span=p.span))
                self.operands[-1].tree = tree
                return
            return finish(opname, fid if kind in ("fn1", "fn2") else 0, arity)
        if kind == "round":
            if argc == 1:
                return finish("ROUND", 0, 1)
            if argc != 2:
                raise wrong("1 or 2")
            n = args[1]
            if not n.known or not (-308 <= n.value <= 308) or n.value != math.floor(n.value):
                s = self.spans[n.start]
                raise _err(4104, s[0], s[1], index=2, name=p.fn, pos=s[0], lo=-308, hi=308)
            self.erase(n.start, len(self.items))
            return finish("ROUNDN", int(n.value), 1)
        if kind == "agg":
            if argc != 1:
                raise wrong("1")
            return list_arg(fid)
        # min / max
        if argc == 1:
            return list_arg(fid)
        if argc == 0:
            raise wrong("2-255 (or one list variable)")
        seg, segs = self.items[start:], self.spans[start:]
        self.erase(start, len(self.items))
        known, acc = True, 0.0
        for i in range(argc):
            b = args[i].start - start
            e = (args[i + 1].start if i + 1 < argc else start + len(seg)) - start
            self.items.extend([list(x) for x in seg[b:e]])
            self.spans.extend(segs[b:e])
            known = known and args[i].known
            if i == 0:
                acc = args[i].value
            else:
                acc = C.apply(opname, 0, acc, args[i].value)
                self.emit(opname, p.span)
        r = Operand(start=start, span=p.span, known=known, value=acc, tree=tree)
        if known and self.can_fold(acc):
            self.collapse(start, acc, p.span, tree)
            return
        self.operands.append(r)

    # -- driver ------------------------------------------------------------------------------------
    def run(self) -> Compiled:
        text = self.text
        nbytes = len(text.encode("utf-8", "surrogatepass"))
        if nbytes > self.max_length:
            # the first code point whose bytes cross the limit
            acc, pos = 0, 0
            for pos, ch in enumerate(text):
                acc += len(ch.encode("utf-8", "surrogatepass"))
                if acc > self.max_length:
                    break
            raise _err(4201, pos, pos + 1, what="formula length in bytes", limit=self.max_length, pos=pos)
        expect_operand, any_token = True, False
        while True:
            t = self.next()
            span = (t.start, t.end)
            if expect_operand:
                if t.kind in (NUMBER, PLACEHOLDER):
                    self.operand_token(t)
                    expect_operand = False
                elif t.kind == NAME:
                    if t.value == "not":
                        if self.not_allowed_here():
                            raise _err(4010, t.start, t.end, word="not", pos=t.start,
                                       hint="; put the not-expression in parentheses")
                        self.count_node(span)
                        self.ops.append(Pending("not", prec=3, span=span))
                    else:
                        before = len(self.ops)
                        self.operand_token(t)
                        expect_operand = len(self.ops) == before + 1 and self.ops[-1].kind == "call"
                elif t.kind == LPAREN:
                    self.ops.append(Pending("lparen", span=span))
                elif t.kind == OP and t.value in ("+", "-"):
                    self.count_node(span)
                    self.ops.append(Pending("plus" if t.value == "+" else "neg", prec=7, span=span))
                elif t.kind == RPAREN and self.ops and self.ops[-1].kind == "call" and self.ops[-1].argc == 0 \
                        and len(self.operands) == self.ops[-1].operand_base:
                    self.reduce_call(self.ops.pop())
                    expect_operand = False
                elif t.kind == END and not any_token:
                    raise _err(4001, t.start, t.end)
                else:
                    raise self.unexpected(t, "an operand")
                any_token = True
                continue
            prec, tok = 0, ""
            if t.kind == NAME and t.value in ("and", "or"):
                tok, prec = t.value, (2 if t.value == "and" else 1)
            elif t.kind == NAME and t.value in ("if", "not"):
                raise _err(4010, t.start, t.end, word=t.value, pos=t.start,
                           hint="; write if(c, a, b)" if t.value == "if" else "; not is a prefix operator")
            elif t.kind == OP:
                tok, prec = t.value, PREC[t.value]
            if prec > 0:
                right = tok in ("**", "^")
                while self.ops:
                    top = self.ops[-1]
                    if top.kind in ("lparen", "call"):
                        break
                    if top.prec > prec or (top.prec == prec and not right):
                        self.reduce(self.ops.pop())
                    else:
                        break
                self.count_node(span)
                self.ops.append(Pending("binary", tok=tok, prec=prec, span=span))
                expect_operand = True
                continue
            if t.kind in (COMMA, RPAREN, END):
                while self.ops and self.ops[-1].kind not in ("lparen", "call"):
                    self.reduce(self.ops.pop())
                if t.kind == END:
                    if self.ops:
                        o = self.ops[-1]
                        s = o.span[1] if o.kind == "call" else o.span[0]
                        raise _err(4005, s, s + 1, paren="'('", pos=s)
                    break
                if not self.ops:
                    if t.kind == RPAREN:
                        raise _err(4005, t.start, t.end, paren="')'", pos=t.start)
                    raise self.unexpected(t, "an operator or the end of the formula")
                o = self.ops[-1]
                if t.kind == COMMA:
                    if o.kind != "call":
                        raise self.unexpected(t, "an operator or ')'")
                    o.argc += 1
                    if o.argc >= self.max_args:
                        raise _err(4204, t.start, t.end, what="argument count", limit=self.max_args, pos=t.start)
                    expect_operand = True
                    continue
                self.ops.pop()
                if o.kind == "lparen":
                    x = self.operands[-1]
                    if x.kind == "cmp":   # (a < b) < c does not chain
                        x.kind = "other"
                    x.span = (o.span[0], t.end)
                else:
                    o.argc += 1
                    self.reduce_call(o)
                continue
            raise self.unexpected(t, "an operator or the end of the formula")

        for s in self.symbols:
            if s.scalar_uses > 0 and s.list_uses > 0:
                reason = (f"is used as a scalar here but as a list in {s.list_fn}() at position {s.list_call[0]}; "
                          f"aggregate it first, e.g. max(max({s.name}), 0)")
                raise _err(4103, s.first_scalar[0], s.first_scalar[1], name=s.name, pos=s.first_scalar[0],
                           reason=reason, list_position=s.list_call[0])
        slots, variables, ns, nl = [], [], 0, 0
        for s in self.symbols:
            is_list = s.list_uses > 0
            slot = nl if is_list else ns
            if is_list:
                nl += 1
            else:
                ns += 1
            slots.append(slot)
            variables.append((s.name, is_list, s.first[0], slot))
        if len(self.items) > self.max_nodes:
            s = self.spans[self.max_nodes]
            raise _err(4203, s[0], s[1], what="program item count", limit=self.max_nodes, pos=s[0])
        depth = best = 0
        out = bytearray()
        for i, (op, token, arg0) in enumerate(self.items):
            if op in ("VAR", "LAGG"):
                token = slots[token]
            pops, pushes = OPC.OPS[op][2], OPC.OPS[op][3]
            depth += pushes - pops
            best = max(best, depth)
            if depth > self.max_depth:
                s = self.spans[i]
                raise _err(4202, s[0], s[1], what="stack depth", limit=self.max_depth, pos=s[0])
            out += struct.pack("<IHBBhhf", token, i, OPC.OPS[op][0], 0, arg0, 0, 0.0)
        pool = struct.pack(f"<{len(self.pool)}d", *self.pool)
        tree = self.operands[-1].tree if self.operands else None
        return Compiled(bytes(out), pool, ns, nl, tuple(variables), tuple(self.functions), tree, self.nodes, best,
                        tuple(self.spans), self.mode)


def _edit(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def compile(text: str, *, mode: str = "ieee", fold: bool = True, limits: Any = None, constants: Any = None) -> Compiled:
    """Compile like the native engine; items and pool are byte-identical to ``Formula.program``."""
    from kiln.formula._formula import _norm_constants, _norm_limits

    lim = _norm_limits(limits)
    return _Compiler(text, mode, fold, lim.as_tuple(), _norm_constants(constants)).run()


def parse(text: str, **options: Any):
    """The syntax tree: ("num", v) ("const", name) ("var", name) ("list", name) ("neg"|"pos"|"not", t)
    ("bin", op, a, b) ("cmp", ops, operands) ("and"|"or", a, b) ("call", name, args)."""
    return compile(text, fold=False, **options).tree


# ---------------------------------------------------------------------------------------------
# Tree-walking scalar evaluation (ieee), with an explicit stack
# ---------------------------------------------------------------------------------------------

_CMP = {"<": "LT", "<=": "LE", ">": "GT", ">=": "GE", "==": "EQ", "!=": "NE"}


def evaluate_tree(tree, values: Mapping[str, Any]) -> float:
    """Evaluate a parse tree on Python floats (ieee semantics, same IEEE operation order).

    Each value carries a flag "known when compiling" (variable-free, with short-circuit rules for
    and/or/if and chained comparisons): a power whose exponent is known to be 2 is a square (F6)."""
    # Postorder with an explicit work stack: ("visit", node) / ("apply", node, n_children).
    work = [("visit", tree)]
    vals: list = []     # (value, known)
    while work:
        kind, node, *rest = work.pop()
        if kind == "visit":
            tag = node[0]
            if tag == "num":
                vals.append((node[1], True))
            elif tag == "const":
                vals.append((CONSTANTS[node[1]] if node[1] in CONSTANTS else float(values[node[1]]), True))
            elif tag == "var":
                vals.append((float(values[node[1]]), False))
            elif tag in ("neg", "pos", "not"):
                work.append(("apply", node, 1))
                work.append(("visit", node[1]))
            elif tag in ("bin", "and", "or"):
                kids = (node[2], node[3]) if tag == "bin" else (node[1], node[2])
                work.append(("apply", node, 2))
                work.extend(("visit", k) for k in reversed(kids))
            elif tag == "cmp":
                work.append(("apply", node, len(node[2])))
                work.extend(("visit", k) for k in reversed(node[2]))
            elif tag == "call":
                args = node[2]
                if node[1] in ("sum", "avg", "count", "min", "max") and len(args) == 1 and args[0][0] == "list":
                    vals.append((C.lagg({"sum": 0, "avg": 1, "min": 2, "max": 3, "count": 4}[node[1]],
                                        [float(x) for x in values[args[0][1]]]), False))
                    continue
                work.append(("apply", node, len(args)))
                work.extend(("visit", k) for k in reversed(args))
            continue
        n = rest[0]
        pairs = vals[len(vals) - n:]
        del vals[len(vals) - n:]
        args = [p[0] for p in pairs]
        known = [p[1] for p in pairs]
        allk = all(known)
        tag = node[0]
        if tag == "neg":
            vals.append((-args[0], allk))
        elif tag == "pos":
            vals.append((args[0], allk))
        elif tag == "not":
            vals.append((C.b2d(args[0] == 0.0), allk))
        elif tag in ("and", "or"):
            left_decides = C.truthy(args[0]) == (tag == "or")
            v = args[0] if left_decides else args[1]
            vals.append((v, known[0] and (left_decides or known[1])))
        elif tag == "bin":
            a, b = args
            op = node[1]
            if op == "**" and known[1] and _bits(b) == _bits(2.0):
                vals.append((a * a, allk))
            else:
                vals.append((C.apply(BINOP[op], 0, a, b), allk))
        elif tag == "cmp":
            ops = node[1]
            r = C.apply(_CMP[ops[0]], 0, args[0], args[1])
            rk = known[0] and known[1]
            for k in range(1, len(ops)):
                r2 = C.apply(_CMP[ops[k]], 0, args[k], args[k + 1])
                r2k = known[k] and known[k + 1]
                if not (rk and not C.truthy(r)):   # a known falsy prefix decides the chain
                    rk = rk and r2k
                r = r2 if C.truthy(r) else r
            vals.append((r, rk))
        else:  # call
            name = node[1]
            kind, opname, fid, _ = FUNCTIONS[name]
            if kind == "round" and len(args) == 2:
                vals.append((C.roundn(args[0], int(args[1])), known[0]))
            elif kind == "round":
                vals.append((C.rint(args[0]), allk))
            elif kind == "minmax":
                r = args[0]
                for x in args[1:]:
                    r = C.apply(opname, 0, r, x)
                vals.append((r, allk))
            elif opname == "POW":
                a, b = args
                vals.append((a * a if known[1] and _bits(b) == _bits(2.0) else C.c_pow(a, b), allk))
            elif opname == "SELECT":
                chosen = 1 if C.truthy(args[0]) else 2
                vals.append((args[chosen], known[chosen] if known[0] else False))
            else:
                vals.append((C.apply(opname, fid, *args), allk))
    return vals[0][0]


def evaluate(text_or_tree, values: Optional[Mapping[str, Any]] = None, /, *, constants: Any = None,
             **kw: Any) -> float:
    """Reference scalar evaluation (ieee) of a text or a parse tree."""
    vals = dict(values or {}, **kw)
    if constants:
        vals.update(dict(constants))
    if isinstance(text_or_tree, str):
        c = compile(text_or_tree, constants=constants)
        missing = [v[0] for v in c.variables if v[0] not in vals]
        if missing:
            raise make_error(4301, count=len(missing), names=", ".join(missing), suggestion="")
        tree = c.tree if c.tree is not None else parse(text_or_tree, constants=constants)
        tree = parse(text_or_tree, constants=constants)
    else:
        tree = text_or_tree
    return evaluate_tree(tree, vals)


# ---------------------------------------------------------------------------------------------
# Vectorised evaluation of the compiled program over numpy columns
# ---------------------------------------------------------------------------------------------

_EXACT_UFUNCS = {"ADD": np.add, "SUB": np.subtract, "MUL": np.multiply}


def run_program(c: Compiled, scalars: list, lists: Optional[list] = None, rows: Optional[int] = None) -> np.ndarray:
    """Run a reference-compiled program over columns: scalars[slot] is a float64 array (or float),
    lists[slot] a list of per-row sequences. numpy where exact, math per element elsewhere."""
    items = np.frombuffer(c.items, dtype=[("token", "<u4"), ("pos", "<u2"), ("op", "u1"), ("flags", "u1"),
                                          ("arg0", "<i2"), ("arg1", "<i2"), ("weight", "<f4")])
    pool = np.frombuffer(c.pool, dtype="<f8")
    n = rows
    if n is None:
        n = next((len(s) for s in scalars if isinstance(s, np.ndarray)), 1)
    stack: list = []
    for it in items:
        op = OPC.NAMES[int(it["op"])]
        tok, arg0 = int(it["token"]), int(it["arg0"])
        if op == "LIT":
            stack.append(np.full(n, pool[tok]))
        elif op == "VAR":
            stack.append(np.broadcast_to(np.asarray(scalars[tok], dtype=np.float64), (n,)).copy())
        elif op == "LAGG":
            stack.append(np.array([C.lagg(arg0, [float(x) for x in row]) for row in lists[tok]], dtype=np.float64))
        else:
            k = OPC.OPS[op][2]
            args = stack[len(stack) - k:]
            del stack[len(stack) - k:]
            with np.errstate(all="ignore"):
                if op in _EXACT_UFUNCS:
                    r = _EXACT_UFUNCS[op](args[0], args[1])
                elif op == "NEG":
                    r = np.negative(args[0])
                elif op == "SQR":
                    r = args[0] * args[0]
                elif op == "SQRT":
                    r = np.sqrt(args[0])             # correctly rounded
                elif op == "ABS":
                    r = np.abs(args[0])
                elif op in ("LT", "LE", "GT", "GE", "EQ", "NE"):
                    f = {"LT": np.less, "LE": np.less_equal, "GT": np.greater, "GE": np.greater_equal,
                         "EQ": np.equal, "NE": np.not_equal}[op]
                    r = f(args[0], args[1]).astype(np.float64)
                else:
                    cols = [a.tolist() for a in args]
                    r = np.array([C.apply(op, arg0, *vals) for vals in zip(*cols)], dtype=np.float64)
            stack.append(r)
    return stack[0]
