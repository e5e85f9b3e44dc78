"""A safe compiler for user-written math expressions such as ``"0.5*x**2 + sin(3*y)"``.

Case files come from strangers, so nothing here ever runs Python code from the text.
The text is parsed with :func:`ast.parse` and every node is checked against a short
whitelist (numbers, the given variable names, ``pi``, ``e``, ``+ - * / **``, unary
``+ -`` and calls of a fixed set of numpy functions); the accepted tree is translated
into a small tree of our own that is evaluated with numpy and differentiated
symbolically.  All numbers are float64 (``10**10**10`` is ``inf``, never a huge int).
"""
from __future__ import annotations

import ast
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

MAX_TEXT_LENGTH = 2000
MAX_NODES = 500
MAX_DEPTH = 100

CONSTANTS = {"pi": math.pi, "e": math.e}
UNARY_FUNCTIONS = ("sin", "cos", "tan", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh",
                   "exp", "log", "log10", "sqrt", "abs")
BINARY_FUNCTIONS = ("arctan2", "minimum", "maximum")

_BINARY_OPERATORS = {ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.Div: "div",
                     ast.Pow: "pow"}
_UNARY_OPERATORS = {ast.UAdd: "pos", ast.USub: "neg"}

# Every operation a compiled tree may hold: the user-facing ones above plus the few that
# only derivatives introduce (sign, and the branch selectors of minimum / maximum).
_NUMPY: dict[str, Callable[..., np.ndarray]] = {
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide, "pow": np.power,
    "pos": np.positive, "neg": np.negative,
    "sin": np.sin, "cos": np.cos, "tan": np.tan, "arcsin": np.arcsin, "arccos": np.arccos,
    "arctan": np.arctan, "sinh": np.sinh, "cosh": np.cosh, "tanh": np.tanh, "exp": np.exp,
    "log": np.log, "log10": np.log10, "sqrt": np.sqrt, "abs": np.abs,
    "arctan2": np.arctan2, "minimum": np.minimum, "maximum": np.maximum,
    "sign": np.sign,
    "select_le": lambda a, b, p, q: np.where(a <= b, p, q),
    "select_ge": lambda a, b, p, q: np.where(a >= b, p, q),
}

# Human names of the Python constructs people most often try, for error messages.
_CONSTRUCT_NAMES = {
    ast.Attribute: "attribute access", ast.Subscript: "subscripts", ast.Lambda: "lambda",
    ast.ListComp: "comprehensions", ast.SetComp: "comprehensions", ast.DictComp: "comprehensions",
    ast.GeneratorExp: "comprehensions", ast.Compare: "comparisons", ast.BoolOp: "'and'/'or'",
    ast.IfExp: "conditional expressions", ast.List: "lists", ast.Tuple: "tuples",
    ast.Dict: "dicts", ast.Set: "sets", ast.Starred: "starred arguments",
    ast.NamedExpr: "assignment expressions", ast.JoinedStr: "f-strings", ast.Await: "await",
    ast.Yield: "yield", ast.YieldFrom: "yield", ast.Slice: "slices",
}


class ExpressionError(ValueError):
    """The text is not an allowed expression; the message is one line saying why."""


# ---------------------------------------------------------------------------------------
# The compiled tree: constants, variables and applications of the operations in _NUMPY.


@dataclass(frozen=True, eq=False)
class _Const:
    value: float


@dataclass(frozen=True, eq=False)
class _Var:
    index: int


@dataclass(frozen=True, eq=False)
class _Apply:
    op: str
    args: tuple


_ZERO = _Const(0.0)
_ONE = _Const(1.0)


def _is_const(node, value: float | None = None) -> bool:
    return isinstance(node, _Const) and (value is None or node.value == value)


def _fold(op: str, *args) -> _Const:
    with np.errstate(all="ignore"):
        return _Const(float(_NUMPY[op](*(a.value for a in args))))


