"""Serving: which version answers (routing), the loaded version that predicts (runtime),
and the hot path that validates, predicts and logs (inference); batch files and
explanations ride on the same runtime."""
