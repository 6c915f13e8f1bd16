"""THE access rule and THE version choice, each tested once for every kind of caller."""

import pytest
from django.contrib.auth.models import AnonymousUser

from predictor import selectors
from predictor.models import Prediction, Stage
from predictor.services import access, registry
from predictor.services.errors import Conflict, LoginRequired, NotFound
from predictor.services.serving import inference, routing

from ..conftest import train

ROW = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}


@pytest.fixture
def callers(alice, bob, staff, manager):
    return {
        "anonymous": AnonymousUser(),
        "user": alice,
        "other": bob,
        "staff": staff,
        "manager": manager,
    }


@pytest.fixture
def public_and_private(iris_dataset):
    public = train(iris_dataset, model="public-iris")
    public.model.public = True
    public.model.save()
    private = train(iris_dataset, model="private-iris")
    return public.model, private.model


@pytest.mark.parametrize(
    "caller, public_ok, private_ok",
    [
        ("anonymous", True, False),
        ("user", True, True),
        ("other", True, True),
        ("staff", True, True),
        ("manager", True, True),
    ],
)
def test_who_may_use_a_model(callers, public_and_private, caller, public_ok, private_ok):
    public, private = public_and_private
    user = callers[caller]
    assert access.model_may_use(user=user, model=public) is public_ok
    assert access.model_may_use(user=user, model=private) is private_ok
    visible = set(selectors.models_visible_to(user).values_list("name", flat=True))
    assert visible == {m.name for m, ok in [(public, public_ok), (private, private_ok)] if ok}
    if not private_ok:
        with pytest.raises(LoginRequired):
            routing.version_for(model_name=private.name, user=user)


@pytest.mark.parametrize(
    "caller, sees_staff_only",
    [("anonymous", False), ("user", False), ("staff", True), ("manager", True)],
)
def test_the_stage_rule(callers, iris_dataset, caller, sees_staff_only):
    v1 = train(iris_dataset)  # production, then archived
    v1.model.public = True
    v1.model.save()
    v2 = train(iris_dataset, algorithm="knn")
    v3 = train(iris_dataset, algorithm="decision_tree")
    v4 = train(iris_dataset, algorithm="knn")  # stays at stage none
    registry.version_promote(version=v2, stage=Stage.PRODUCTION)
    registry.version_promote(version=v3, stage=Stage.STAGING)
    user = callers[caller]
    assert routing.version_for(model_name="iris", user=user).version == 2
    assert routing.version_for(model_name="iris", user=user, version=3).version == 3
    for hidden in (1, v4.version):
        if sees_staff_only:
            assert (
                routing.version_for(model_name="iris", user=user, version=hidden).version == hidden
            )
        else:
            with pytest.raises(NotFound, match=f"has no version {hidden}"):
                routing.version_for(model_name="iris", user=user, version=hidden)


def test_version_choice_errors(iris_dataset, alice):
    version = train(iris_dataset, model="private-iris")
    anonymous = AnonymousUser()
    with pytest.raises(NotFound, match="no model named 'nope'"):
        routing.version_for(model_name="nope", user=alice)
    with pytest.raises(NotFound, match="has no version 9"):
        routing.version_for(model_name="private-iris", user=alice, version=9)
    registry.version_promote(version=version, stage=Stage.ARCHIVED)
    with pytest.raises(LoginRequired):  # a private model says 401 before it says 409
        routing.version_for(model_name="private-iris", user=anonymous)
    with pytest.raises(Conflict, match="no production version"):
        routing.version_for(model_name="private-iris", user=alice)


@pytest.mark.parametrize(
    "caller, sees",
    [
        ("user", {"user"}),
        ("other", {"other"}),
        ("staff", {"user", "other"}),
        ("manager", {"user", "other"}),
        ("anonymous", set()),
    ],
)
def test_who_sees_which_prediction(callers, iris_version, caller, sees):
    made = {}
    for owner in ("user", "other"):
        result = inference.predict(version=iris_version, records=[ROW], user=callers[owner])
        made[owner] = result.prediction_ids[0]
    user = callers[caller]
    visible = set(selectors.predictions_visible_to(user).values_list("pk", flat=True))
    assert visible == {made[o] for o in sees}
    for owner, pk in made.items():
        if owner in sees:
            assert selectors.prediction_get(pk=pk, user=user).pk == pk
        else:
            with pytest.raises(NotFound):
                selectors.prediction_get(pk=pk, user=user)


def test_an_anonymous_session_sees_its_own_results_only(iris_version):
    mine = inference.predict(version=iris_version, records=[ROW]).prediction_ids[0]
    theirs = inference.predict(version=iris_version, records=[ROW]).prediction_ids[0]
    anonymous = AnonymousUser()
    assert selectors.prediction_get(pk=mine, user=anonymous, also=[mine]).pk == mine
    with pytest.raises(NotFound):
        selectors.prediction_get(pk=theirs, user=anonymous, also=[mine])
    assert Prediction.objects.count() == 2
