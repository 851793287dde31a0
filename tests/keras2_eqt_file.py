"""Write a Keras 2 HDF5 file of an EQTransformer-shaped model, as EQTransformer's own code
would (``model_config`` JSON with Keras 2's automatic layer names, ``model_weights`` groups),
for the import tests of :mod:`picker.models.eqtransformer`."""

from __future__ import annotations

import json
from pathlib import Path

import h5py


class _Keras2Writer:
    """Builds a Keras 2 ``model_config`` layer list with Keras 2's automatic names."""

    def __init__(self):
        self.layers, self.counts, self.names = [], {}, {}

    def add(self, class_name, inputs, ours=None, name=None, **config):
        if name is None:
            base = "".join("_" + c.lower() if c.isupper() else c for c in class_name).lstrip("_")
            base = base.replace("1_d", "1d")
            self.counts[base] = self.counts.get(base, 0) + 1
            name = f"{base}_{self.counts[base]}"
        self.layers.append(
            {
                "class_name": class_name,
                "name": name,
                "config": {"name": name, "trainable": True, **config},
                "inbound_nodes": [[[i, 0, 0, {}] for i in inputs]] if inputs else [],
            }
        )
        if ours:
            self.names[ours] = name
        return name


def keras2_config(s) -> tuple[dict, dict]:
    """A Keras 2 ``model_config`` for EqtSettings ``s`` and {our layer name: file layer name}."""
    w = _Keras2Writer()

    def conv(x, filters, kernel, activation, ours, name=None):
        return w.add(
            "Conv1D",
            [x],
            ours,
            name,
            filters=filters,
            kernel_size=[kernel],
            strides=[1],
            padding="same",
            dilation_rate=[1],
            activation=activation,
            use_bias=True,
        )

    def bn(x, ours):
        return w.add(
            "BatchNormalization", [x], ours, axis=-1, epsilon=0.001, center=True, scale=True
        )

    def lstm_config(name):
        return {
            "name": name,
            "units": s.lstm_units,
            "return_sequences": True,
            "go_backwards": False,
            "stateful": False,
            "activation": "tanh",
            "recurrent_activation": "sigmoid",
            "use_bias": True,
            "dropout": 0.2,
            "recurrent_dropout": 0.2,
        }

    def add_and_normalise(x, y, ours):
        """The transformer block's residual sum and layer normalisation."""
        return w.add(
            "LayerNormalization",
            [w.add("Add", [x, y])],
            ours,
            center=True,
            scale=True,
            epsilon=1e-14,
        )

    def attention(x, width, ours, name):
        return w.add(
            "SeqSelfAttention",
            [x],
            ours,
            name,
            units=s.attention_units,
            attention_width=width,
            attention_type="additive",
            return_attention=True,
            history_only=False,
            use_additive_bias=True,
            use_attention_bias=True,
            attention_activation="linear",
            attention_regularizer_weight=0.0,
        )

    x = w.add("InputLayer", [], name="input", batch_input_shape=[None, s.n_samples, 3])
    for i, (filters, kernel) in enumerate(s.encoder):
        x = conv(x, filters, kernel, "relu", f"enc{i}_conv")
        x = w.add("MaxPooling1D", [x], pool_size=[2], strides=[2], padding="same")
    for i, kernel in enumerate(s.res_kernels):
        y = x
        for j in (1, 2):
            y = bn(y, f"res{i}_bn{j}")
            y = w.add("Activation", [y], activation="relu")
            y = w.add("SpatialDropout1D", [y], rate=0.2)
            y = conv(y, s.encoder[-1][0], kernel, "linear", f"res{i}_conv{j}")
        x = w.add("Add", [x, y])
    for i in range(s.n_bilstm):
        x = w.add(
            "Bidirectional",
            [x],
            f"bilstm{i}",
            merge_mode="concat",
            layer={"class_name": "LSTM", "config": lstm_config("lstm")},
        )
        x = bn(conv(x, s.lstm_units, 1, "linear", f"bilstm{i}_conv"), f"bilstm{i}_bn")
    for i, width in enumerate(s.transformer_widths):
        a = attention(x, width, f"tr{i}_attention", f"attentionD{i}")
        x = add_and_normalise(x, a, f"tr{i}_ln1")
        f = w.add(
            "FeedForward",
            [x],
            f"tr{i}_ff",
            units=s.feed_forward_units,
            activation="relu",
            use_bias=True,
            dropout_rate=0.2,
        )
        x = add_and_normalise(x, f, f"tr{i}_ln2")
    starts = {"det": x}
    for head in ("p", "s"):
        y = w.add("LSTM", [x], f"{head}_lstm", **lstm_config(None))
        starts[head] = attention(
            y, s.phase_attention_width, f"{head}_attention", f"attention{head.upper()}"
        )
    outputs = []
    for head, out_name in (("det", "detector"), ("p", "picker_P"), ("s", "picker_S")):
        y = starts[head]
        for i, ((filters, kernel), crop) in enumerate(zip(s.decoder, s.decoder_crops, strict=True)):
            y = w.add("UpSampling1D", [y], size=2)
            if crop != (0, 0):
                y = w.add("Cropping1D", [y], cropping=list(crop))
            y = conv(y, filters, kernel, "relu", f"{head}_conv{i}")
        outputs.append(conv(y, 1, s.output_kernel, "sigmoid", out_name, name=out_name))
    config = {
        "class_name": "Model",
        "config": {
            "name": "model_1",
            "layers": w.layers,
            "input_layers": [["input", 0, 0]],
            "output_layers": [[o, 0, 0] for o in outputs],
        },
    }
    return config, w.names


def write_keras2_h5(path: Path, model, config: dict, names: dict) -> Path:
    """Write ``model``'s weights under the file's layer names, Keras 2 style."""
    with h5py.File(path, "w") as h5:
        h5.attrs["model_config"] = json.dumps(config).encode()
        h5.attrs["keras_version"] = b"2.3.0"
        group = h5.create_group("model_weights")
        for ours, theirs in names.items():
            layer, g = model.get_layer(ours), group.create_group(theirs)
            weight_names = []
            for weight in layer.weights:
                short = weight.name
                if "forward" in weight.path or "backward" in weight.path:
                    short = (
                        f"{'forward' if 'forward' in weight.path else 'backward'}_lstm_1/{short}"
                    )
                elif short in ("Wt", "Wx", "bh", "Wa", "ba"):
                    short = f"{theirs}_Add_{short}"
                elif short in ("W1", "b1", "W2", "b2"):
                    short = f"{theirs}_{short}"
                weight_names.append(f"{theirs}/{short}:0")
                g.create_dataset(weight_names[-1], data=weight.numpy())
            g.attrs["weight_names"] = [n.encode() for n in weight_names]
    return path
