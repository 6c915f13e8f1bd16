"""Estimators the service builds from scikit-learn parts.

`SVMClassifier`: a support vector classifier with probabilities, as scikit-learn now
recommends them — `SVC(probability=True)` is deprecated in 1.9 and goes in 1.11 — an `SVC`
calibrated by `CalibratedClassifierCV` (sigmoid, Platt's method, one model fitted on all
the data: `ensemble=False`). Its parameters are SVC's own names (`C`, `kernel`, `gamma`…),
so requests and searches read as users expect.
"""

from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.svm import SVC

SVC_PARAMS = (
    "C",
    "kernel",
    "degree",
    "gamma",
    "coef0",
    "shrinking",
    "tol",
    "cache_size",
    "class_weight",
    "max_iter",
    "decision_function_shape",
    "break_ties",
    "random_state",
)


class SVMClassifier(ClassifierMixin, BaseEstimator):
    """SVC with calibrated class probabilities (see the module)."""

    _parameter_constraints = {k: SVC._parameter_constraints[k] for k in SVC_PARAMS}

    def __init__(
        self,
        C=1.0,
        kernel="rbf",
        degree=3,
        gamma="scale",
        coef0=0.0,
        shrinking=True,
        tol=1e-3,
        cache_size=200,
        class_weight=None,
        max_iter=-1,
        decision_function_shape="ovr",
        break_ties=False,
        random_state=None,
    ):
        self.C = C
        self.kernel = kernel
        self.degree = degree
        self.gamma = gamma
        self.coef0 = coef0
        self.shrinking = shrinking
        self.tol = tol
        self.cache_size = cache_size
        self.class_weight = class_weight
        self.max_iter = max_iter
        self.decision_function_shape = decision_function_shape
        self.break_ties = break_ties
        self.random_state = random_state

    def fit(self, X, y):
        self._validate_params()
        svc = SVC(**{name: getattr(self, name) for name in SVC_PARAMS})
        self.calibrated_ = CalibratedClassifierCV(svc, method="sigmoid", cv=3, ensemble=False)
        self.calibrated_.fit(X, y)
        self.classes_ = self.calibrated_.classes_
        self.n_features_in_ = self.calibrated_.n_features_in_
        return self

    def predict(self, X):
        return self.calibrated_.predict(X)

    def predict_proba(self, X):
        return self.calibrated_.predict_proba(X)

    def decision_function(self, X):
        return self.calibrated_.calibrated_classifiers_[0].estimator.decision_function(X)
