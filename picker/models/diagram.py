"""A model's layer diagram drawn with matplotlib, for installs without pydot and graphviz.

``keras.utils.plot_model`` needs both; :func:`draw_layer_diagram` needs only matplotlib (a
dependency of picker). One box per layer, top to bottom in the order Keras runs them, with the
layer's name, type and output shape; an arrow into each layer from every layer that feeds it:
straight down between neighbours, around the right side for longer jumps (the U-Net's skip
connections).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["draw_diagram", "draw_layer_diagram", "layer_graph", "onnx_graph"]

ROW_HEIGHT_IN = 0.34
WIDTH_IN = 8.0


def _history_names(value, found: list[str]) -> None:
    """The layer names in the ``keras_history`` entries of a serialised call's arguments."""
    if isinstance(value, dict):
        history = value.get("config", {}).get("keras_history") if "config" in value else None
        if value.get("class_name") == "__keras_tensor__" and history:
            found.append(str(history[0]))
            return
        for item in value.values():
            _history_names(item, found)
    elif isinstance(value, list | tuple):
        for item in value:
            _history_names(item, found)


def layer_graph(model) -> list[tuple[str, str, str, list[str]]]:
    """``[(name, class name, output shape text, names of the layers feeding it), ...]`` in
    the order of ``model.layers``; a model that is not functional (no layer connections in
    its config) is drawn as a chain."""
    config = model.get_config() if hasattr(model, "get_config") else {}
    inbound: dict[str, list[str]] = {}
    for layer_config in config.get("layers", []) if isinstance(config, dict) else []:
        names: list[str] = []
        _history_names(layer_config.get("inbound_nodes", []), names)
        inbound[str(layer_config.get("name"))] = list(dict.fromkeys(names))
    chain = not inbound
    rows = []
    previous: str | None = None
    for layer in model.layers:
        try:
            shape = str(tuple(layer.output.shape))
        except (AttributeError, ValueError, RuntimeError):
            shape = "?"
        feeds = inbound.get(layer.name, [])
        if chain and previous is not None:
            feeds = [previous]
        rows.append((layer.name, type(layer).__name__, shape, feeds))
        previous = layer.name
    return rows


def onnx_graph(path: str | os.PathLike) -> tuple[str, list[tuple[str, str, str, list[str]]], int]:
    """``(graph name, rows as in layer_graph, parameter count)`` of an ONNX file: one row per
    operator node (its name, operator type, no shape, the nodes whose outputs it reads); the
    parameters are the elements of the graph's initializers (weights)."""
    import math

    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    names = [node.name or f"{node.op_type}_{k}" for k, node in enumerate(graph.node)]
    producer = {
        out: name for name, node in zip(names, graph.node, strict=True) for out in node.output
    }
    rows = []
    for name, node in zip(names, graph.node, strict=True):
        feeds = list(dict.fromkeys(producer[i] for i in node.input if i in producer))
        rows.append((name, node.op_type, "", feeds))
    n_params = sum(math.prod(init.dims) for init in graph.initializer)
    return graph.name, rows, int(n_params)


def draw_layer_diagram(model, path: str | os.PathLike, *, dpi: float = 100) -> Path:
    """Draw a Keras ``model``'s layers (see the module) into ``path``: :func:`draw_diagram`."""
    rows = layer_graph(model)
    n_params = model.count_params() if hasattr(model, "count_params") else 0
    title = f"{model.name}: {len(rows)} layers, {n_params:,} parameters"
    return draw_diagram(rows, title, path, dpi=dpi)


def draw_diagram(rows, title: str, path: str | os.PathLike, *, dpi: float = 100) -> Path:
    """Draw ``rows`` (:func:`layer_graph`, :func:`onnx_graph`) under ``title`` into ``path``,
    written atomically; the format comes from the suffix (png, pdf, svg; anything else is
    written as PNG).

    Raises:
        OSError: the file cannot be written.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    from picker.io.base import atomic_output

    n = max(len(rows), 1)
    height_in = (n + 1.5) * ROW_HEIGHT_IN
    fig = Figure(figsize=(WIDTH_IN, height_in))
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.set_xlim(0.0, WIDTH_IN)
    ax.set_ylim(height_in, 0.0)  # row 0 at the top; axis units are inches
    ax.axis("off")
    ax.text(0.3, 0.7 * ROW_HEIGHT_IN, title, fontsize=10, weight="bold", va="center")
    left, right = 0.3, 5.6
    box_height = 0.72 * ROW_HEIGHT_IN
    centre = {}
    for k, (name, kind, shape, _) in enumerate(rows):
        y = (k + 1.5) * ROW_HEIGHT_IN
        centre[name] = (k, y)
        colour = "#dbe9f6" if "Conv" in kind else "#eeeeee"
        ax.add_patch(
            FancyBboxPatch(
                (left, y - box_height / 2),
                right - left,
                box_height,
                boxstyle="round,pad=0,rounding_size=0.05",
                facecolor=colour,
                edgecolor="#555555",
                linewidth=0.6,
            )
        )
        ax.text(left + 0.08, y, f"{name}  ({kind})", fontsize=7, va="center", family="monospace")
        ax.text(right - 0.08, y, shape, fontsize=7, va="center", ha="right", family="monospace")
    jumps = 0
    for k, (name, _, _, feeds) in enumerate(rows):
        y = centre[name][1]
        for source in feeds:
            if source not in centre:
                continue
            j, y_source = centre[source]
            if k - j == 1:  # the next row: a short arrow down the middle
                start, end, style = (
                    (2.9, y_source + box_height / 2),
                    (2.9, y - box_height / 2),
                    None,
                )
            else:  # a longer jump: around the right side, further out the further it goes
                jumps += 1
                reach = 0.15 + 0.12 * (jumps % 14)
                start, end = (right, y_source), (right, y)
                style = f"bar,armA={-reach * 72:.0f},armB={-reach * 72:.0f},fraction=0"
            ax.add_patch(
                FancyArrowPatch(
                    start,
                    end,
                    arrowstyle="-|>",
                    mutation_scale=6,
                    linewidth=0.6,
                    color="#555555",
                    connectionstyle=style or "arc3",
                )
            )
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower()
    fmt = fmt if fmt in ("png", "pdf", "svg") else "png"
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as tmp, open(tmp, "wb") as handle:
        fig.savefig(handle, format=fmt, dpi=dpi)
    return path
