"""Double-precision ONNX converters for scikit-learn's tree models (ai.onnx.ml TreeEnsemble 5).

skl2onnx keeps tree thresholds and outputs in float32, which disagrees with scikit-learn
near thresholds. These reproduce scikit-learn exactly: features are rounded to float32 (as
scikit-learn's trees do), then compared in double with the float64 thresholds; leaf values
and their sums are float64, added in scikit-learn's order.
"""

import numpy as np
from onnx import TensorProto, numpy_helper
from skl2onnx.common._registration import get_shape_calculator
from skl2onnx.common.data_types import StringTensorType
from sklearn.ensemble import (
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

ALIASES = {
    DecisionTreeClassifier: "SklearnDecisionTreeClassifier",
    DecisionTreeRegressor: "SklearnDecisionTreeRegressor",
    RandomForestClassifier: "SklearnRandomForestClassifier",
    RandomForestRegressor: "SklearnRandomForestRegressor",
    GradientBoostingClassifier: "SklearnGradientBoostingClassifier",
    GradientBoostingRegressor: "SklearnGradientBoostingRegressor",
}


class _Ensemble:
    """Accumulates trees in TreeEnsemble-5 form; each tree contributes to one target."""

    def __init__(self):
        self.roots, self.feat, self.split, self.t_id, self.t_leaf, self.f_id, self.f_leaf = (
            [] for _ in range(7)
        )
        self.leaf_target, self.leaf_weight = [], []

    def constant(self, target, weight):
        leaf = len(self.leaf_weight)
        self.leaf_target.append(target)
        self.leaf_weight.append(float(weight))
        self.roots.append(len(self.feat))
        self.feat.append(0)
        self.split.append(0.0)
        self.t_id.append(leaf)
        self.t_leaf.append(1)
        self.f_id.append(leaf)
        self.f_leaf.append(1)

    def add(self, tree, target, leaf_values):
        left, right = tree.children_left, tree.children_right
        if left[0] == -1:  # a tree that is a single leaf
            return self.constant(target, leaf_values[0])
        interior = np.flatnonzero(left != -1)
        leaves = np.flatnonzero(left == -1)
        base_n, base_l = len(self.feat), len(self.leaf_weight)
        pos = np.empty(len(left), dtype=np.int64)
        pos[interior] = base_n + np.arange(len(interior))
        pos[leaves] = base_l + np.arange(len(leaves))
        is_leaf = (left == -1).astype(np.int64)
        self.roots.append(int(pos[0]))
        for i in interior:
            self.feat.append(int(tree.feature[i]))
            self.split.append(float(tree.threshold[i]))
            yes, no = left[i], right[i]
            self.t_id.append(int(pos[yes]))
            self.t_leaf.append(int(is_leaf[yes]))  # x <= threshold → left
            self.f_id.append(int(pos[no]))
            self.f_leaf.append(int(is_leaf[no]))
        for i in leaves:
            self.leaf_target.append(target)
            self.leaf_weight.append(float(leaf_values[i]))

    def node(self, scope, container, x, out, n_targets):
        container.add_node(
            "TreeEnsemble",
            [x],
            [out],
            op_domain="ai.onnx.ml",
            op_version=3,  # skl2onnx 1.20 refuses ai.onnx.ml > 3: declared as 3, raised to 5 afterwards
            name=scope.get_unique_operator_name("TreeEnsemble"),
            n_targets=n_targets,
            aggregate_function=1,
            post_transform=0,  # SUM, NONE
            tree_roots=self.roots,
            nodes_featureids=self.feat,
            nodes_splits=numpy_helper.from_array(np.array(self.split, dtype=np.float64)),
            nodes_modes=numpy_helper.from_array(
                np.zeros(len(self.feat), dtype=np.uint8)
            ),  # BRANCH_LEQ
            nodes_truenodeids=self.t_id,
            nodes_trueleafs=self.t_leaf,
            nodes_falsenodeids=self.f_id,
            nodes_falseleafs=self.f_leaf,
            leaf_targetids=self.leaf_target,
            leaf_weights=numpy_helper.from_array(np.array(self.leaf_weight, dtype=np.float64)),
        )


def _as_float32_then_double(scope, container, x):
    """sklearn trees cast X to float32 before comparing with float64 thresholds."""
    f = scope.get_unique_variable_name("xf32")
    d = scope.get_unique_variable_name("xf32d")
    container.add_node(
        "Cast", [x], [f], to=TensorProto.FLOAT, name=scope.get_unique_operator_name("Cast")
    )
    container.add_node(
        "Cast", [f], [d], to=TensorProto.DOUBLE, name=scope.get_unique_operator_name("Cast")
    )
    return d


def _const(scope, container, name, value, dtype=TensorProto.DOUBLE):
    n = scope.get_unique_variable_name(name)
    arr = np.asarray(value)
    if dtype == TensorProto.STRING:
        container.add_initializer(
            n, dtype, list(arr.shape), [str(v).encode("utf-8") for v in arr.ravel()]
        )
    else:
        container.add_initializer(n, dtype, list(arr.shape), arr.ravel().tolist())
    return n


def _label_from_index(scope, container, operator, idx):
    """Gather class labels by index (int64 [N]) into operator.outputs[0]."""
    classes = operator.raw_operator.classes_
    if isinstance(operator.outputs[0].type, StringTensorType):
        cls = _const(
            scope,
            container,
            "classes",
            np.array([str(c) for c in classes], dtype=object),
            TensorProto.STRING,
        )
    else:
        cls = _const(
            scope,
            container,
            "classes",
            np.array([int(c) for c in classes], dtype=np.int64),
            TensorProto.INT64,
        )
    container.add_node(
        "Gather",
        [cls, idx],
        [operator.outputs[0].full_name],
        axis=0,
        name=scope.get_unique_operator_name("Gather"),
    )


def _argmax(scope, container, x):
    idx = scope.get_unique_variable_name("argmax")
    container.add_node(
        "ArgMax", [x], [idx], axis=1, keepdims=0, name=scope.get_unique_operator_name("ArgMax")
    )
    return idx


def convert_tree_model(scope, operator, container):
    op = operator.raw_operator
    x = _as_float32_then_double(scope, container, operator.inputs[0].full_name)
    ens = _Ensemble()
    if isinstance(op, (GradientBoostingClassifier, GradientBoostingRegressor)):
        K = op.estimators_.shape[1]
        base = op._raw_predict_init(np.zeros((1, op.n_features_in_)))[
            0
        ]  # init_ is 'zero' or a Dummy*
        for k in range(K):
            ens.constant(k, base[k])  # first, so that the sum is init + t1 + t2 + ... like sklearn
        lr = op.learning_rate
        for stage in op.estimators_:
            for k in range(K):
                t = stage[k].tree_
                ens.add(t, k, lr * t.value[:, 0, 0])
        raw = scope.get_unique_variable_name("raw")
        ens.node(scope, container, x, raw, K)
        if isinstance(op, GradientBoostingRegressor):
            container.add_node(
                "Identity",
                [raw],
                [operator.outputs[0].full_name],
                name=scope.get_unique_operator_name("Identity"),
            )
            return
        proba = operator.outputs[1].full_name
        if (
            K == 1
        ):  # binary: p1 = expit(raw) (log_loss) or expit(2 raw) (exponential); label = raw >= 0
            z = raw
            if op.loss == "exponential":
                z = scope.get_unique_variable_name("raw2")
                container.add_node(
                    "Mul",
                    [raw, _const(scope, container, "two", [2.0])],
                    [z],
                    name=scope.get_unique_operator_name("Mul"),
                )
            p1 = scope.get_unique_variable_name("p1")
            container.add_node("Sigmoid", [z], [p1], name=scope.get_unique_operator_name("Sigmoid"))
            p0 = scope.get_unique_variable_name("p0")
            container.add_node(
                "Sub",
                [_const(scope, container, "one", [1.0]), p1],
                [p0],
                name=scope.get_unique_operator_name("Sub"),
            )
            container.add_node(
                "Concat", [p0, p1], [proba], axis=1, name=scope.get_unique_operator_name("Concat")
            )
            ge = scope.get_unique_variable_name("ge")
            container.add_node(
                "GreaterOrEqual",
                [raw, _const(scope, container, "zero", [0.0])],
                [ge],
                name=scope.get_unique_operator_name("GreaterOrEqual"),
            )
            gei = scope.get_unique_variable_name("gei")
            container.add_node(
                "Cast",
                [ge],
                [gei],
                to=TensorProto.INT64,
                name=scope.get_unique_operator_name("Cast"),
            )
            idx = scope.get_unique_variable_name("idx")
            container.add_node(
                "Reshape",
                [gei, _const(scope, container, "shape", [-1], TensorProto.INT64)],
                [idx],
                name=scope.get_unique_operator_name("Reshape"),
            )
        else:
            container.add_node(
                "Softmax", [raw], [proba], axis=1, name=scope.get_unique_operator_name("Softmax")
            )
            idx = _argmax(scope, container, raw)
        _label_from_index(scope, container, operator, idx)
        return

    trees = op.estimators_ if hasattr(op, "estimators_") else [op]
    classifier = hasattr(op, "classes_")
    n_targets = len(op.classes_) if classifier else 1
    for est in trees:
        t = est.tree_
        for k in range(n_targets):
            ens.add(t, k, t.value[:, 0, k])  # class fractions (sklearn >= 1.4) or regression value
    out = operator.outputs[1].full_name if classifier else operator.outputs[0].full_name
    if len(trees) > 1 or hasattr(op, "estimators_"):  # forest: sum then divide by n_estimators
        s = scope.get_unique_variable_name("sum")
        ens.node(scope, container, x, s, n_targets)
        container.add_node(
            "Div",
            [s, _const(scope, container, "n", [float(len(trees))])],
            [out],
            name=scope.get_unique_operator_name("Div"),
        )
    else:
        ens.node(scope, container, x, out, n_targets)
    if classifier:
        _label_from_index(scope, container, operator, _argmax(scope, container, out))


def _shape_double_proba(alias):
    base = get_shape_calculator(alias)

    def calc(operator):
        base(operator)
        if len(operator.outputs) > 1:  # classifiers: probabilities in the input's type (double)
            operator.outputs[1].type = operator.inputs[0].type.__class__(
                operator.outputs[1].type.shape
            )

    return calc


def tree_customs():
    conv = {k: convert_tree_model for k in ALIASES}
    shapes = {k: _shape_double_proba(v) for k, v in ALIASES.items()}
    return conv, shapes


def raise_ml_opset(*, model, version=5):
    """TreeEnsemble needs ai.onnx.ml 5; other ml ops used (LabelEncoder 2, OneHotEncoder,
    ArrayFeatureExtractor, Imputer) keep their meaning under 5."""
    for o in model.opset_import:
        if o.domain == "ai.onnx.ml":
            o.version = max(o.version, version)
    return model