def _apply(op: str, *args):
    """op(*args), folding constants and dropping the zeros and ones derivatives produce."""
    if all(isinstance(a, _Const) for a in args):
        return _fold(op, *args)
    if op == "add":
        a, b = args
        if _is_const(a, 0.0):
            return b
        if _is_const(b, 0.0):
            return a
    elif op == "sub":
        a, b = args
        if _is_const(b, 0.0):
            return a
        if _is_const(a, 0.0):
            return _apply("neg", b)
    elif op == "mul":
        a, b = args
        if _is_const(a, 0.0) or _is_const(b, 0.0):
            return _ZERO
        if _is_const(a, 1.0):
            return b
        if _is_const(b, 1.0):
            return a
    elif op == "div":
        a, b = args
        if _is_const(a, 0.0):
            return _ZERO
        if _is_const(b, 1.0):
            return a
    elif op == "neg":
        (a,) = args
        if isinstance(a, _Apply) and a.op == "neg":
            return a.args[0]
    elif op == "pos":
        return args[0]
    elif op in ("select_le", "select_ge"):
        if _is_const(args[2], 0.0) and _is_const(args[3], 0.0):
            return _ZERO
    return _Apply(op, tuple(args))


def _derivative(node, k: int):
    """d node / d variable_k as a new tree (sharing subtrees of ``node``)."""
    if isinstance(node, _Const):
        return _ZERO
    if isinstance(node, _Var):
        return _ONE if node.index == k else _ZERO
    op, args = node.op, node.args
    d = []
    for a in args:  # a plain loop keeps the recursion at one frame per level
        d.append(_derivative(a, k))
    u = args[0]
    du = d[0]
    if len(args) == 1 and _is_const(du, 0.0):
        return _ZERO
    if op == "add":
        return _apply("add", du, d[1])
    if op == "sub":
        return _apply("sub", du, d[1])
    if op == "mul":
        return _apply("add", _apply("mul", du, args[1]), _apply("mul", u, d[1]))
    if op == "div":
        # d(u/v) = (du - (u/v) dv) / v
        return _apply("div", _apply("sub", du, _apply("mul", node, d[1])), args[1])
    if op == "pow":
        v, dv = args[1], d[1]
        if _is_const(dv, 0.0):  # v u^(v-1) du
            return _apply("mul", _apply("mul", v, _apply("pow", u, _apply("sub", v, _ONE))), du)
        if _is_const(du, 0.0):  # u^v log(u) dv
            return _apply("mul", _apply("mul", node, _apply("log", u)), dv)
        return _apply("mul", node, _apply("add", _apply("mul", dv, _apply("log", u)),
                                          _apply("div", _apply("mul", v, du), u)))
    if op == "pos":
        return du
    if op == "neg":
        return _apply("neg", du)
    if op == "arctan2":
        # d atan2(a, b) = (b da - a db) / (a² + b²)
        a, b = args
        return _apply("div", _apply("sub", _apply("mul", b, du), _apply("mul", a, d[1])),
                      _apply("add", _apply("mul", a, a), _apply("mul", b, b)))
    if op == "minimum":
        return _apply("select_le", args[0], args[1], du, d[1])
    if op == "maximum":
        return _apply("select_ge", args[0], args[1], du, d[1])
    return _apply("mul", _outer_derivative(op, u, node), du)


def _outer_derivative(op: str, u, node):
    """f'(u) for the one-argument functions, given node = f(u)."""
    one_minus_u2 = _apply("sub", _ONE, _apply("mul", u, u))
    rules = {
        "sin": lambda: _apply("cos", u),
        "cos": lambda: _apply("neg", _apply("sin", u)),
        "tan": lambda: _apply("add", _ONE, _apply("mul", node, node)),
        "arcsin": lambda: _apply("div", _ONE, _apply("sqrt", one_minus_u2)),
        "arccos": lambda: _apply("neg", _apply("div", _ONE, _apply("sqrt", one_minus_u2))),
        "arctan": lambda: _apply("div", _ONE, _apply("add", _ONE, _apply("mul", u, u))),
        "sinh": lambda: _apply("cosh", u),
        "cosh": lambda: _apply("sinh", u),
        "tanh": lambda: _apply("sub", _ONE, _apply("mul", node, node)),
        "exp": lambda: node,
        "log": lambda: _apply("div", _ONE, u),
        "log10": lambda: _apply("div", _Const(1.0 / math.log(10.0)), u),
        "sqrt": lambda: _apply("div", _Const(0.5), node),
        "abs": lambda: _apply("sign", u),
    }
    return rules[op]()


