"""Recurrent cells' textbook references: RNNCell, LSTMCell, GRUCell (one time step each).

The NumPy reference side (the article's protocol, several inputs and outputs:
``forward(x, h_prev)``, ``backward(dh)`` returning ``(dx, dh_prev)``) of cells
whose index-notation forward comes with the derivation engine; over time, a cell
is applied at each step with its weights shared (the graph core's work).
Exported from this module only for now (not from ``symgrad``, the spec
catalogue nor ``symgrad --help``).

Each cell's weights are stacked as the curricula stack them: ``Wx`` (D x kH),
``Wh`` (H x kH), ``b`` (kH,), one block of H columns per gate, and the
pre-activation ``A = x Wx + h_prev Wh + b`` is computed once and split.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from symgrad.errors import ShapeError
from symgrad.layers.arguments import check_ndim, positive_int
from symgrad.layers.composite import CompositeLayer, Mistake

if TYPE_CHECKING:
    from symgrad.composite.graph import Graph, Value

__all__ = ["GRUCell", "LSTMCell", "RNNCell"]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))  # type: ignore[no-any-return]


class _Cell(CompositeLayer):
    """Wx (D x gates*H), Wh (H x gates*H), b (gates*H,) and the input checks every cell shares.

    Each cell's forward is also its :meth:`graph` (:mod:`symgrad.composite`), from which its
    backward is derived; the NumPy ``forward``/``backward`` below are the textbook references.
    """

    roles = ("Wx", "Wh", "b")
    inputs: tuple[str, ...] = ("x", "h_prev")
    #: The graph's outputs, in the order a call on graph nodes returns them (``h``; an LSTM's ``h, c``).
    outputs: tuple[str, ...] = ("h",)
    gates = 1

    def __init__(self, D: int, H: int, *, name: str | None = None) -> None:  # noqa: N803 (the curricula's names)
        super().__init__(name)
        owner = type(self).__name__
        self.D = positive_int(owner, "D (input size)", D)
        self.H = positive_int(owner, "H (hidden size)", H)
        self.Wx: Any = None
        self.Wh: Any = None
        self.b: Any = None
        self.dWx: Any = None
        self.dWh: Any = None
        self.db: Any = None
        self.x: Any = None
        self.h_prev: Any = None

    @property
    def batched(self) -> bool:
        return True

    def describe(self) -> str:
        return f"{self.D}, {self.H}"

    def output_features(self, in_features: int | None) -> int | None:
        if in_features != self.D:
            msg = f"{type(self).__name__} expects {self.D} input features, but its input has {in_features}"
            raise ShapeError(msg)
        return self.H

    def param_shapes(self, in_features: int | None) -> dict[str, tuple[Any, ...]]:
        width = self.gates * self.H
        return {"Wx": (self.D, width), "Wh": (self.H, width), "b": (width,)}

    def input_sizes(self) -> dict[str, int]:
        """Each input's features: x has D, the states H."""
        return {name: (self.D if name == "x" else self.H) for name in self.inputs}

    def rule_key(self) -> tuple[Any, ...]:
        return (self.D, self.H)

    def for_proof(self, features: int) -> _Cell:
        return type(self)(features, 2)

    @staticmethod
    def _affine(gates: str) -> list[Value]:
        """A = x Wx + h_prev Wh + b: the pre-activation of every gate at once."""
        from symgrad.composite.graph import Value

        return [
            Value("xWx", "matmul", ("x", "Wx"), what="x Wx"),
            Value("hWh", "matmul", ("h_prev", "Wh"), what="h_prev Wh"),
            Value("s", "add", ("xWx", "hWh"), what="x Wx + h_prev Wh"),
            Value("A", "add", ("s", "b"), what=f"the pre-activation of {gates}: x Wx + h_prev Wh + b"),
        ]

    def _inputs(self, x: Any, *states: Any) -> tuple[np.ndarray, ...]:
        owner = type(self).__name__
        x = check_ndim(owner, "x", x, (2,), "(N, D)")
        if x.shape[1] != self.D:
            msg = f"{owner} expects x of shape (N, {self.D}), got {x.shape}"
            raise ShapeError(msg)
        checked = [x]
        for label, state in zip(("h_prev", "c_prev"), states, strict=False):
            state = check_ndim(owner, label, state, (2,), "(N, H)")
            if state.shape != (x.shape[0], self.H):
                msg = f"{owner} expects {label} of shape ({x.shape[0]}, {self.H}), got {state.shape}"
                raise ShapeError(msg)
            checked.append(state)
        return tuple(checked)

    def _weights_backward(self, dA: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # noqa: N803
        """dWx, dWh, db from the pre-activation's gradient; returns (dx, dh_prev) through A."""
        self.dWx = self.x.T @ dA
        self.dWh = self.h_prev.T @ dA
        self.db = dA.sum(axis=0)
        return dA @ self.Wx.T, dA @ self.Wh.T


class RNNCell(_Cell):
    """The vanilla RNN step: ``h = tanh(x Wx + h_prev Wh + b)``.

    ``forward(x, h_prev) -> h``; ``backward(dh) -> (dx, dh_prev)``, storing
    ``dWx``, ``dWh``, ``db``.

    Examples
    --------
    >>> import numpy as np
    >>> cell = RNNCell(2, 3)
    >>> cell.set_params({"Wx": np.ones((2, 3)), "Wh": np.zeros((3, 3)), "b": np.zeros(3)})
    >>> h = cell.forward(np.array([[0.5, -0.5]]), np.zeros((1, 3)))
    >>> h
    array([[0., 0., 0.]])
    >>> dx, dh_prev = cell.backward(np.ones((1, 3)))
    >>> dx
    array([[3., 3.]])
    >>> cell.db
    array([1., 1., 1.])
    """

    kind = "rnn-cell"
    # One step has one output, h: the gradient from the next step (dh_next) reaches it already summed with the
    # output's own (TimeRNN's dh = dhs[:, t] + dh_next), so a step cannot tell which part was dropped; dropping
    # all of dh gives zeros, which the check names anyway. dh_next dropped is a mistake of the loop over time.
    mistakes = (
        Mistake("sigmoid' used for tanh: h * (1 - h) where tanh' is 1 - h**2",
                "h = tanh(A): dA = dh * (1 - h**2)", swap=(("h", "sigmoid' on tanh's output"),)),
    )

    def graph(self) -> Graph:
        """A = x Wx + h_prev Wh + b, h = tanh(A)."""
        import sympy as sp

        from symgrad.composite.graph import Graph, Value
        from symgrad.matrixexpr import ZETA

        values = [*self._affine("h"), Value("h", "fn", ("A",), sp.tanh(ZETA), what="h = tanh(A)")]
        return Graph(("x", "h_prev", "Wx", "Wh", "b"), tuple(values), ("h",))

    def rule_texts(self) -> dict[str, str]:
        return {"out": "tanh(x @ Wx + h_prev @ Wh + b)", "dA": "dh * (1 - h**2)", "x": "dA @ Wx.T",
                "h_prev": "dA @ Wh.T", "Wx": "x.T @ dA", "Wh": "h_prev.T @ dA", "b": "dA.sum(axis=0)"}

    def __init__(self, D: int, H: int, *, name: str | None = None) -> None:  # noqa: N803
        super().__init__(D, H, name=name)
        self.h: Any = None

    def forward(self, x: np.ndarray, h_prev: np.ndarray) -> np.ndarray:  # type: ignore[override]
        self.x, self.h_prev = self._inputs(x, h_prev)
        self.h = np.tanh(self.x @ self.Wx + self.h_prev @ self.Wh + self.b)
        return self.h  # type: ignore[no-any-return]

    def backward(self, dh: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[override]
        dA = dh * (1 - self.h**2)  # noqa: N806
        return self._weights_backward(dA)


class LSTMCell(_Cell):
    """The LSTM step, gates in the curricula's i, f, o, g order (cs231n's).

    ``A = x Wx + h_prev Wh + b`` (N x 4H) splits into i, f, o, g:
    ``i, f, o = sigmoid(A_i), sigmoid(A_f), sigmoid(A_o)``, ``g = tanh(A_g)``,
    ``c = f * c_prev + i * g``, ``h = o * tanh(c)``.
    ``forward(x, h_prev, c_prev) -> (h, c)``; ``backward(dh, dc) -> (dx, dh_prev,
    dc_prev)``, where ``dc`` is the gradient reaching c from the next step (None
    or zeros at the last step), storing ``dWx``, ``dWh``, ``db``.

    Examples
    --------
    >>> import numpy as np
    >>> cell = LSTMCell(1, 1)
    >>> cell.set_params({"Wx": np.zeros((1, 4)), "Wh": np.zeros((1, 4)), "b": np.zeros(4)})
    >>> h, c = cell.forward(np.ones((1, 1)), np.zeros((1, 1)), np.full((1, 1), 2.0))
    >>> c  # f = 1/2 keeps half of c_prev; g = 0 adds nothing
    array([[1.]])
    >>> dx, dh_prev, dc_prev = cell.backward(np.zeros((1, 1)), np.ones((1, 1)))
    >>> dc_prev
    array([[0.5]])
    >>> cell.db  # dc reaches A_f through c_prev and A_g through i
    array([0. , 0.5, 0. , 0.5])
    """

    kind = "lstm-cell"
    gates = 4
    inputs = ("x", "h_prev", "c_prev")
    outputs = ("h", "c")
    mistakes = (
        Mistake("the gradient from the next step, dc_next, left out (dc ignored)",
                "add it where both paths into c meet: ds = dc + dh * o * (1 - tanh(c)**2)", drop=("c",)),
        Mistake("sigmoid' used for the tanh gate g: g * (1 - g) where tanh' is 1 - g**2",
                "the g gate is tanh(A_g): dA_g = dg * (1 - g**2)", swap=(("g", "sigmoid' on tanh's output"),)),
    )

    def graph(self) -> Graph:
        """A split into i, f, o, g; c = f * c_prev + i * g; h = o * tanh(c)."""
        import sympy as sp

        from symgrad.composite.graph import Graph, Value
        from symgrad.functions import sigmoid
        from symgrad.matrixexpr import ZETA

        size = self.H
        values = self._affine("the four gates")
        words = {"i": "the input gate", "f": "the forget gate", "o": "the output gate", "g": "the candidate"}
        for k, gate in enumerate("ifog"):
            values.append(Value(f"A{gate}", "cols", ("A",), (k * size, (k + 1) * size),
                                what=f"the columns of {words[gate]}"))
        for gate in "ifog":
            body = sp.tanh(ZETA) if gate == "g" else sigmoid(ZETA)
            values.append(Value(gate, "fn", (f"A{gate}",), body, what=words[gate]))
        values += [
            Value("fc", "mul", ("f", "c_prev"), what="what the forget gate keeps: f * c_prev"),
            Value("ig", "mul", ("i", "g"), what="what the input gate adds: i * g"),
            Value("c", "add", ("fc", "ig"), what="the new cell state c = f * c_prev + i * g"),
            Value("tc", "fn", ("c",), sp.tanh(ZETA), what="tanh(c)"),
            Value("h", "mul", ("o", "tc"), what="the new hidden state h = o * tanh(c)"),
        ]
        return Graph(("x", "h_prev", "c_prev", "Wx", "Wh", "b"), tuple(values), ("h", "c"))

    def rule_texts(self) -> dict[str, str]:
        return {"ds": "dc + dh * o * (1 - tanh(c)**2)",
                "dA": "hstack((ds * g * i * (1 - i), ds * c_prev * f * (1 - f), dh * tanh(c) * o * (1 - o), "
                      "ds * i * (1 - g**2)))",
                "x": "dA @ Wx.T", "h_prev": "dA @ Wh.T", "c_prev": "ds * f", "Wx": "x.T @ dA", "Wh": "h_prev.T @ dA",
                "b": "dA.sum(axis=0)"}

    def __init__(self, D: int, H: int, *, name: str | None = None) -> None:  # noqa: N803
        super().__init__(D, H, name=name)
        self.cache: Any = None

    def forward(  # type: ignore[override]
        self, x: np.ndarray, h_prev: np.ndarray, c_prev: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        self.x, self.h_prev, c_prev = self._inputs(x, h_prev, c_prev)
        A = self.x @ self.Wx + self.h_prev @ self.Wh + self.b  # noqa: N806
        size = self.H
        i = _sigmoid(A[:, :size])
        f = _sigmoid(A[:, size : 2 * size])
        o = _sigmoid(A[:, 2 * size : 3 * size])
        g = np.tanh(A[:, 3 * size :])
        c = f * c_prev + i * g
        tanh_c = np.tanh(c)
        self.cache = (c_prev, i, f, o, g, tanh_c)
        return o * tanh_c, c

    def backward(  # type: ignore[override]
        self, dh: np.ndarray, dc: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        c_prev, i, f, o, g, tanh_c = self.cache
        if dc is None:  # the last step: nothing reaches c from a next one
            dc = np.zeros_like(tanh_c)
        ds = dc + dh * o * (1 - tanh_c**2)  # both paths into c: through h and from the next step
        dc_prev = ds * f
        di, df, do, dg = ds * g, ds * c_prev, dh * tanh_c, ds * i
        dA = np.hstack((di * i * (1 - i), df * f * (1 - f), do * o * (1 - o), dg * (1 - g**2)))  # noqa: N806
        dx, dh_prev = self._weights_backward(dA)
        return dx, dh_prev, dc_prev


class GRUCell(_Cell):
    """The GRU step as DLFS2 writes it, gates stacked z, r, h̃ (update, reset, candidate).

    ``z = sigmoid(x Wx_z + h_prev Wh_z + b_z)``, ``r = sigmoid(x Wx_r + h_prev Wh_r + b_r)``,
    ``h̃ = tanh(x Wx_h + (r * h_prev) Wh_h + b_h)``, ``h = (1 - z) * h_prev + z * h̃``,
    with ``Wx`` (D x 3H), ``Wh`` (H x 3H), ``b`` (3H,), the blocks in that order (the
    reset gate applied before the product with Wh_h).
    ``forward(x, h_prev) -> h``; ``backward(dh) -> (dx, dh_prev)``.

    Examples
    --------
    >>> import numpy as np
    >>> cell = GRUCell(1, 1)
    >>> cell.set_params({"Wx": np.zeros((1, 3)), "Wh": np.zeros((1, 3)), "b": np.zeros(3)})
    >>> cell.forward(np.ones((1, 1)), np.full((1, 1), 4.0))  # z = 1/2, h̃ = 0
    array([[2.]])
    >>> dx, dh_prev = cell.backward(np.ones((1, 1)))
    >>> dh_prev  # 1 - z directly, and z's own dependence on h_prev is through Wh = 0
    array([[0.5]])
    """

    kind = "gru-cell"
    gates = 3
    mistakes = (
        Mistake("the update gate's derivative with the wrong sign: dh * (h_prev - h~) where h = (1 - z) * h_prev "
                "+ z * h~ gives dh * (h~ - h_prev) (z and 1 - z swapped in the mixing)",
                "dz = dh * (h_hat - h_prev) * z * (1 - z)", swap=(("z", "-sigmoid'"),)),
        Mistake("sigmoid' used for the tanh candidate h~: h~ * (1 - h~) where tanh' is 1 - h~**2",
                "h~ = tanh(a_h): dt = dh * z * (1 - h_hat**2)", swap=(("hhat", "sigmoid' on tanh's output"),)),
    )

    def graph(self) -> Graph:
        """z, r from x and h_prev; h̃ = tanh(x Wx_h + (r * h_prev) Wh_h + b_h); h = h_prev + z * (h̃ - h_prev)."""
        import sympy as sp

        from symgrad.composite.graph import Graph, Value
        from symgrad.functions import sigmoid
        from symgrad.matrixexpr import ZETA

        size = self.H
        blocks = {"z": (0, size), "r": (size, 2 * size), "h": (2 * size, 3 * size)}
        values = [Value("xWx", "matmul", ("x", "Wx"), what="x Wx"),
                  Value("xb", "add", ("xWx", "b"), what="x Wx + b, every gate's input part")]
        values += [Value(f"x{k}", "cols", ("xb",), cols, what=f"the columns of {k}") for k, cols in blocks.items()]
        values += [Value(f"Wh{k}", "cols", ("Wh",), cols, what=f"Wh's columns of {k}") for k, cols in blocks.items()]
        for gate in "zr":
            values += [Value(f"hWh{gate}", "matmul", ("h_prev", f"Wh{gate}"), what=f"h_prev Wh_{gate}"),
                       Value(f"a{gate}", "add", (f"x{gate}", f"hWh{gate}"), what=f"{gate}'s pre-activation"),
                       Value(gate, "fn", (f"a{gate}",), sigmoid(ZETA),
                             what="the update gate" if gate == "z" else "the reset gate")]
        values += [
            Value("rh", "mul", ("r", "h_prev"), what="the reset state r * h_prev"),
            Value("rhW", "matmul", ("rh", "Whh"), what="(r * h_prev) Wh_h"),
            Value("ah", "add", ("xh", "rhW"), what="the candidate's pre-activation"),
            Value("hhat", "fn", ("ah",), sp.tanh(ZETA), what="the candidate h~"),
            Value("d", "sub", ("hhat", "h_prev"), what="h~ - h_prev"),
            Value("zd", "mul", ("z", "d"), what="z * (h~ - h_prev)"),
            Value("h", "add", ("h_prev", "zd"), what="h = (1 - z) * h_prev + z * h~"),
        ]
        return Graph(("x", "h_prev", "Wx", "Wh", "b"), tuple(values), ("h",))

    def rule_texts(self) -> dict[str, str]:
        return {"x": "dA @ Wx.T", "h_prev": "dh * (1 - z) + (dt @ Wh_h.T) * r + hstack((dz, dr)) @ Wh_zr.T",
                "Wx": "x.T @ dA", "Wh": "hstack((h_prev.T @ hstack((dz, dr)), (r * h_prev).T @ dt))",
                "b": "dA.sum(axis=0)"}

    def __init__(self, D: int, H: int, *, name: str | None = None) -> None:  # noqa: N803
        super().__init__(D, H, name=name)
        self.cache: Any = None

    def forward(self, x: np.ndarray, h_prev: np.ndarray) -> np.ndarray:  # type: ignore[override]
        self.x, self.h_prev = self._inputs(x, h_prev)
        size = self.H
        Wx, Wh, b = self.Wx, self.Wh, self.b  # noqa: N806
        xz = self.x @ Wx + b
        z = _sigmoid(xz[:, :size] + self.h_prev @ Wh[:, :size])
        r = _sigmoid(xz[:, size : 2 * size] + self.h_prev @ Wh[:, size : 2 * size])
        h_hat = np.tanh(xz[:, 2 * size :] + (r * self.h_prev) @ Wh[:, 2 * size :])
        self.cache = (z, r, h_hat)
        return (1 - z) * self.h_prev + z * h_hat  # type: ignore[no-any-return]

    def backward(self, dh: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[override]
        z, r, h_hat = self.cache
        size, h_prev, Wh = self.H, self.h_prev, self.Wh  # noqa: N806
        dh_hat = dh * z
        dh_prev = dh * (1 - z)
        dt = dh_hat * (1 - h_hat**2)  # through tanh
        dhr = dt @ Wh[:, 2 * size :].T  # the gradient of r * h_prev
        dh_prev = dh_prev + r * dhr
        dz = dh * (h_hat - h_prev) * z * (1 - z)
        dr = dhr * h_prev * r * (1 - r)
        dA = np.hstack((dz, dr, dt))  # noqa: N806
        self.dWx = self.x.T @ dA
        self.db = dA.sum(axis=0)
        dhz = np.hstack((dz, dr))
        self.dWh = np.hstack((h_prev.T @ dhz, (r * h_prev).T @ dt))
        dh_prev = dh_prev + dhz @ Wh[:, : 2 * size].T
        return dA @ self.Wx.T, dh_prev
