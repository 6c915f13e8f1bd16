"""Datasets: validate an uploaded CSV, infer its columns, store it; read it back.
(pandas is imported by the functions that make frames, not by every server process.)"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import transaction

from predictor.models import Dataset, Task, slug_validator
from predictor.services import access
from predictor.services.errors import InvalidInput, NotFound, PayloadTooLarge
from predictor.services.schema import NUMERIC, column_is_numeric, column_profile

if TYPE_CHECKING:
    import pandas as pd

MIN_ROWS = 5
# Below this many rows a column of distinct values says little (five colours in five rows
# are not identifiers), so no column is noted "identifier".
IDENTIFIER_MIN_ROWS = 20
IDENTIFIER = "identifier"
CONSTANT = "constant"
# Separators people's spreadsheets save with, in the words of the error that names them.
OTHER_SEPARATORS = ((";", "';'"), ("\t", "tabs"), ("|", "'|'"))


def _read_upload(file) -> bytes:
    """Bytes of an uploaded file, a path-less file object, or bytes, within the size cap."""
    limit = settings.DATASET_MAX_UPLOAD_BYTES
    if isinstance(file, bytes):
        data = file
    else:
        size = getattr(file, "size", None)
        if size is not None and size > limit:
            raise PayloadTooLarge(f"the file is {size} bytes; the upload limit is {limit} bytes")
        if hasattr(file, "seek"):
            file.seek(0)
        data = file.read(limit + 1)
    if len(data) > limit:
        raise PayloadTooLarge(f"the file is larger than the upload limit of {limit} bytes")
    return data


def _check_header(text: str) -> list[str]:
    first_line = next(iter(text.splitlines()), "")
    if not first_line.strip():
        raise InvalidInput("the file is empty: expected a header row and data rows")
    header = next(csv.reader([first_line]))
    names = [h.strip() for h in header]
    if len(names) < 2:
        for separator, words in OTHER_SEPARATORS:
            if separator in first_line:
                raise InvalidInput(
                    f"the file looks separated by {words}: save it as comma-separated CSV"
                )
        raise InvalidInput(
            "the file has a single column: a dataset needs at least one feature and a target"
        )
    if any(not n for n in names):
        position = [i for i, n in enumerate(names, start=1) if not n][0]
        raise InvalidInput(f"column {position} of the header has no name")
    seen = set()
    for name in names:
        if name in seen:
            raise InvalidInput(f"the column name {name!r} appears twice in the header")
        seen.add(name)

    def looks_numeric(value: str) -> bool:
        try:
            float(value)
        except ValueError:
            return False
        return True

    if all(looks_numeric(n) for n in names):
        raise InvalidInput(
            "the first line looks like data, not a header: the first line must name the columns"
        )
    return names


def parse_csv(*, data: bytes) -> pd.DataFrame:
    """Parse and check CSV bytes; raise InvalidInput naming what is wrong."""
    if not data.strip():
        raise InvalidInput("the file is empty: expected a header row and data rows")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            f"the file is not UTF-8 text (bad byte at position {exc.start}); save it as UTF-8 CSV"
        ) from None
    if "\x00" in text:
        raise InvalidInput("the file contains NUL bytes: it is not a CSV text file")
    names = _check_header(text)
    import pandas as pd

    try:
        frame = pd.read_csv(io.StringIO(text), skipinitialspace=True)
    except (pd.errors.ParserError, ValueError) as exc:
        raise InvalidInput(f"the CSV could not be parsed: {str(exc).splitlines()[0]}") from None
    frame.columns = names
    if len(frame) < MIN_ROWS:
        raise InvalidInput(f"the file has {len(frame)} data rows; at least {MIN_ROWS} are needed")
    return frame


def column_note(*, series: pd.Series) -> str | None:
    """Note "identifier" for a column unique per row (text, or consecutive whole numbers),
    "constant" for one with a single value, else None."""
    from pandas.api.types import is_integer_dtype

    values = series.dropna()
    if values.nunique() <= 1:
        return CONSTANT
    if len(series) < IDENTIFIER_MIN_ROWS or len(values) < len(series) or not values.is_unique:
        return None
    if not column_is_numeric(series=values):
        return IDENTIFIER
    if is_integer_dtype(values) and int(values.max()) - int(values.min()) == len(values) - 1:
        return IDENTIFIER
    return None


def columns_profile(*, frame: pd.DataFrame) -> list[dict]:
    """Each column's type and figures, with its share missing, distinct values and note."""
    return [
        {
            **column_profile(series=frame[name]),
            "distinct": int(frame[name].nunique(dropna=True)),
            "note": column_note(series=frame[name]),
        }
        for name in frame.columns
    ]


PROFILE_KEYS = ("name", "type", "missing", "distinct", "note")


def dataset_profile(*, dataset: Dataset) -> list[dict]:
    """Per column: name, type, `missing` (share), `distinct` and `note`; from what was stored
    at upload, or (a dataset stored before profiles) from its file."""
    columns = dataset.columns or []
    if not columns or not all("note" in c and "distinct" in c for c in columns):
        columns = columns_profile(frame=dataset_frame(dataset=dataset))
    return [{key: c.get(key) for key in PROFILE_KEYS} for c in columns]


