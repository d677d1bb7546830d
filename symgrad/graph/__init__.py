"""Graph networks: nodes (inputs, parameters, layer applications, combinations) and ``Network(E)``.

This floor sits beside :mod:`symgrad.network` (the chain) and below :mod:`symgrad.derive`:
plain data, no SymPy. :mod:`symgrad.graph.reference` is its NumPy side (the textbook
backprop over the graph that the check compares with).
"""

from symgrad.graph.nodes import Apply, Input, Node, Op, Param, concat, sum_squares, total

__all__ = ["Apply", "GraphNetwork", "Input", "Node", "Op", "Param", "concat", "sum_squares", "total"]


def __getattr__(name: str) -> object:
    if name == "GraphNetwork":  # imports symgrad.network, which imports this package's nodes lazily
        from symgrad.graph.network import GraphNetwork

        return GraphNetwork
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)
