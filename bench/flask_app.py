"""The plain service users compare us with: Flask, a joblib model, `predict`, nothing else.

It logs nothing, validates nothing and checks no token: the tutorial design. bench/run.py
exports the models with joblib: for iris a bare LogisticRegression on the four numbers (what
the tutorials serve), for credit-risk the service's own fitted pipeline (its categorical
columns need the preprocessing). Run: BENCH_MODELS_DIR=... gunicorn bench.flask_app:app
"""

import os
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from flask import Flask, jsonify, request

app = Flask(__name__)
MODELS = {path.stem: joblib.load(path) for path in Path(os.environ["BENCH_MODELS_DIR"]).glob("*")}


@app.post("/predict/<name>")
def predict(name):
    model = MODELS[name]
    body = request.get_json()
    if "data" in body:  # positional rows of numbers
        features = np.asarray(body["data"], dtype=float)
    else:  # records, by feature name
        features = pd.DataFrame(body["inputs"])
    return jsonify({"predictions": model.predict(features).tolist()})


@app.post("/hello")
def hello():
    """Flask's own cost (bench/floor_bench.py): the body read, no model."""
    request.get_json()
    return jsonify({"predictions": [0]})
