"""The exact types a skops file may hold: the service's one allow-list, written to be audited.

A skops file names the Python types it is built from; loading it constructs them, and a
constructor can be anything importable (numpy ships callables that run code). So a file
loads only when EVERY type it names is on this list, compared by exact dotted name: no
module prefixes, nothing taken from the file itself. The list is:

- every estimator and transformer class scikit-learn publishes
  (`sklearn.utils.discovery.all_estimators()`), which skops rebuilds by setting their
  attributes, never by calling anything the file chooses;
- the internal scikit-learn types their fitted state holds (trees, losses, links, distance
  metrics, neighbour trees, optimisers, calibrators), listed below by name;
- plain containers and scalars, numpy arrays, dtypes and scalar types, the numpy random
  state, and scipy's sparse matrices;
- the exact names an operator adds with `SKOPS_TRUSTED_TYPES_EXTRA`.

No function is on the list: a file that needs one (a `FunctionTransformer(np.log)`, say) is
refused unless its operator adds that function's exact name.
"""

import functools

from django.conf import settings

BUILTIN_TYPES = (
    "builtins.bool",
    "builtins.bytearray",
    "builtins.bytes",
    "builtins.complex",
    "builtins.dict",
    "builtins.float",
    "builtins.int",
    "builtins.list",
    "builtins.set",
    "builtins.slice",
    "builtins.str",
    "builtins.tuple",
    "collections.OrderedDict",
    "collections.defaultdict",
)

NUMPY_TYPES = (
    "numpy.ndarray",
    "numpy.dtype",
    "numpy.ma.MaskedArray",
    "numpy.ma.core.MaskedArray",
    "numpy.random.mtrand.RandomState",
    # Scalar types (a dtype's type, or a scalar such as `np.float64(0.5)`).
    "numpy.bool",
    "numpy.bool_",
    "numpy.bytes_",
    "numpy.complex64",
    "numpy.complex128",
    "numpy.clongdouble",
    "numpy.datetime64",
    "numpy.timedelta64",
    "numpy.float16",
    "numpy.float32",
    "numpy.float64",
    "numpy.longdouble",
    "numpy.int8",
    "numpy.int16",
    "numpy.int32",
    "numpy.int64",
    "numpy.longlong",
    "numpy.uint8",
    "numpy.uint16",
    "numpy.uint32",
    "numpy.uint64",
    "numpy.ulonglong",
    "numpy.object_",
    "numpy.str_",
    "numpy.void",
    # The dtype classes numpy 2 writes for `np.dtype("float64")` and friends.
    "numpy.dtypes.BoolDType",
    "numpy.dtypes.Float32DType",
    "numpy.dtypes.Float64DType",
    "numpy.dtypes.Int32DType",
    "numpy.dtypes.Int64DType",
    "numpy.dtypes.ObjectDType",
    "numpy.dtypes.StrDType",
)

SCIPY_TYPES = (
    "scipy.sparse._csr.csr_matrix",
    "scipy.sparse._csc.csc_matrix",
    "scipy.sparse._coo.coo_matrix",
    "scipy.sparse._csr.csr_array",
    "scipy.sparse._csc.csc_array",
    "scipy.sparse._coo.coo_array",
)

# Fitted state that is not itself a public estimator. Each of these is rebuilt from arrays
# and numbers; none runs code the file chooses. (A crafted Tree can still hold out-of-range
# node indices: `artifacts` checks every tree's indices after loading.)
SKLEARN_INTERNAL_TYPES = (
    "sklearn.tree._tree.Tree",
    "sklearn._loss.link.HalfLogitLink",
    "sklearn._loss.link.IdentityLink",
    "sklearn._loss.link.Interval",
    "sklearn._loss.link.LogitLink",
    "sklearn._loss.link.LogLink",
    "sklearn._loss.link.MultinomialLogit",
    "sklearn._loss.loss.AbsoluteError",
    "sklearn._loss.loss.ExponentialLoss",
    "sklearn._loss.loss.HalfBinomialLoss",
    "sklearn._loss.loss.HalfGammaLoss",
    "sklearn._loss.loss.HalfMultinomialLoss",
    "sklearn._loss.loss.HalfPoissonLoss",
    "sklearn._loss.loss.HalfSquaredError",
    "sklearn._loss.loss.HuberLoss",
    "sklearn._loss.loss.PinballLoss",
    "sklearn._loss._loss.CyAbsoluteError",
    "sklearn._loss._loss.CyExponentialLoss",
    "sklearn._loss._loss.CyHalfBinomialLoss",
    "sklearn._loss._loss.CyHalfGammaLoss",
    "sklearn._loss._loss.CyHalfMultinomialLoss",
    "sklearn._loss._loss.CyHalfPoissonLoss",
    "sklearn._loss._loss.CyHalfSquaredError",
    "sklearn._loss._loss.CyHuberLoss",
    "sklearn._loss._loss.CyPinballLoss",
    "sklearn.linear_model._sgd_fast.Hinge",
    "sklearn.linear_model._sgd_fast.ModifiedHuber",
    "sklearn.linear_model._sgd_fast.SquaredHinge",
    "sklearn.linear_model._sgd_fast.EpsilonInsensitive",
    "sklearn.linear_model._sgd_fast.SquaredEpsilonInsensitive",
    "sklearn.metrics._dist_metrics.EuclideanDistance64",
    "sklearn.metrics._dist_metrics.ManhattanDistance64",
    "sklearn.metrics._dist_metrics.ChebyshevDistance64",
    "sklearn.metrics._dist_metrics.MinkowskiDistance64",
    "sklearn.neighbors._kd_tree.KDTree",
    "sklearn.neighbors._ball_tree.BallTree",
    "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
    "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.utils._bunch.Bunch",
)


@functools.cache
def _shipped() -> frozenset[str]:
    from sklearn.utils.discovery import all_estimators

    estimators = {f"{cls.__module__}.{cls.__qualname__}" for _, cls in all_estimators()}
    return frozenset(
        estimators | set(BUILTIN_TYPES + NUMPY_TYPES + SCIPY_TYPES + SKLEARN_INTERNAL_TYPES)
    )


def trusted_types() -> frozenset[str]:
    """The whole allow-list: what the service ships plus `SKOPS_TRUSTED_TYPES_EXTRA`."""
    return _shipped() | frozenset(settings.SKOPS_TRUSTED_TYPES_EXTRA)


def refused_types(*, type_names) -> list[str]:
    """The names, sorted, that are not on the allow-list."""
    allowed = trusted_types()
    return sorted(name for name in set(type_names) if name not in allowed)
