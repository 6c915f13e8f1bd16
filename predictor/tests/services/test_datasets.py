import pytest

from predictor.models import Dataset
from predictor.services.errors import InvalidInput, PayloadTooLarge
from predictor.services.registry.datasets import dataset_create, dataset_frame

from ..conftest import csv_bytes, iris_frame


def stored_files(settings):
    root = settings.MEDIA_ROOT / "datasets"
    return list(root.iterdir()) if root.exists() else []


def test_upload_infers_columns_and_hash(db, settings):
    dataset = dataset_create(name="iris", file=csv_bytes(iris_frame()))
    assert dataset.row_count == 150
    assert dataset.target == "species"  # default: the last column
    types = {c["name"]: c["type"] for c in dataset.columns}
    assert types == {
        "sepal_length": "numeric",
        "sepal_width": "numeric",
        "petal_length": "numeric",
        "petal_width": "numeric",
        "species": "categorical",
    }
    sepal = dataset.columns[0]
    assert sepal["min"] == 4.3 and sepal["max"] == 7.9 and sepal["missing"] == 0
    assert len(dataset.sha256) == 64
    assert dataset_frame(dataset=dataset).shape == (150, 5)


BAD = [
    (b"", "empty"),
    (b"   \n\n", "empty"),
    (b"1.0,2.0,3\n4,5,6\n7,8,9\n1,2,3\n4,5,6\n7,8,9\n", "looks like data"),
    (b"only\n1\n2\n3\n4\n5\n6\n", "single column"),
    (b"a,b,a\n1,2,3\n1,2,3\n1,2,3\n1,2,3\n1,2,3\n", "appears twice"),
    ("a,b\n1,caf\xe9\n".encode("latin-1") * 6, "not UTF-8"),
    (b"a,,c\n1,2,3\n1,2,3\n1,2,3\n1,2,3\n1,2,3\n", "no name"),
    (b"a,b\n1,2\n", "at least 5"),
    (b"a,b\n1,2\n1,2,3,4\n1,2\n1,2\n1,2\n1,2\n", "could not be parsed"),
]


@pytest.mark.parametrize("content,message", BAD)
def test_bad_files_are_refused_and_nothing_is_kept(db, settings, content, message):
    with pytest.raises(InvalidInput, match=message):
        dataset_create(name="bad", file=content)
    assert Dataset.objects.count() == 0
    assert stored_files(settings) == []


def test_unknown_target_column(db, settings):
    with pytest.raises(InvalidInput, match="'colour' is not in the file"):
        dataset_create(name="iris", file=csv_bytes(iris_frame()), target="colour")
    assert Dataset.objects.count() == 0 and stored_files(settings) == []


def test_file_over_the_size_limit(db, settings):
    settings.DATASET_MAX_UPLOAD_BYTES = 1000
    with pytest.raises(PayloadTooLarge, match="limit"):
        dataset_create(name="iris", file=csv_bytes(iris_frame()))
    assert Dataset.objects.count() == 0 and stored_files(settings) == []


@pytest.mark.parametrize("name", ["", "Iris Data", "-x", "a/b"])
def test_bad_names(db, name):
    with pytest.raises(InvalidInput, match="name"):
        dataset_create(name=name, file=csv_bytes(iris_frame()))


def test_duplicate_name(iris_dataset):
    with pytest.raises(InvalidInput, match="already exists"):
        dataset_create(name="iris", file=csv_bytes(iris_frame()))
    assert Dataset.objects.count() == 1


def test_tampered_dataset_file_is_noticed(iris_dataset):
    path = iris_dataset.file.path
    with open(path, "ab") as fh:
        fh.write(b"5,5,5,5,setosa\n")
    with pytest.raises(InvalidInput, match="changed since upload"):
        dataset_frame(dataset=iris_dataset)
