"""On a phone (390 x 844): the compare page is no wider than the screen, the home page's
metrics are on screen, the history filters line up, a flash message stands out."""

import pytest

from predictor.tests.web.test_e2e import browser, login, shot  # noqa: F401 (fixtures)
from predictor.tests.web.test_rollout_pages import fresh  # noqa: F401 (fixture)

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def phone(browser):  # noqa: F811
    context = browser.new_context(viewport=PHONE, device_scale_factor=1, is_mobile=True)
    page = context.new_page()
    page.set_default_timeout(20_000)
    yield page
    context.close()


def _width(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth")


def test_compare_and_home_fit_a_phone(phone, live_server, fresh, staff):  # noqa: F811
    login(phone, live_server, "staff", "pw-staff-123")
    shot(phone, "phone-home")
    assert _width(phone) <= 390
    for cell in phone.locator("td.metric-cell, tbody tr td:nth-child(4)").all():
        box = cell.bounding_box()
        assert cell.is_visible() and box["x"] >= 0 and box["x"] + box["width"] <= 390, box
        assert "accuracy" in cell.inner_text()
    phone.goto(f"{live_server.url}/models/iris/compare/?versions=1,2")
    phone.wait_for_selector("#holdout-table")
    shot(phone, "phone-compare")
    assert _width(phone) <= 390


def test_history_filters_line_up_and_messages_stand_out(phone, live_server, fresh, staff):  # noqa: F811
    login(phone, live_server, "staff", "pw-staff-123")
    phone.goto(f"{live_server.url}/history/")
    labels = phone.locator("form.filters .field label").all()
    tops = [label.bounding_box()["y"] for label in labels]
    lefts = [label.bounding_box()["x"] for label in labels]
    assert len(labels) == 5 and _width(phone) <= 390
    # One column on a phone: each label starts at the same left edge.
    assert max(lefts) - min(lefts) < 2 and tops == sorted(tops)
    shot(phone, "phone-history")
    phone.goto(f"{live_server.url}/account/token/")
    phone.click("#token-create")
    message = phone.locator(".messages li.success")
    colour = message.evaluate("e => getComputedStyle(e).backgroundColor")
    assert colour not in ("rgba(0, 0, 0, 0)", "transparent", "rgb(255, 255, 255)")
    shot(phone, "phone-token")


def test_history_filter_labels_line_up_on_a_wide_screen_even_with_an_error(
    browser,  # noqa: F811
    live_server,
    iris_version,
    staff,
):
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    try:
        login(page, live_server, "staff", "pw-staff-123")
        page.goto(f"{live_server.url}/history/?model=nope&version=x")
        assert "No model named" in page.locator("form.filters").inner_text()
        shot(page, "history-filters-error")
        tops = [round(b.bounding_box()["y"]) for b in page.locator("form.filters label").all()]
        # The first four share a line whatever the errors under two of them; the rest wrap.
        assert len(set(tops[:4])) == 1, tops
        shot(page, "history-filters-error")
    finally:
        context.close()


def test_admin_change_lists_show_every_column_at_1200_px(browser, live_server, fresh, staff):  # noqa: F811
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    try:
        login(page, live_server, "staff", "pw-staff-123")
        for model in ("modelversion", "registeredmodel", "trainingjob"):
            page.goto(f"{live_server.url}/admin/predictor/{model}/")
            shot(page, f"admin-{model}")
            scroll, client = page.evaluate(
                "(() => { const r = document.querySelector('#changelist .results');"
                " return [r.scrollWidth, r.clientWidth] })()"
            )
            assert scroll <= client, (model, scroll, client)
    finally:
        context.close()