def dataset_noted(*, dataset: Dataset) -> dict[str, str]:
    """The columns the profile notes (identifier or constant), name → note, target aside."""
    return {
        c["name"]: c["note"]
        for c in dataset_profile(dataset=dataset)
        if c["note"] and c["name"] != dataset.target
    }


def dataset_look(*, dataset: Dataset, rows: int = 5) -> dict:
    """What a person looks at before training: the profile, a few rows, and the class
    balance of the target when it is a classification target (else None)."""
    frame = dataset_frame(dataset=dataset)
    target = frame[dataset.target]
    balance = None
    if infer_task(target=target) == Task.CLASSIFICATION:
        counts = target.dropna().astype(str).value_counts()
        total = int(counts.sum()) or 1
        balance = [
            {"value": str(value), "count": int(count), "share": count / total}
            for value, count in counts.items()
        ]
    head = frame.head(rows)
    return {
        "profile": dataset_profile(dataset=dataset),
        "preview": head.astype(object).where(head.notna(), None).to_dict(orient="records"),
        "balance": balance,
    }


@dataclass
class CheckedDataset:
    name: str
    data: bytes
    frame: pd.DataFrame
    target: str


def dataset_check(*, name: str, file, target: str | None = None) -> CheckedDataset:
    """Everything dataset_create checks, without storing anything."""
    name = (name or "").strip()
    if not name:
        raise InvalidInput("a dataset needs a name", field="name")
    try:
        slug_validator(name)
    except ValidationError:
        raise InvalidInput(
            f"invalid dataset name {name!r}: use lowercase letters, digits, '-' and '_'",
            field="name",
        ) from None
    if Dataset.objects.filter(name=name).exists():
        raise InvalidInput(f"a dataset named {name!r} already exists", field="name")
    data = _read_upload(file)
    frame = parse_csv(data=data)
    target = (target or "").strip() or frame.columns[-1]
    if target not in frame.columns:
        raise InvalidInput(
            f"the target column {target!r} is not in the file; its columns are: "
            + ", ".join(frame.columns),
            field="target",
        )
    if frame[target].isna().all():
        raise InvalidInput(f"the target column {target!r} has no values", field="target")
    return CheckedDataset(name=name, data=data, frame=frame, target=target)


def dataset_create(
    *, name: str, file, target: str | None = None, description: str = "", user=None
) -> Dataset:
    """Validate a CSV upload and store it as a Dataset (nothing is kept if it is refused)."""
    checked = dataset_check(name=name, file=file, target=target)
    digest = hashlib.sha256(checked.data).hexdigest()
    with transaction.atomic():
        dataset = Dataset(
            name=checked.name,
            description=description,
            sha256=digest,
            size_bytes=len(checked.data),
            row_count=len(checked.frame),
            columns=columns_profile(frame=checked.frame),
            target=checked.target,
            created_by=access.actor(user=user),
        )
        dataset.file.save(
            f"{checked.name}-{digest[:12]}.csv", ContentFile(checked.data), save=False
        )
        try:
            dataset.save()
        except BaseException:
            dataset.file.delete(save=False)
            raise
    return dataset


def dataset_find(*, key) -> Dataset:
    """THE look-up of a dataset a person names: by its name, else (a whole number, or digits)
    by its id; NotFound naming what was asked for."""
    found = None
    if isinstance(key, str):
        found = Dataset.objects.filter(name=key).first()
        key = int(key) if found is None and key.isdigit() else key
    if found is None and isinstance(key, int) and not isinstance(key, bool):
        found = Dataset.objects.filter(pk=key).first()
    if found is None:
        raise NotFound(f"no dataset named {key!r}", field="dataset")
    return found


def dataset_frame(*, dataset: Dataset) -> pd.DataFrame:
    """The dataset's rows, parsed the same way as at upload."""
    # Open through the storage, not the shared FieldFile, so threads do not share a handle.
    with dataset.file.storage.open(dataset.file.name, "rb") as fh:
        data = fh.read()
    if hashlib.sha256(data).hexdigest() != dataset.sha256:
        raise InvalidInput(f"the file of dataset {dataset.name!r} has changed since upload")
    return parse_csv(data=data)


def dataset_preview(*, dataset: Dataset, rows: int = 10) -> list[dict]:
    frame = dataset_frame(dataset=dataset).head(rows)
    return frame.astype(object).where(frame.notna(), None).to_dict(orient="records")


def infer_task(*, target: pd.Series) -> str:
    """Text, booleans or a few integer values → classification; other numbers → regression."""
    values = target.dropna()
    if not column_is_numeric(series=values):
        return "classification"
    from pandas.api.types import is_integer_dtype

    if is_integer_dtype(values) and values.nunique() <= 20:
        return "classification"
    return "regression"


def dataset_task_guess(*, dataset: Dataset) -> str:
    """The task of a dataset's target from its stored profile, without reading the file
    (`infer_task` reads the values): numbers beyond a handful of whole values → regression."""
    profile = next((c for c in dataset.columns if c.get("name") == dataset.target), None)
    if not profile or profile.get("type") != NUMERIC:
        return Task.CLASSIFICATION
    low, high = profile.get("min"), profile.get("max")
    whole = (
        low is not None
        and high is not None
        and float(low).is_integer()
        and float(high).is_integer()
    )
    return Task.CLASSIFICATION if whole and high - low <= 20 else Task.REGRESSION
