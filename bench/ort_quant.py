"""ORT's int8 peer for bench/ort.py: an exported fp32 graph rewritten the way
ONNX Runtime's dynamic quantisation does it (onnxruntime.quantization is not a
Debian package, so the rewrite is done here with Debian's python3-onnx):

  MatMul(X, W const [K, N])  ->  DynamicQuantizeLinear(X) -> MatMulInteger with
      per-column int8 W (symmetric, zero point 0) -> Cast -> Mul(x_scale * w_scale)
      (ORT's quantize_dynamic(per_channel=True) writes this shape of graph)
  Conv(X, W const [OC, ...], b) -> DynamicQuantizeLinear(X) -> ConvInteger with
      per-output-channel int8 W -> Cast -> Mul(x_scale * w_scale) -> Add(b)

Activations are uint8, asymmetric, per tensor (DynamicQuantizeLinear), as in
ORT's own int8 graphs; weights are per channel, as mmfuse's are.
"""
import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto


def constants(graph):
    """name -> numpy array for initializers and Constant nodes"""
    out = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    for n in graph.node:
        if n.op_type == "Constant":
            for a in n.attribute:
                if a.name == "value":
                    out[n.output[0]] = numpy_helper.to_array(a.t)
        elif n.op_type == "Identity" and n.input[0] in out:   # the exporter shares tensors through Identity
            out[n.output[0]] = out[n.input[0]]
    return out


def quantise(src, dst):
    m = onnx.load(src)
    g = m.graph
    const = constants(g)
    new_nodes, inits, k = [], [], 0
    for n in g.node:
        w = const.get(n.input[1]) if len(n.input) > 1 else None
        if n.op_type == "MatMul" and w is not None and w.ndim == 2 and w.dtype == np.float32:
            scale = np.maximum(np.abs(w).max(axis=0), 1e-12) / 127.0          # per column (output)
            wq = np.clip(np.rint(w / scale), -127, 127).astype(np.int8)
            kind, axis_shape = "mm", [w.shape[1]]
        elif n.op_type == "Conv" and w is not None and w.ndim == 4 and w.dtype == np.float32:
            scale = np.maximum(np.abs(w).reshape(w.shape[0], -1).max(axis=1), 1e-12) / 127.0   # per output channel
            wq = np.clip(np.rint(w / scale[:, None, None, None]), -127, 127).astype(np.int8)
            kind, axis_shape = "conv", [1, w.shape[0], 1, 1]
        else:
            new_nodes.append(n)
            continue
        p = "q%d_" % k
        k += 1
        inits += [numpy_helper.from_array(wq, p + "w"),
                  # symmetric weights: one zero point 0 serves every channel (ConvInteger takes no per-channel one);
                  # the per-channel scales are applied after the integer product
                  numpy_helper.from_array(np.zeros((), np.int8), p + "wz"),
                  numpy_helper.from_array(scale.astype(np.float32).reshape(axis_shape), p + "ws")]
        new_nodes.append(helper.make_node("DynamicQuantizeLinear", [n.input[0]], [p + "x", p + "xs", p + "xz"]))
        if kind == "mm":
            new_nodes.append(helper.make_node("MatMulInteger", [p + "x", p + "w", p + "xz", p + "wz"], [p + "y"]))
        else:
            new_nodes.append(helper.make_node("ConvInteger", [p + "x", p + "w", p + "xz", p + "wz"], [p + "y"],
                                              **{a.name: helper.get_attribute_value(a) for a in n.attribute}))
        new_nodes.append(helper.make_node("Cast", [p + "y"], [p + "yf"], to=TensorProto.FLOAT))
        new_nodes.append(helper.make_node("Mul", [p + "xs", p + "ws"], [p + "s"]))
        if kind == "conv" and len(n.input) > 2 and n.input[2]:
            new_nodes.append(helper.make_node("Mul", [p + "yf", p + "s"], [p + "ys"]))
            b = const[n.input[2]].astype(np.float32).reshape(1, -1, 1, 1)
            inits.append(numpy_helper.from_array(b, p + "b"))
            new_nodes.append(helper.make_node("Add", [p + "ys", p + "b"], [n.output[0]]))
        else:
            new_nodes.append(helper.make_node("Mul", [p + "yf", p + "s"], [n.output[0]]))
    used = {i for n in new_nodes for i in n.input} | {o.name for o in g.output}
    new_nodes = [n for n in new_nodes if n.op_type != "Constant" or n.output[0] in used]   # the fp32 weights go
    kept = [i for i in g.initializer if i.name in used]
    del g.node[:]
    g.node.extend(new_nodes)
    del g.initializer[:]
    g.initializer.extend(kept + inits)
    onnx.save(m, dst)
    return k
