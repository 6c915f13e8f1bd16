"""Drift: each input's (and the output's) live distribution against its training
reference: PSI on the reference bins, with the KS test on a sample of the window's rows
(chi-squared on the bins when the rows were pruned). PSI and the tests read the values
present only; the share of missing values is compared on its own, and a change of more
than `DRIFT_MISSING_POINTS` makes a feature warn, never drift by itself (training data with
5% gaps and traffic with none is no change in the values)."""

import math
from collections import Counter

import numpy as np
from django.conf import settings

from predictor.services.log import aggregates, sealing
from predictor.services.monitoring import window
from predictor.services.monitoring.window import (
    DRIFT,
    INSUFFICIENT,
    OK,
    ORDER,
    UNAVAILABLE,
    WARN,
    worst,
)
from predictor.services.schema import CATEGORICAL, MISSING, OTHER, OUTPUT

KS_SAMPLE = 5000  # rows of the window read for the KS test
EPSILON = 1e-4  # a bin with no share counts as this much in PSI (else log(0))


def _reference_missing(stat: dict) -> float:
    """The training share of missing values: recorded apart, else (older references) the
    share of a missing bin among the categories, else none."""
    if "missing" in stat:
        return float(stat["missing"])
    return float(stat.get("frequencies", {}).get(MISSING, 0.0))


def _expected(stat: dict) -> dict[str, float]:
    """The training distribution of the values present, on the keys the log counts with."""
    if stat.get("type") == CATEGORICAL:
        frequencies = {k: float(v) for k, v in stat.get("frequencies", {}).items()}
        old_missing = frequencies.pop(MISSING, 0.0)  # an older reference's bin of gaps
        if old_missing:
            frequencies = {k: v / (1 - old_missing) for k, v in frequencies.items()}
        shares = dict(frequencies)
        rest = max(0.0, 1 - sum(shares.values()))
        if rest > 1e-9:
            shares[OTHER] = rest
        return shares
    counts = stat.get("counts", [])
    total = sum(counts) or 1
    return {str(i): c / total for i, c in enumerate(counts)}


def _present(observed: Counter) -> Counter:
    return Counter({k: n for k, n in observed.items() if k != MISSING})


def psi(expected: dict[str, float], observed: Counter) -> float:
    total = sum(observed.values())
    if not total:
        return 0.0
    value = 0.0
    for key in set(expected) | set(observed):
        e = max(expected.get(key, 0.0), EPSILON)
        a = max(observed.get(key, 0) / total, EPSILON)
        value += (a - e) * math.log(a / e)
    return value


def _chi2(expected: dict[str, float], observed: Counter) -> tuple[float, float]:
    from scipy import stats as scipy_stats  # imported when drift is measured

    keys = sorted(set(expected) | set(observed))
    total = sum(observed.values())
    f_obs = np.array([observed.get(k, 0) for k in keys], dtype=float)
    f_exp = np.array([max(expected.get(k, 0.0), EPSILON) for k in keys])
    f_exp = f_exp / f_exp.sum() * total
    result = scipy_stats.chisquare(f_obs, f_exp)
    return float(result.statistic), float(result.pvalue)


def _status(psi_value: float, p_value: float | None) -> str:
    if psi_value >= settings.DRIFT_PSI_ALERT or (
        p_value is not None
        and p_value < settings.DRIFT_P_VALUE
        and psi_value >= settings.DRIFT_PSI_WARN
    ):
        return DRIFT
    if psi_value >= settings.DRIFT_PSI_WARN:
        return WARN
    return OK


def _sample(version, span) -> list[dict]:
    rows = window.all_rows(version=version, span=span).order_by("-created_at", "-id")[:KS_SAMPLE]
    return [
        sealing.unseal(inputs, sealed) if sealed else inputs
        for inputs, sealed in rows.values_list("inputs", "sealed")
    ]