def _evaluate(node, coords: Sequence[np.ndarray], cache: dict[int, np.ndarray | float]):
    """Value of ``node`` at ``coords``; ``cache`` memoises shared subtrees by identity."""
    if isinstance(node, _Const):
        return node.value
    if isinstance(node, _Var):
        return coords[node.index]
    key = id(node)
    if key not in cache:
        args = []
        for a in node.args:  # a plain loop keeps the recursion at one frame per level
            args.append(_evaluate(a, coords, cache))
        cache[key] = _NUMPY[node.op](*args)
    return cache[key]


# ---------------------------------------------------------------------------------------
# Translation of a checked Python AST into the compiled tree.


def _quote(text: str, limit: int = 60) -> str:
    """repr of ``text``, cut to about ``limit`` characters for one-line messages."""
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _allowed_summary(variables: Sequence[str]) -> str:
    names = ", ".join([*variables, *CONSTANTS, *UNARY_FUNCTIONS, *BINARY_FUNCTIONS])
    return f"allowed: {names}, numbers, + - * / ** and unary + -"


class _Translator:
    def __init__(self, text: str, variables: Sequence[str]):
        self.text = text
        self.variables = tuple(variables)
        self.index = {name: i for i, name in enumerate(self.variables)}

    def fail(self, what: str) -> ExpressionError:
        allowed = _allowed_summary(self.variables)
        return ExpressionError(f"{what} in {_quote(self.text)} ({allowed})")

    def translate(self, node: ast.AST):
        method = getattr(self, "_" + type(node).__name__, None)
        if method is None:
            what = _CONSTRUCT_NAMES.get(type(node), f"{type(node).__name__} nodes")
            raise self.fail(f"{what} not allowed")
        return method(node)

    def _Constant(self, node: ast.Constant):
        value = node.value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            kind = "string" if isinstance(value, (str, bytes)) else type(value).__name__
            raise self.fail(f"{kind} literal {value!r} not allowed")
        try:
            return _Const(float(value))
        except OverflowError:
            return _Const(math.inf)

    def _Name(self, node: ast.Name):
        name = node.id
        if name in self.index:
            return _Var(self.index[name])
        if name in CONSTANTS:
            return _Const(CONSTANTS[name])
        if name in UNARY_FUNCTIONS or name in BINARY_FUNCTIONS:
            raise self.fail(f"function {name!r} used without calling it")
        raise self.fail(f"unknown name {name!r}")

    def _BinOp(self, node: ast.BinOp):
        op = _BINARY_OPERATORS.get(type(node.op))
        if op is None:
            hint = " (use ** for powers)" if isinstance(node.op, ast.BitXor) else ""
            raise self.fail(f"operator {type(node.op).__name__}{hint} not allowed")
        return _apply(op, self.translate(node.left), self.translate(node.right))

    def _UnaryOp(self, node: ast.UnaryOp):
        op = _UNARY_OPERATORS.get(type(node.op))
        if op is None:
            raise self.fail(f"unary operator {type(node.op).__name__} not allowed")
        return _apply(op, self.translate(node.operand))

    def _Call(self, node: ast.Call):
        if node.keywords:
            raise self.fail("keyword arguments not allowed")
        if not isinstance(node.func, ast.Name):
            raise self.fail("calling anything but a listed function not allowed")
        name = node.func.id
        if name in UNARY_FUNCTIONS:
            arity = 1
        elif name in BINARY_FUNCTIONS:
            arity = 2
        else:
            raise self.fail(f"unknown function {name!r}")
        if len(node.args) != arity:
            raise self.fail(f"{name}() takes {arity} argument{'s' if arity > 1 else ''}, "
                            f"got {len(node.args)}")
        return _apply(name, *(self.translate(a) for a in node.args))


