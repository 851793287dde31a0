"""The settings of an EQTransformer, read from a Keras 2 HDF5 file's ``model_config`` JSON.

:func:`read_eqt_config` walks the layer graph the JSON describes, from the input through the
encoder, residual CNN blocks, BiLSTM blocks and transformers to the three decoders, checking at
each step that the layer is the one EQTransformer has there (class, padding, activation,
connections) and collecting the numbers (filters, kernels, units, widths, epsilons) as an
:class:`EqtSettings`. The JSON is only read as data: no Keras object is deserialised from it.
A file of another structure gets an :class:`~picker.models.settings.ImportModelError` whose one
line names the file and the first layer that differs.
"""

from __future__ import annotations

import dataclasses
import json
from collections import defaultdict

from picker.models.settings import ImportModelError

#: The model's output names, in order (detection, P, S).
OUTPUT_NAMES = ("detector", "picker_P", "picker_S")
_MAX_SIZE = 100_000  # filters, kernels, units, samples: larger is not an EQTransformer


@dataclasses.dataclass(frozen=True)
class EqtSettings:
    """The settings of an EQTransformer; the defaults are the published model's.

    ``encoder``/``decoder``: ``(filters, kernel)`` per stage (each encoder stage halves the
    length with a max-pooling, each decoder stage doubles it, ``decoder_crops`` samples cut
    (before, after) after its up-sampling); ``res_kernels``: one residual CNN block per entry;
    ``transformer_widths``: one transformer per entry (its local attention width, None for
    global); ``phase_attention_width``: the P and S heads' attention.
    """

    n_samples: int = 6000
    encoder: tuple = ((8, 11), (16, 9), (16, 7), (32, 7), (32, 5), (64, 5), (64, 3))
    res_kernels: tuple = (3, 3, 3, 3, 2, 3, 2)
    n_bilstm: int = 2
    lstm_units: int = 16
    transformer_widths: tuple = (None, None)
    attention_units: int = 32
    attention_type: str = "additive"
    attention_activation: str = "linear"
    feed_forward_units: int = 128
    layer_norm_epsilon: float = 1e-14
    batch_norm_epsilon: float = 1e-3
    phase_attention_width: int | None = 3
    decoder: tuple = ((64, 3), (64, 5), (32, 5), (32, 7), (16, 7), (16, 9), (8, 11))
    decoder_crops: tuple = ((0, 0), (0, 0), (0, 0), (1, 1), (0, 0), (0, 0), (0, 0))
    output_kernel: int = 11
    dropout_rate: float = 0.2

    def output_length(self) -> int:
        """The decoders' output length for ``n_samples`` input samples."""
        n = self.n_samples
        for _ in self.encoder:
            n = -(-n // 2)
        for before, after in self.decoder_crops:
            n = 2 * n - before - after
        return n


class _Graph:
    """The layer graph of a Keras 2 functional ``model_config``: classes, configs, edges."""

    def __init__(self, body: dict, where: str):
        self.where = where
        self.layers: dict[str, dict] = {}
        self.inbound: dict[str, list[str]] = {}
        self.consumers: dict[str, list[str]] = defaultdict(list)
        self.visited: set[str] = set()
        for layer in body["layers"]:
            name = str(layer["name"])
            self.layers[name] = layer
            self.inbound[name] = [str(item[0]) for node in layer["inbound_nodes"] for item in node]
            for source in self.inbound[name]:
                self.consumers[source].append(name)

    def fail(self, what: str):
        raise ImportModelError(f"{self.where}: not an EQTransformer model ({what})")

    def cls(self, name: str) -> str:
        return str(self.layers[name].get("class_name"))

    def cfg(self, name: str) -> dict:
        config = self.layers[name].get("config")
        return config if isinstance(config, dict) else {}

    def has_next(self, name: str, class_name: str) -> bool:
        return any(self.cls(c) == class_name for c in self.consumers[name])

    def next(self, name: str, class_name: str, inputs: tuple = ()) -> str:
        """The one layer of ``class_name`` fed by ``name`` (and by exactly ``inputs`` if given)."""
        found = [c for c in self.consumers[name] if self.cls(c) == class_name]
        if len(found) != 1:
            self.fail(f"expected one {class_name} after layer {name!r}, found {len(found)}")
        if inputs and sorted(self.inbound[found[0]]) != sorted(inputs):
            self.fail(f"layer {found[0]!r} adds {self.inbound[found[0]]}, expected {list(inputs)}")
        self.visited.add(found[0])
        return found[0]

    def value(self, name: str, key: str, expected=None):
        """``config[key]`` of layer ``name`` (one-element lists unwrapped); fails unless it
        equals ``expected`` when that is given."""
        value = self.cfg(name).get(key)
        if isinstance(value, list) and len(value) == 1:
            value = value[0]
        if expected is not None and value != expected:
            self.fail(f"layer {name!r} has {key}={value!r}, expected {expected!r}")
        return value

    def size(self, name: str, key: str) -> int:
        value = self.value(name, key)
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= _MAX_SIZE:
            self.fail(f"layer {name!r} has {key}={value!r}")
        return value

    def conv(self, name: str, activation: str) -> tuple[int, int]:
        """(filters, kernel) of a stride-1 ``same`` Conv1D with ``activation`` and a bias."""
        for key, expected in (("padding", "same"), ("strides", 1), ("dilation_rate", 1)):
            self.value(name, key, expected)
        self.value(name, "activation", activation)
        self.value(name, "use_bias", True)
        return self.size(name, "filters"), self.size(name, "kernel_size")

    def epsilon(self, name: str) -> float:
        value = self.value(name, "epsilon")
        if not isinstance(value, (int, float)) or not 0 <= value < 1:
            self.fail(f"layer {name!r} has epsilon={value!r}")
        for key in ("center", "scale"):
            self.value(name, key, True)
        return float(value)


def _attention(g: _Graph, name: str) -> tuple[int, int | None, str, str]:
    """(units, width, type, activation) of a SeqSelfAttention layer."""
    width = g.value(name, "attention_width")
    if width is not None:
        width = g.size(name, "attention_width")
    kind = g.value(name, "attention_type")
    if kind not in ("additive", "multiplicative"):
        g.fail(f"layer {name!r} has attention_type={kind!r}")
    activation = g.value(name, "attention_activation") or "linear"
    if activation not in ("linear", "relu", "sigmoid", "tanh", "softmax"):
        g.fail(f"layer {name!r} has attention_activation={activation!r}")
    for key, expected in (("history_only", False), ("use_additive_bias", True)):
        g.value(name, key, expected)
    g.value(name, "use_attention_bias", True)
    return g.size(name, "units"), width, kind, activation


def _decoder(g: _Graph, start: str, head: str, names: dict) -> tuple:
    """Walk a decoder from layer ``start``: ((filters, kernel) per stage, crops, output
    kernel, output layer name); records ``{our layer name: file layer name}`` in ``names``."""
    stages, crops, y = [], [], start
    while True:
        up = g.next(y, "UpSampling1D")
        g.value(up, "size", 2)
        crop = (0, 0)
        if g.has_next(up, "Cropping1D"):
            up = g.next(up, "Cropping1D")
            crop = tuple(g.value(up, "cropping"))
            if len(crop) != 2 or not all(isinstance(c, int) and 0 <= c < 8 for c in crop):
                g.fail(f"layer {up!r} has cropping={crop!r}")
        conv = g.next(up, "Conv1D")
        names[f"{head}_conv{len(stages)}"] = conv
        stages.append(g.conv(conv, "relu"))
        crops.append(crop)
        after = g.consumers[conv]
        if len(after) == 1 and g.cls(after[0]) == "Conv1D":
            out = g.next(conv, "Conv1D")
            filters, kernel = g.conv(out, "sigmoid")
            if filters != 1:
                g.fail(f"output layer {out!r} has {filters} filters, expected 1")
            return tuple(stages), tuple(crops), kernel, out
        if len(stages) > 64:
            g.fail(f"decoder from {start!r} does not end")
        y = conv


def read_eqt_config(h5, where: str) -> tuple[EqtSettings, dict[str, str]]:
    """The settings of the EQTransformer in the open HDF5 file ``h5`` (``where`` names it in
    errors) and ``{layer name in build_eqtransformer's model: layer name in the file}`` for
    every layer with weights.

    Raises:
        ImportModelError: no readable ``model_config``, or not EQTransformer's structure.
    """
    raw = h5.attrs.get("model_config")
    if raw is None:
        raise ImportModelError(f"{where}: no model_config attribute (not a Keras 2 HDF5 model)")
    try:
        config = json.loads(raw.decode("utf-8") if isinstance(raw, bytes) else str(raw))
        body = config["config"]
        g = _Graph(body, where)
        (input_name, *_), *more_inputs = body["input_layers"]
        outputs = [str(item[0]) for item in body["output_layers"]]
    except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
        raise ImportModelError(f"{where}: unreadable model_config ({exc!r})") from None
    if more_inputs or g.cls(input_name) != "InputLayer" or len(outputs) != 3:
        g.fail(f"{1 + len(more_inputs)} inputs and {len(outputs)} outputs, expected 1 and 3")
    shape = g.value(input_name, "batch_input_shape")
    if not (isinstance(shape, list) and len(shape) == 3 and shape[2] == 3):
        g.fail(f"input shape {shape!r}, expected [null, n_samples, 3]")
    n_samples = shape[1]
    if not isinstance(n_samples, int) or not 1 <= n_samples <= 10 * _MAX_SIZE:
        g.fail(f"input length {n_samples!r}")
    g.visited.add(input_name)
    names: dict[str, str] = {}
    x, encoder = input_name, []
    while g.has_next(x, "Conv1D"):
        conv = g.next(x, "Conv1D")
        names[f"enc{len(encoder)}_conv"] = conv
        encoder.append(g.conv(conv, "relu"))
        x = g.next(conv, "MaxPooling1D")
        for key, expected in (("pool_size", 2), ("strides", 2), ("padding", "same")):
            g.value(x, key, expected)
    if not encoder:
        g.fail(f"no Conv1D after the input {input_name!r}")
    res_kernels, bn_eps, dropout = [], set(), 0.0
    while g.has_next(x, "BatchNormalization"):
        y, i, kernels = x, len(res_kernels), set()
        for j in (1, 2):
            bn = g.next(y, "BatchNormalization")
            names[f"res{i}_bn{j}"] = bn
            bn_eps.add(g.epsilon(bn))
            act = g.next(bn, "Activation")
            g.value(act, "activation", "relu")
            drop = g.next(act, "SpatialDropout1D")
            dropout = float(g.value(drop, "rate") or 0.0)
            y = g.next(drop, "Conv1D")
            names[f"res{i}_conv{j}"] = y
            filters, kernel = g.conv(y, "linear")
            if filters != encoder[-1][0]:
                g.fail(f"layer {y!r} has {filters} filters, expected {encoder[-1][0]}")
            kernels.add(kernel)
        if len(kernels) != 1:
            g.fail(f"residual block {i} has kernels {sorted(kernels)}, expected one size")
        res_kernels.append(kernels.pop())
        x = g.next(y, "Add", (x, y))
    n_bilstm, lstm_units = 0, set()
    while g.has_next(x, "Bidirectional"):
        bi = g.next(x, "Bidirectional")
        inner = g.cfg(bi).get("layer") or {}
        inner_cfg = inner.get("config") or {}
        if inner.get("class_name") != "LSTM" or g.value(bi, "merge_mode") != "concat":
            g.fail(f"layer {bi!r} is not a concatenating bidirectional LSTM")
        lstm_units.add(_check_lstm(g, bi, inner_cfg))
        conv = g.next(bi, "Conv1D")
        filters, kernel = g.conv(conv, "linear")
        bn = g.next(conv, "BatchNormalization")
        bn_eps.add(g.epsilon(bn))
        if (filters, kernel) != (min(lstm_units), 1):
            g.fail(f"layer {conv!r} is not a 1x1 convolution to {min(lstm_units)} filters")
        names.update({f"bilstm{n_bilstm}": bi, f"bilstm{n_bilstm}_conv": conv})
        names[f"bilstm{n_bilstm}_bn"] = bn
        n_bilstm, x = n_bilstm + 1, bn
    attentions, widths, ln_eps, ff_units = set(), [], set(), set()
    while g.has_next(x, "SeqSelfAttention"):
        i, att = len(widths), g.next(x, "SeqSelfAttention")
        units, width, kind, activation = _attention(g, att)
        attentions.add((units, kind, activation))
        widths.append(width)
        ln1 = g.next(g.next(att, "Add", (x, att)), "LayerNormalization")
        ff = g.next(ln1, "FeedForward")
        g.value(ff, "activation", "relu")
        g.value(ff, "use_bias", True)
        ff_units.add(g.size(ff, "units"))
        ln2 = g.next(g.next(ff, "Add", (ln1, ff)), "LayerNormalization")
        ln_eps.update((g.epsilon(ln1), g.epsilon(ln2)))
        names.update({f"tr{i}_attention": att, f"tr{i}_ln1": ln1, f"tr{i}_ff": ff})
        names[f"tr{i}_ln2"] = ln2
        x = ln2
    lstms = [c for c in g.consumers[x] if g.cls(c) == "LSTM"]
    if not (widths and n_bilstm and len(lstms) == 2):
        g.fail(
            f"after layer {x!r}: {len(widths)} transformers, {n_bilstm} BiLSTM blocks and "
            f"{len(lstms)} LSTM heads, expected at least 1, 1 and 2"
        )
    det = _decoder(g, x, "det", names)
    heads = {det[3]: ("det", det)}
    phase_widths = set()
    for lstm in lstms:
        g.visited.add(lstm)
        lstm_units.add(_check_lstm(g, lstm, g.cfg(lstm)))
        att = g.next(lstm, "SeqSelfAttention")
        units, width, kind, activation = _attention(g, att)
        attentions.add((units, kind, activation))
        phase_widths.add(width)
        head = "p" if len(heads) == 1 else "s"
        names.update({f"{head}_lstm": lstm, f"{head}_attention": att})
        decoder = _decoder(g, att, head, names)
        heads[decoder[3]] = (head, decoder)
    if heads.get(outputs[0], ("",))[0] != "det" or set(heads) != set(outputs):
        g.fail(f"outputs {outputs} are not the detection decoder and the P and S decoders")
    if heads[outputs[1]][0] == "s":  # the file lists the S head's LSTM first
        names = {_swap_head(k): v for k, v in names.items()}
    names.update(zip(OUTPUT_NAMES, outputs, strict=True))
    decoders = {head[1][:3] for head in heads.values()}
    shared = (attentions, ln_eps, ff_units, lstm_units, bn_eps, phase_widths)
    if len(decoders) != 1 or any(len(values) != 1 for values in shared):
        g.fail("its decoders, attention layers, LSTMs or normalisations differ from one another")
    unvisited = sorted(set(g.layers) - g.visited)
    if unvisited:
        g.fail(f"layers not in EQTransformer's structure: {', '.join(unvisited[:3])}")
    ((stages, crops, out_kernel),) = decoders
    ((units, kind, activation),) = attentions
    settings = EqtSettings(
        n_samples=n_samples,
        encoder=tuple(encoder),
        res_kernels=tuple(res_kernels),
        n_bilstm=n_bilstm,
        lstm_units=lstm_units.pop(),
        transformer_widths=tuple(widths),
        attention_units=units,
        attention_type=kind,
        attention_activation=activation,
        feed_forward_units=ff_units.pop(),
        layer_norm_epsilon=ln_eps.pop(),
        batch_norm_epsilon=bn_eps.pop(),
        phase_attention_width=phase_widths.pop(),
        decoder=stages,
        decoder_crops=crops,
        output_kernel=out_kernel,
        dropout_rate=dropout,
    )
    if settings.output_length() != n_samples:
        g.fail(f"its decoders give {settings.output_length()} samples for {n_samples}")
    return settings, names


def _swap_head(name: str) -> str:
    for a, b in (("p_", "s_"), ("s_", "p_")):
        if name.startswith(a):
            return b + name[len(a) :]
    return name


def _check_lstm(g: _Graph, name: str, cfg: dict) -> int:
    """The units of an LSTM config (of layer ``name``) with EQTransformer's settings."""
    expected = {
        "return_sequences": True,
        "go_backwards": False,
        "stateful": False,
        "activation": "tanh",
        "recurrent_activation": "sigmoid",
        "use_bias": True,
    }
    for key, value in expected.items():
        if cfg.get(key) != value:
            g.fail(f"LSTM of layer {name!r} has {key}={cfg.get(key)!r}, expected {value!r}")
    units = cfg.get("units")
    if isinstance(units, bool) or not isinstance(units, int) or not 1 <= units <= _MAX_SIZE:
        g.fail(f"LSTM of layer {name!r} has units={units!r}")
    return units
