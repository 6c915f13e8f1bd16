"""Crafted model files whose TYPES are all allow-listed but whose VALUES are hostile.

Each builder returns the bytes of a skops file made here from a real fitted model, then
changed the way an attacker would change it: a text vectorizer told to open the files a
prediction names, a function as a parameter, decision trees whose child index points 50
million nodes away (hidden in a calibrated classifier, a forest, gradient boosting), a
sparse `coef_` with a column index near 2**31, a KD-tree whose index array points past its
data, and a zip bomb (a few hundred KB that unpack to 256 MB).
"""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pandas as pd
import skops.io as sio
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sklearn.tree import DecisionTreeClassifier

FEATURES = "x1:numeric\nx2:numeric\nx3:numeric"
TEXT_FEATURES = "path:categorical\nx:numeric"
WILD_CHILD = 50_000_000


def numbers():
    X = pd.DataFrame(np.random.RandomState(0).rand(60, 3), columns=["x1", "x2", "x3"])
    return X, (X["x1"] > 0.5).astype(int)


def file_reader(*, analyzer=float, source="filename") -> tuple[bytes, object]:
    """A pipeline whose HashingVectorizer opens the path sent in the `path` column; the
    fitted object too, for the control that shows it really reads files."""
    frame = pd.DataFrame({"path": ["a b", "c d", "a c", "b d"], "x": [1.0, 2.0, 3.0, 4.0]})
    text = ColumnTransformer(
        [("text", HashingVectorizer(n_features=8), "path"), ("num", "passthrough", ["x"])]
    )
    model = make_pipeline(text, LogisticRegression()).fit(frame, [0, 1, 0, 1])
    model[0].named_transformers_["text"].set_params(input=source, analyzer=analyzer)
    return sio.dumps(model), model


def function_transformer() -> bytes:
    X, y = numbers()
    return sio.dumps(make_pipeline(FunctionTransformer(np.log1p), LogisticRegression()).fit(X, y))


def _rewrite_npy(data: bytes, change) -> bytes:
    """The skops file with `change(array)` applied to its arrays (the first that it
    changes, when it returns a new array; None leaves an array as it is)."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    done = False
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            content = source.read(item.filename)
            if not done and item.filename.endswith(".npy"):
                array = np.load(io.BytesIO(content), allow_pickle=False)
                changed = change(array)
                if changed is not None:
                    buffer = io.BytesIO()
                    np.save(buffer, changed, allow_pickle=False)
                    content, done = buffer.getvalue(), True
            target.writestr(item.filename, content)
    assert done, "nothing to change in this file"
    return out.getvalue()


def _wild_child(array):
    if array.dtype.names and "left_child" in array.dtype.names:
        array = array.copy()
        inner = np.flatnonzero(array["left_child"] != -1)
        array["left_child"][inner[0]] = WILD_CHILD
        return array
    return None


def calibrated_wild_tree() -> bytes:
    X, y = numbers()
    model = CalibratedClassifierCV(DecisionTreeClassifier(random_state=0), cv=2).fit(X, y)
    return _rewrite_npy(sio.dumps(model), _wild_child)


def forest_wild_tree() -> bytes:
    X, y = numbers()
    return _rewrite_npy(
        sio.dumps(RandomForestClassifier(n_estimators=3, random_state=0).fit(X, y)), _wild_child
    )


def boosting_wild_tree() -> bytes:
    X, y = numbers()
    model = GradientBoostingClassifier(n_estimators=3, random_state=0).fit(X, y)
    return _rewrite_npy(sio.dumps(model), _wild_child)


def sparse_coef() -> bytes:
    from scipy import sparse

    X, y = numbers()
    model = LogisticRegression().fit(X, y)
    coef = sparse.csr_matrix(model.coef_)
    coef.indices = coef.indices.astype(np.int32)
    coef.indices[0] = 2**31 - 5
    model.coef_ = coef
    return sio.dumps(model)


def broken_kd_tree() -> bytes:
    X, y = numbers()
    model = KNeighborsClassifier(algorithm="kd_tree").fit(X, y)
    state = list(model._tree.__getstate__())
    state[1] = state[1].copy()
    state[1][0] = 10**9  # idx_array: a row far past the tree's data
    model._tree.__setstate__(tuple(state))
    return sio.dumps(model)


def zip_bomb(megabytes: int = 256) -> bytes:
    """A StandardScaler whose mean_ unpacks to `megabytes` of zeros (written in chunks, so
    making it never holds the array)."""
    X, y = numbers()
    data = sio.dumps(StandardScaler().fit(X))
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    count = megabytes * 1024**2 // 8
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        replaced = False
        for item in source.infolist():
            content = source.read(item.filename)
            if not replaced and item.filename.endswith(".npy"):
                header = io.BytesIO()
                np.lib.format.write_array_header_1_0(
                    header, {"descr": "<f8", "fortran_order": False, "shape": (count,)}
                )
                with target.open(item.filename, "w", force_zip64=True) as member:
                    member.write(header.getvalue())
                    chunk = bytes(8 * 1024**2)
                    for _ in range(megabytes // 8):
                        member.write(chunk)
                replaced = True
                continue
            target.writestr(item.filename, content)
    return out.getvalue()
