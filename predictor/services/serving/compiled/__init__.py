"""The compiled runtime: each version's pipeline converted to ONNX (convert.py, with exact
double-precision converters for trees, trees.py, and SVR, svr.py), verified against
scikit-learn before it is served (build.py)."""
