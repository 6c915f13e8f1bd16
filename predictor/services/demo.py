"""The built-in demo: scikit-learn's bundled data sets (no network) trained into models."""

import io
import re

import numpy as np
import pandas as pd
from sklearn import datasets as skdatasets

from predictor.models import Dataset, RegisteredModel
from predictor.services.registry.datasets import dataset_create
from predictor.services.serving import registrycache
from predictor.services.training import train_now


def _snake(name: str) -> str:
    name = re.sub(r"\(.*?\)", "", name)
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def _bundled(loader, target_name: str, labelled: bool) -> pd.DataFrame:
    bunch = loader()
    frame = pd.DataFrame(bunch.data, columns=[_snake(n) for n in bunch.feature_names])
    if labelled:
        frame[target_name] = [str(bunch.target_names[i]) for i in bunch.target]
    else:
        frame[target_name] = bunch.target
    return frame


def credit_risk_frame(rows: int = 600, seed: int = 0) -> pd.DataFrame:
    """A generated, deterministic credit-risk table with categorical columns and gaps."""
    rng = np.random.RandomState(seed)
    age = rng.randint(19, 75, rows).astype(float)
    income = np.round(rng.lognormal(10.4, 0.5, rows), 0)
    amount = np.round(rng.uniform(500, 20000, rows), 0)
    duration = rng.choice([6, 12, 18, 24, 36, 48], rows).astype(float)
    housing = rng.choice(["own", "rent", "free"], rows, p=[0.55, 0.35, 0.10])
    purpose = rng.choice(["car", "education", "furniture", "business", "repairs"], rows)
    employment = rng.choice(
        ["employed", "self-employed", "unemployed", "student"], rows, p=[0.6, 0.2, 0.1, 0.1]
    )
    score = (
        0.00012 * amount / (income / 30000)
        + 0.03 * duration
        - 0.02 * (age - 40).clip(-20, 10)
        + np.where(employment == "unemployed", 1.2, 0.0)
        + np.where(housing == "rent", 0.4, 0.0)
        + rng.normal(0, 0.6, rows)
    )
    risk = np.where(score > np.quantile(score, 0.7), "bad", "good")
    frame = pd.DataFrame(
        {
            "age": age,
            "income": income,
            "loan_amount": amount,
            "duration_months": duration,
            "housing": housing,
            "purpose": purpose,
            "employment": employment,
            "risk": risk,
        }
    )
    # Gaps to impute: about 5% of incomes and 4% of housing values are unknown.
    frame.loc[rng.rand(rows) < 0.05, "income"] = np.nan
    frame.loc[rng.rand(rows) < 0.04, "housing"] = None
    return frame


DEMOS = [
    {
        "name": "iris",
        "frame": lambda: _bundled(skdatasets.load_iris, "species", True),
        "target": "species",
        "algorithm": "logistic_regression",
        "public": True,
        "description": "Iris flowers: species from sepal and petal measurements (cm).",
    },
    {
        "name": "wine",
        "frame": lambda: _bundled(skdatasets.load_wine, "cultivar", True),
        "target": "cultivar",
        "algorithm": "random_forest",
        "params": {"n_estimators": 100},
        "description": "Wine cultivar from 13 chemical measurements.",
    },
    {
        "name": "breast-cancer",
        "frame": lambda: _bundled(skdatasets.load_breast_cancer, "diagnosis", True),
        "target": "diagnosis",
        "algorithm": "logistic_regression",
        "description": "Breast cancer diagnosis (malignant or benign) from 30 cell features.",
    },
    {
        "name": "diabetes",
        "frame": lambda: _bundled(
            lambda: skdatasets.load_diabetes(scaled=False), "progression", False
        ),
        "target": "progression",
        "algorithm": "ridge",
        "description": "Diabetes progression one year after baseline (regression).",
    },
    {
        "name": "credit-risk",
        "frame": credit_risk_frame,
        "target": "risk",
        "algorithm": "random_forest",
        "params": {"n_estimators": 100, "max_depth": 8},
        "description": "Generated credit applications: good or bad risk, with categorical "
        "columns and missing values.",
    },
]


def demo_load(*, user=None, names: list[str] | None = None, cv: int = 3, log=print) -> list:
    """Create the demo datasets and models that are not there yet (safe to run twice)."""
    done = []
    for spec in DEMOS:
        if names and spec["name"] not in names:
            continue
        dataset = Dataset.objects.filter(name=spec["name"]).first()
        if dataset is None:
            buffer = io.StringIO()
            spec["frame"]().to_csv(buffer, index=False)
            dataset = dataset_create(
                name=spec["name"],
                file=buffer.getvalue().encode(),
                target=spec["target"],
                description=spec["description"],
                user=user,
            )
            log(f"dataset {dataset.name}: {dataset.row_count} rows")
        model = RegisteredModel.objects.filter(name=spec["name"]).first()
        if model is None or not model.versions.exists():
            job = train_now(
                dataset=dataset,
                user=user,
                model_name=spec["name"],
                algorithm=spec["algorithm"],
                params=spec.get("params", {}),
                cv=cv,
                random_state=0,
            )
            if job.version is None:
                raise RuntimeError(f"demo model {spec['name']} failed to train: {job.error}")
            model = job.version.model
            metric, value = job.version.main_metric
            log(f"model {model.name} v{job.version.version}: {metric} {value:.3f}")
        RegisteredModel.objects.filter(pk=model.pk).update(
            description=model.description or spec["description"],
            public=model.public or spec.get("public", False),
        )
        registrycache.changed()
        done.append(model.name)
    return done