# ---------------------------------------------------------------------------------------


class Expression:
    """A compiled expression f(v_1, ..., v_n) of the variables ``variables``.

    ``f(*coords)`` evaluates on numpy arrays (broadcast against each other) and
    ``f.gradient(*coords)`` returns (∂f/∂v_1, ..., ∂f/∂v_n) from symbolic derivatives.
    Results are float64 arrays of the broadcast shape of the inputs; floating-point
    warnings are silenced (log(0) is -inf, 0/0 is nan).
    """

    def __init__(self, text: str, variables: tuple[str, ...], tree):
        self.text = text
        self.variables = variables
        self._tree = tree
        self._derivatives = tuple(_derivative(tree, k) for k in range(len(variables)))

    def __repr__(self) -> str:
        return f"Expression({self.text!r}, variables={self.variables!r})"

    def _inputs(self, coords) -> tuple[list[np.ndarray], tuple[int, ...]]:
        if len(coords) != len(self.variables):
            raise TypeError(f"expression of {self.variables} takes {len(self.variables)} "
                            f"coordinate arrays, got {len(coords)}")
        arrays = [np.asarray(c, dtype=np.float64) for c in coords]
        return arrays, np.broadcast_shapes(*(a.shape for a in arrays))

    def _values(self, trees, coords) -> tuple[np.ndarray, ...]:
        arrays, shape = self._inputs(coords)
        cache: dict[int, np.ndarray | float] = {}
        with np.errstate(all="ignore"):
            values = [_evaluate(t, arrays, cache) for t in trees]
        return tuple(np.array(np.broadcast_to(np.asarray(v, dtype=np.float64), shape))
                     for v in values)

    def __call__(self, *coords: np.ndarray) -> np.ndarray:
        return self._values((self._tree,), coords)[0]

    def gradient(self, *coords: np.ndarray) -> tuple[np.ndarray, ...]:
        """(∂f/∂v_1, ..., ∂f/∂v_n) at ``coords``."""
        return self._values(self._derivatives, coords)


def _depth(tree: ast.AST) -> int:
    """Number of levels of the syntax tree, counted without recursion."""
    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in ast.iter_child_nodes(node))
    return deepest


def compile_expression(text: str, variables: Sequence[str]) -> Expression:
    """Check ``text`` against the whitelist and compile it as a function of ``variables``.

    Raises :class:`ExpressionError` (a ``ValueError``) with a one-line reason for
    anything outside the whitelist, text longer than ``MAX_TEXT_LENGTH`` characters, or
    a syntax tree of more than ``MAX_NODES`` nodes or ``MAX_DEPTH`` levels.
    """
    variables = tuple(variables)
    reserved = set(CONSTANTS) | set(UNARY_FUNCTIONS) | set(BINARY_FUNCTIONS)
    for name in variables:
        if not name.isidentifier() or name in reserved:
            raise ExpressionError(f"invalid variable name {name!r}")
    if not isinstance(text, str):
        raise ExpressionError(f"an expression must be a string, got {type(text).__name__}")
    if len(text) > MAX_TEXT_LENGTH:
        raise ExpressionError(f"expression too long: {len(text)} characters "
                              f"(at most {MAX_TEXT_LENGTH})")
    try:
        with warnings.catch_warnings():  # e.g. SyntaxWarning for "1x": the error says it all
            warnings.simplefilter("ignore")
            tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as err:
        reason = err.msg if isinstance(err, SyntaxError) else (str(err) or type(err).__name__)
        raise ExpressionError(f"cannot parse {_quote(text)}: {reason}") from None
    count = sum(1 for _ in ast.walk(tree))
    if count > MAX_NODES:
        raise ExpressionError(f"expression too complex: {count} syntax nodes "
                              f"(at most {MAX_NODES})")
    depth = _depth(tree)
    if depth > MAX_DEPTH:
        raise ExpressionError(f"expression nested too deeply: {depth} levels "
                              f"(at most {MAX_DEPTH})")
    compiled = _Translator(text, variables).translate(tree.body)
    return Expression(text, variables, compiled)
