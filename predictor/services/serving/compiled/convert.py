"""A fitted service pipeline → ONNX: one input per feature, double precision end to end.

Numeric features come in as float64 [N, 1] (NaN when missing), categorical ones as strings
[N, 1] ("" when missing). skl2onnx cannot impute text whose missing value is NaN, so the
pipeline is converted from a copy whose categorical imputers treat "" as missing instead
(the same fitted statistics: the same answers).
"""

import copy

import numpy as np
from onnx import TensorProto
from skl2onnx import convert_sklearn
from skl2onnx.common._registration import get_shape_calculator
from skl2onnx.common.data_types import DoubleTensorType, StringTensorType
from skl2onnx.operator_converters.common import concatenate_variables
from skl2onnx.operator_converters.imputer_op import convert_sklearn_imputer
from skl2onnx.shape_calculators.imputer import calculate_sklearn_imputer_output_shapes
from sklearn.impute import SimpleImputer
from sklearn.svm import SVR

from predictor.services.schema import NUMERIC
from predictor.services.serving.compiled.svr import convert_svr_double
from predictor.services.serving.compiled.trees import raise_ml_opset, tree_customs

MAIN_OPSET = 21
ML_OPSET = 3  # skl2onnx 1.20 refuses a higher ai.onnx.ml; TreeEnsemble raises it to 5 after


def _imputer(scope, operator, container):
    """Numbers: IsNaN + Where in double (onnxruntime has no double Imputer kernel).
    Text: skl2onnx's own converter (it needs a text missing value, "")."""
    if not isinstance(operator.inputs[0].type, DoubleTensorType):
        return convert_sklearn_imputer(scope, operator, container)
    imputer = operator.raw_operator
    x = concatenate_variables(scope, operator.inputs, container)
    fill = scope.get_unique_variable_name("fill")
    statistics = imputer.statistics_.astype(np.float64)
    container.add_initializer(fill, TensorProto.DOUBLE, [1, statistics.size], statistics.tolist())
    isnan = scope.get_unique_variable_name("isnan")
    container.add_node("IsNaN", [x], [isnan], name=scope.get_unique_operator_name("IsNaN"))
    container.add_node(
        "Where",
        [isnan, fill, x],
        [operator.outputs[0].full_name],
        name=scope.get_unique_operator_name("Where"),
    )


def _text_missing_as_empty(pipeline):
    """A copy whose imputers of text columns treat "" as missing (same statistics), and
    whose calibrated SVM is the scikit-learn calibrator inside it (skl2onnx converts that)."""
    converted = copy.deepcopy(pipeline)
    if hasattr(converted, "steps") and hasattr(converted.steps[-1][1], "calibrated_"):
        name, svm = converted.steps[-1]
        converted.steps[-1] = (name, svm.calibrated_)
    for step in _all_steps(converted):
        fitted = getattr(step, "statistics_", None)
        if isinstance(step, SimpleImputer) and fitted is not None and fitted.dtype == object:
            step.missing_values = ""
    return converted


def _all_steps(estimator):
    stack = [estimator]
    while stack:
        item = stack.pop()
        yield item
        stack.extend(s for _, s in getattr(item, "steps", []))
        stack.extend(t for _, t, _ in getattr(item, "transformers_", []) if hasattr(t, "fit"))


def _joined(pipeline, schema: list[dict]):
    """A pipeline whose first step takes the features one column each (an imported one:
    a bare estimator, or a pipeline starting with a scaler) gets a passthrough
    ColumnTransformer in front: skl2onnx then joins the inputs with a Concat in double,
    where it would otherwise use FeatureVectorizer, whose output is float32 (its answers
    then differ from scikit-learn's at tree thresholds)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    steps = getattr(pipeline, "steps", None) or [("model", pipeline)]
    if isinstance(steps[0][1], ColumnTransformer) or len(schema) < 2:
        return pipeline
    if any(f["type"] != NUMERIC for f in schema):
        return pipeline
    import pandas as pd

    names = [f["name"] for f in schema]
    join = ColumnTransformer([("features", "passthrough", names)]).fit(
        pd.DataFrame(np.zeros((1, len(names))), columns=names)
    )
    return Pipeline([("join", join), *steps])


def pipeline_to_onnx(*, pipeline, schema: list[dict]) -> bytes:
    """The serialized ONNX model of a fitted pipeline over `schema`'s features."""
    types = [
        (f["name"], (DoubleTensorType if f["type"] == NUMERIC else StringTensorType)([None, 1]))
        for f in schema
    ]
    converters, shapes = tree_customs()
    converters[SimpleImputer] = _imputer
    shapes[SimpleImputer] = calculate_sklearn_imputer_output_shapes
    converters[SVR], shapes[SVR] = convert_svr_double, get_shape_calculator("SklearnSVR")
    pipeline = _joined(pipeline, schema)
    pipeline = _text_missing_as_empty(pipeline)
    estimator = pipeline.steps[-1][1] if hasattr(pipeline, "steps") else pipeline
    onx = convert_sklearn(
        pipeline,
        initial_types=types,
        target_opset={"": MAIN_OPSET, "ai.onnx.ml": ML_OPSET},
        options={id(estimator): {"zipmap": False}} if hasattr(estimator, "classes_") else None,
        custom_conversion_functions=converters,
        custom_shape_calculators=shapes,
    )
    if any(node.op_type == "TreeEnsemble" for node in onx.graph.node):
        raise_ml_opset(model=onx, version=5)
    return onx.SerializeToString()