def _missing(stat: dict, observed: Counter, *, hidden: bool) -> dict:
    """The share of missing values in training and in the window. A numeric reference
    without bins counts every live value as missing, so its window share is unknown (None);
    so is a sensitive feature's when fewer than PRIVACY_MIN_COUNT rows miss it (it would
    point at a person)."""
    total = sum(observed.values())
    gaps = observed.get(MISSING, 0)
    known = total and (stat.get("type") == CATEGORICAL or stat.get("edges"))
    share = round(gaps / total, 6) if known else None
    shown = share
    if hidden and 0 < gaps < settings.PRIVACY_MIN_COUNT:
        shown = None
    return {"reference": round(_reference_missing(stat), 6), "window": shown, "_share": share}


def _feature(name: str, stat: dict, observed: Counter, sample: list, n: int, hidden: bool):
    from scipy import stats as scipy_stats

    expected, present = _expected(stat), _present(observed)
    value = psi(expected, present)
    entry = {"name": name, "kind": "categorical" if stat["type"] == CATEGORICAL else "numeric"}
    entry["psi"] = round(value, 6)
    counted = sum(present.values())
    if entry["kind"] == "numeric":
        live = [r.get(name) for r in sample]
        live = [float(v) for v in live if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if live and stat.get("sample"):
            result = scipy_stats.ks_2samp(np.asarray(stat["sample"]), np.asarray(live))
            entry.update(test="ks", statistic=float(result.statistic), p_value=float(result.pvalue))
        else:
            statistic, p_value = _chi2(expected, present) if counted else (None, None)
            entry.update(test="chi2_binned", statistic=statistic, p_value=p_value)
    else:
        statistic, p_value = _chi2(expected, present) if counted else (None, None)
        entry.update(test="chi2", statistic=statistic, p_value=p_value)
    missing = _missing(stat, observed, hidden=hidden)
    share = missing.pop("_share")
    if n < settings.DRIFT_MIN_ROWS:
        entry["status"] = INSUFFICIENT
    else:
        entry["status"] = _status(value, entry["p_value"])
        moved = share is not None and abs(share - missing["reference"]) > (
            settings.DRIFT_MISSING_POINTS
        )
        if moved:  # more (or fewer) gaps: worth a look, not a drift in the values
            entry["status"] = worst(entry["status"], WARN)
    entry["missing"] = missing
    entry["reference"] = expected
    entry["window"] = (
        aggregates.small_counts_merged(counts=present, minimum=settings.PRIVACY_MIN_COUNT)
        if hidden  # a sensitive feature's rare bins would point at a person
        else dict(present)
    )
    return entry


def drift(*, version, figures: aggregates.Figures, span) -> dict:
    reference = version.reference_stats or {}
    n = figures.predictions
    if not reference or not any(f["name"] in reference for f in version.schema):
        return {"status": UNAVAILABLE, "rows": n, "features": [], "outputs": None}
    sample = _sample(version, span) if n else []
    hidden = aggregates.sensitive_of(version=version)
    features = []
    for feature in version.schema:
        name, stat = feature["name"], reference.get(feature["name"])
        if stat:
            observed = figures.features.get(name, Counter())
            features.append(_feature(name, stat, observed, sample, n, name in hidden))
    features.sort(key=lambda f: (ORDER.index(f["status"]), f["psi"]), reverse=True)
    outputs = None
    if OUTPUT in reference and n:
        out_psi = psi(_expected(reference[OUTPUT]), _present(figures.outputs))
        outputs = {
            "psi": round(out_psi, 6),
            "status": _status(out_psi, None) if n >= settings.DRIFT_MIN_ROWS else INSUFFICIENT,
        }
    if n < settings.DRIFT_MIN_ROWS:
        status = INSUFFICIENT
    else:
        status = worst(
            OK, *(f["status"] for f in features), *([outputs["status"]] if outputs else [])
        )
    return {"status": status, "rows": n, "features": features, "outputs": outputs}
