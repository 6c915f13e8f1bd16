"""An SVR converter in double precision from standard ONNX operators (onnxruntime has no
double SVMRegressor kernel)."""

import numpy as np
from onnx import TensorProto


def _c(scope, container, name, arr):
    n = scope.get_unique_variable_name(name)
    arr = np.asarray(arr, dtype=np.float64)
    container.add_initializer(n, TensorProto.DOUBLE, list(arr.shape), arr.ravel().tolist())
    return n


def convert_svr_double(scope, operator, container):
    op = operator.raw_operator
    if op.kernel not in ("linear", "poly", "rbf", "sigmoid"):
        raise NotImplementedError(f"SVR kernel {op.kernel!r}")
    x = operator.inputs[0].full_name

    def node(t, ins, **kw):
        out = scope.get_unique_variable_name(t.lower())
        container.add_node(t, ins, [out], name=scope.get_unique_operator_name(t), **kw)
        return out

    sv = np.asarray(op.support_vectors_, dtype=np.float64)
    dot = node("MatMul", [x, _c(scope, container, "svT", sv.T)])  # [N, S]
    g = float(op._gamma)
    if op.kernel == "linear":
        k = dot
    elif op.kernel == "rbf":
        sq = node("Mul", [x, x])
        axes = scope.get_unique_variable_name("axes")
        container.add_initializer(axes, TensorProto.INT64, [1], [1])
        xx = node("ReduceSum", [sq, axes], keepdims=1)  # [N, 1]
        ss = _c(scope, container, "svsq", (sv * sv).sum(axis=1)[None, :])  # [1, S]
        d2 = node(
            "Sub", [node("Add", [xx, ss]), node("Mul", [dot, _c(scope, container, "two", [2.0])])]
        )
        d2 = node("Max", [d2, _c(scope, container, "zero", [0.0])])
        k = node("Exp", [node("Mul", [d2, _c(scope, container, "ngamma", [-g])])])
    else:
        z = node(
            "Add",
            [
                node("Mul", [dot, _c(scope, container, "gamma", [g])]),
                _c(scope, container, "coef0", [op.coef0]),
            ],
        )
        k = (
            node("Pow", [z, _c(scope, container, "degree", [float(op.degree)])])
            if op.kernel == "poly"
            else node("Tanh", [z])
        )
    y = node("MatMul", [k, _c(scope, container, "dual", np.asarray(op.dual_coef_).T)])  # [N, 1]
    container.add_node(
        "Add",
        [y, _c(scope, container, "b", np.asarray(op.intercept_).reshape(1, 1))],
        [operator.outputs[0].full_name],
        name=scope.get_unique_operator_name("Add"),
    )
