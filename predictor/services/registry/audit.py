"""The structural audit of an outside model: hostile VALUES inside allow-listed types.

The allow-list (`trusted_types`) decides which types a file may build; it cannot make the
values inside them safe. A `HashingVectorizer(input="filename", analyzer=float)` is built
only from listed types and opens any file a prediction names; a decision tree whose child
index points outside its arrays, a sparse matrix whose column index is near 2**31, or a
KD-tree whose index array points past its data crash the process at the first prediction.

So after loading — inside the sandbox, never in a server process — every object reachable
from the model is walked (every attribute, not only estimators and containers) and the
model is refused, naming the path of the offending attribute, when it holds:

- a callable or a class as a value (`analyzer`, `preprocessor`, `tokenizer`, `func`,
  `metric`, `score_func`, ...), except a class given as a `dtype` (numpy scalar types and
  `float`/`int`/`bool`/`str`/`object`) and the fitted scikit-learn internals the allow-list
  names (losses, links, distance metrics: values whose own type is listed);
- a text vectorizer whose `input` is not `"content"` or whose `analyzer` is not one of
  scikit-learn's names;
- a tree whose children, features, thresholds or value rows are out of range or out of
  order (a child always comes after its parent in a tree scikit-learn builds, so no cycle);
- a sparse matrix that fails scipy's full format check, or a COO one whose indices leave
  its shape;
- a neighbours tree whose index arrays point outside its data;
- a support-vector model whose support counts do not add up to its support vectors;
- an array larger than the cap, or arrays larger than the total cap.

The audit only reads; it returns a report of what it walked, for the version's record.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from predictor.services.errors import ArtifactIntegrityError

# Classes that may stand as a `dtype` value: what OneHotEncoder(dtype=...) and friends take.
DTYPE_CLASSES = frozenset(
    {
        float,
        int,
        bool,
        str,
        object,
        np.float16,
        np.float32,
        np.float64,
        np.longdouble,
        np.int8,
        np.int16,
        np.int32,
        np.int64,
        np.uint8,
        np.uint16,
        np.uint32,
        np.uint64,
        np.bool_,
        np.object_,
        np.str_,
    }
)
VECTORIZER_ANALYZERS = ("word", "char", "char_wb")
NEIGHBOUR_TREE_MODULES = ("sklearn.neighbors._kd_tree", "sklearn.neighbors._ball_tree")
MAX_DEPTH = 200  # nesting deeper than any fitted scikit-learn object


class AuditRefused(ArtifactIntegrityError):
    """A value of the model is refused; `path` names the attribute."""

    def __init__(self, path: str, problem: str):
        super().__init__(f"{path}: {problem}", fault="refused by audit", path=path)
        self.path = path


@dataclass
class Report:
    objects: int = 0
    arrays: int = 0
    array_bytes: int = 0
    trees: int = 0
    sparse: int = 0
    neighbour_trees: int = 0
    types: set = field(default_factory=set)

    def as_dict(self) -> dict:
        return {
            "objects": self.objects,
            "arrays": self.arrays,
            "array_bytes": self.array_bytes,
            "trees": self.trees,
            "sparse_matrices": self.sparse,
            "neighbour_trees": self.neighbour_trees,
            "types": sorted(self.types),
        }


def _dotted(cls) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


class _Walker:
    def __init__(self, *, callable_types: frozenset[str], max_array_bytes: int, max_total: int):
        self.callable_types = callable_types
        self.max_array_bytes = max_array_bytes
        self.max_total = max_total
        self.report = Report()
        self.seen: set[int] = set()

    def walk(self, item, path: str, depth: int = 0) -> None:
        if depth > MAX_DEPTH:
            raise AuditRefused(path, f"nested more than {MAX_DEPTH} levels deep")
        if item is None or isinstance(item, (bool, int, float, complex, str, bytes)):
            return
        if isinstance(item, (np.generic, np.dtype, slice)):
            return
        if id(item) in self.seen:
            return
        self.seen.add(id(item))
        self.report.objects += 1
        if isinstance(item, type):
            if path.rsplit(".", 1)[-1].endswith("dtype") and item in DTYPE_CLASSES:
                return
            raise AuditRefused(path, f"holds the class {_dotted(item)}; a class is not a value")
        if isinstance(item, np.ndarray):
            self._array(item, path, depth)
            return
        self.report.types.add(_dotted(type(item)))
        if callable(item) and _dotted(type(item)) not in self.callable_types:
            name = getattr(item, "__qualname__", None) or _dotted(type(item))
            raise AuditRefused(path, f"holds the callable {name}; a function is not a value")
        if _is_sparse(item):
            self._sparse(item, path)
            return
        if isinstance(item, (list, tuple, set, frozenset)):
            for i, value in enumerate(item):
                self.walk(value, f"{path}[{i}]", depth + 1)
            return
        if isinstance(item, dict):
            for key, value in item.items():
                self.walk(key, f"{path}[key {key!r}]", depth + 1)
                self.walk(value, f"{path}[{key!r}]", depth + 1)
            return
        self._special(item, path)
        state = getattr(item, "__dict__", None)
        if isinstance(state, dict):
            for name, value in state.items():
                self.walk(value, f"{path}.{name}", depth + 1)

    def _array(self, array: np.ndarray, path: str, depth: int) -> None:
        self.report.arrays += 1
        self.report.array_bytes += array.nbytes
        if array.nbytes > self.max_array_bytes:
            raise AuditRefused(
                path,
                f"an array of {array.nbytes:,} bytes; the limit is {self.max_array_bytes:,} "
                "(SANDBOX_MAX_ARRAY_BYTES)",
            )
        if self.report.array_bytes > self.max_total:
            raise AuditRefused(
                path, f"the model's arrays pass {self.max_total:,} bytes in all (the limit)"
            )
        if array.dtype == object:
            for i, value in enumerate(array.ravel().tolist()):
                self.walk(value, f"{path}[{i}]", depth + 1)

    def _sparse(self, matrix, path: str) -> None:
        self.report.sparse += 1
        if matrix.dtype.kind not in "biuf":
            raise AuditRefused(path, f"a sparse matrix of dtype {matrix.dtype}")
        parts = [getattr(matrix, n, None) for n in ("data", "indices", "indptr", "row", "col")]
        size = sum(p.nbytes for p in parts if isinstance(p, np.ndarray))
        if size > self.max_array_bytes:
            raise AuditRefused(path, f"a sparse matrix of {size:,} bytes (over the limit)")
        self.report.array_bytes += size
        try:
            if matrix.format in ("csr", "csc"):
                matrix.check_format(full_check=True)
            elif matrix.format == "coo":
                _coo_check(matrix)
            else:
                raise ValueError(f"sparse format {matrix.format!r} is not accepted")
        except (ValueError, TypeError, IndexError, AttributeError) as exc:
            raise AuditRefused(path, f"a malformed sparse matrix ({exc})") from None

    def _special(self, item, path: str) -> None:
        from sklearn.feature_extraction.text import _VectorizerMixin
        from sklearn.svm._base import BaseLibSVM
        from sklearn.tree._tree import Tree

        if isinstance(item, Tree):
            self.report.trees += 1
            _tree_check(item, path)
        elif _is_neighbour_tree(item):
            self.report.neighbour_trees += 1
            _neighbour_tree_check(item, path)
            for i, array in enumerate(item.get_arrays()):
                self._array(np.asarray(array), f"{path}.arrays[{i}]", 0)
        elif isinstance(item, _VectorizerMixin):
            _vectorizer_check(item, path)
        elif isinstance(item, BaseLibSVM) and hasattr(item, "support_vectors_"):
            _svm_check(item, path)


def _is_neighbour_tree(item) -> bool:
    """A KD-tree or ball tree (their base class is private and differs by precision)."""
    return type(item).__module__ in NEIGHBOUR_TREE_MODULES and hasattr(item, "get_arrays")


def _is_sparse(item) -> bool:
    from scipy import sparse

    return sparse.issparse(item)


def _coo_check(matrix) -> None:
    rows, cols = matrix.shape
    if not (len(matrix.row) == len(matrix.col) == len(matrix.data)):
        raise ValueError("row, col and data differ in length")
    for name, index, bound in (("row", matrix.row, rows), ("col", matrix.col, cols)):
        if index.dtype.kind not in "iu":
            raise ValueError(f"{name} indices are not integers")
        if index.size and (index.min() < 0 or index.max() >= bound):
            raise ValueError(f"{name} index out of range")


def _tree_check(tree, path: str) -> None:
    n = int(tree.node_count)
    left, right = np.asarray(tree.children_left), np.asarray(tree.children_right)
    feature, threshold = np.asarray(tree.feature), np.asarray(tree.threshold)
    value = np.asarray(tree.value)
    if not (len(left) == len(right) == len(feature) == len(threshold) == n >= 1):
        raise AuditRefused(path, "a decision tree whose node arrays differ in length")
    if value.shape[0] != n:
        raise AuditRefused(path, "a decision tree whose value rows do not match its nodes")
    leaf = left == -1
    order = np.arange(n)
    internal = ~leaf
    if ((right == -1) != leaf).any():
        raise AuditRefused(path, "a decision tree node with only one child")
    for name, child in (("children_left", left), ("children_right", right)):
        bad = internal & ((child <= order) | (child >= n))
        if bad.any():
            node = int(np.flatnonzero(bad)[0])
            raise AuditRefused(
                f"{path}.{name}[{node}]",
                f"a decision tree child index {int(child[node])} is out of range "
                f"(the tree has {n} nodes; a child comes after its parent)",
            )
    bad = internal & ((feature < 0) | (feature >= int(tree.n_features)))
    if bad.any():
        node = int(np.flatnonzero(bad)[0])
        raise AuditRefused(
            f"{path}.feature[{node}]",
            f"a decision tree feature index {int(feature[node])} is out of range "
            f"(the tree has {int(tree.n_features)} features)",
        )
    if (internal & np.isnan(threshold)).any():
        raise AuditRefused(f"{path}.threshold", "a decision tree threshold is not a number")


def _neighbour_tree_check(tree, path: str) -> None:
    data, idx_array, node_data, node_bounds = (np.asarray(a) for a in tree.get_arrays())
    n = data.shape[0] if data.ndim == 2 else -1
    if n < 0 or idx_array.ndim != 1 or len(idx_array) != n:
        raise AuditRefused(f"{path}.idx_array", "a neighbours tree whose index array is malformed")
    if n and (idx_array.min() < 0 or idx_array.max() >= n):
        raise AuditRefused(
            f"{path}.idx_array",
            f"a neighbours tree index is out of range (its data has {n} rows)",
        )
    names = getattr(node_data.dtype, "names", None) or ()
    if not {"idx_start", "idx_end"} <= set(names):
        raise AuditRefused(f"{path}.node_data", "a neighbours tree without node bounds")
    start, end = node_data["idx_start"], node_data["idx_end"]
    if len(start) and (
        (start < 0).any() or (end > n).any() or (start > end).any() or (end < 0).any()
    ):
        raise AuditRefused(
            f"{path}.node_data",
            f"a neighbours tree node points outside its {n} indices",
        )
    if node_bounds.ndim != 3 or node_bounds.shape[1] != len(node_data):
        raise AuditRefused(f"{path}.node_bounds", "a neighbours tree whose bounds are malformed")
    if data.ndim == 2 and node_bounds.shape[2] != data.shape[1]:
        raise AuditRefused(f"{path}.node_bounds", "a neighbours tree whose bounds are malformed")


def _vectorizer_check(vectorizer, path: str) -> None:
    source = getattr(vectorizer, "input", "content")
    if source != "content":
        raise AuditRefused(
            f"{path}.input",
            f"a text vectorizer with input={source!r} reads files named in the request; "
            "only input='content' is accepted",
        )
    analyzer = getattr(vectorizer, "analyzer", "word")
    if not (isinstance(analyzer, str) and analyzer in VECTORIZER_ANALYZERS):
        raise AuditRefused(
            f"{path}.analyzer",
            f"a text vectorizer's analyzer must be one of {VECTORIZER_ANALYZERS}",
        )


def _svm_check(model, path: str) -> None:
    vectors = model.support_vectors_
    count = vectors.shape[0]
    n_support = np.asarray(getattr(model, "_n_support", []))
    dual = np.asarray(
        model._dual_coef_.toarray() if _is_sparse(model._dual_coef_) else model._dual_coef_
    )
    support = np.asarray(getattr(model, "support_", []))
    if (n_support < 0).any() or (n_support.size and int(n_support.sum()) != count):
        raise AuditRefused(f"{path}._n_support", "support counts do not add up to the vectors")
    if dual.ndim != 2 or dual.shape[1] != count:
        raise AuditRefused(f"{path}._dual_coef_", "dual coefficients do not match the vectors")
    if support.ndim != 1 or len(support) != count or (support.size and support.min() < 0):
        raise AuditRefused(f"{path}.support_", "support indices do not match the vectors")


def audit(
    *, model, callable_types: frozenset[str], max_array_bytes: int, max_total_bytes: int
) -> dict:
    """Walk everything reachable from `model`; AuditRefused names the first bad value."""
    walker = _Walker(
        callable_types=callable_types, max_array_bytes=max_array_bytes, max_total=max_total_bytes
    )
    walker.walk(model, "model")
    return walker.report.as_dict()
