"""A training request's defaults and bounds, which `validate` enforces and every door (the
API's serializer, the train page's form, the admin's job form, the `train` command) offers.

Kept apart from `validate` because the doors read them in a serving process, which must not
import pandas (`validate` does)."""

TEST_SIZE_DEFAULT = 0.2  # also TrainingJob.test_size's stored default (test_training pins it)
TEST_SIZE_MIN, TEST_SIZE_MAX = 0.05, 0.5
CV_DEFAULT = 5  # also TrainingJob.cv's stored default; 0 is no cross-validation
MAX_CV = 20
RANDOM_STATE_DEFAULT = 0
