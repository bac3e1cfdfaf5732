"""Optional sign-in (cxdata/ui/auth.py, called from app.py): off without an [auth]
section in the secrets; on with one, every page shows only the sign-in screen until
someone is signed in; the signed-in name is who saves."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.helpers_app import APP, warm_server  # noqa: F401  (fixture)

AUTH = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "s3cret-for-tests",
        "client_id": "cx-journey-lab", "client_secret": "not-a-real-secret",
        "server_metadata_url": "https://id.example.org/.well-known/openid-configuration"}
TINY = "customer_id,timestamp,stage\nc1,2025-01-01,Aware\nc1,2025-01-02,Purchase\n"


@pytest.fixture(autouse=True)
def workspace(warm_server, tmp_path):
    from cxdata.store.workspace import Workspace
    ws = Workspace()
    (tmp_path / "tiny.csv").write_text(TINY)
    ws.ingest(tmp_path / "tiny.csv", "Tiny")
    ws.close()


def run_page(page: str, secrets: dict | None = None, user: dict | None = None) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=120)
    if secrets:
        for key, value in secrets.items():
            at.secrets[key] = value
    if user is not None:
        at.user = user
    at.query_params["dataset"] = "Tiny"
    at.switch_page(f"pages/{page}.py")
    at.run()
    assert not at.exception, at.exception
    return at


def labels(at) -> list[str]:
    return [b.label for b in at.button]


@pytest.mark.parametrize("page, title", [("overview", "Overview"), ("data", "Data")])
def test_without_auth_secrets_pages_open_as_before(page, title):
    at = run_page(page)
    assert [t.value for t in at.title] == [title]
    assert not any(label.startswith("Sign") for label in labels(at))
    assert at.selectbox(key="_dataset_picker").value == "Tiny"


@pytest.mark.parametrize("page", ["overview", "funnel", "data", "journey_map"])
def test_with_auth_secrets_and_nobody_signed_in_only_the_sign_in_screen_shows(page):
    at = run_page(page, secrets={"auth": AUTH}, user={"is_logged_in": False})
    assert [t.value for t in at.title] == ["CX Journey Lab"]
    assert labels(at) == ["Sign in"]
    assert [t.value for t in at.text] == ["Sign in to see this team's journeys, datasets and maps."]
    # No page, no dataset picker, no numbers, no tables.
    assert len(at.selectbox) == 0 and len(at.metric) == 0 and len(at.dataframe) == 0
    assert len(at.sidebar.markdown) == 0


def test_named_providers_each_get_a_button():
    secrets = {"auth": {"redirect_uri": AUTH["redirect_uri"], "cookie_secret": AUTH["cookie_secret"],
                        "google": {k: AUTH[k] for k in ("client_id", "client_secret", "server_metadata_url")},
                        "microsoft": {k: AUTH[k] for k in ("client_id", "client_secret",
                                                           "server_metadata_url")}}}
    at = run_page("overview", secrets=secrets, user={"is_logged_in": False})
    assert labels(at) == ["Sign in with Google", "Sign in with Microsoft"]


def test_signed_in_the_pages_open_and_the_sidebar_names_the_user_as_text():
    user = {"is_logged_in": True, "name": "Ana *Lima* [x](http://host/)", "email": "ana@example.org"}
    at = run_page("overview", secrets={"auth": AUTH}, user=user)
    assert [t.value for t in at.title] == ["Overview"]
    assert at.selectbox(key="_dataset_picker").value == "Tiny"
    assert "Signed in as Ana *Lima* [x](http://host/)" in [t.value for t in at.sidebar.text]
    assert "Sign out" in labels(at)


def _author_script():
    import streamlit as st
    from cxdata.ui import auth
    st.text(repr((auth.current_user_name(), auth.author_name("  Typed\u202e  name "))))


@pytest.mark.parametrize("secrets, user, expected", [
    ({}, {"email": "test@example.com"}, (None, "Typed name")),
    ({"auth": AUTH}, {"is_logged_in": True, "name": "Ana Lima", "email": "ana@example.org"},
     ("Ana Lima", "Ana Lima")),
    ({"auth": AUTH}, {"is_logged_in": True, "email": "ana@example.org"},
     ("ana@example.org", "ana@example.org")),
    ({"auth": AUTH}, {"is_logged_in": False}, (None, "Typed name")),
])
def test_the_signed_in_name_is_the_author(secrets, user, expected):
    at = AppTest.from_function(_author_script)
    for key, value in secrets.items():
        at.secrets[key] = value
    at.user = user
    at.run()
    assert at.text[0].value == repr(expected)


def test_the_signed_in_name_is_who_saves_a_map_version():
    """With sign-in on, a map edit is saved under the signed-in name, not a typed one."""
    from cxdata.store import map_store as ms
    from cxdata.store.workspace import Workspace
    at = run_page("journey_map", secrets={"auth": AUTH},
                  user={"is_logged_in": True, "name": "Ada Lovelace", "email": "ada@example.org"})
    at.session_state["jm_author"] = "Someone typed this"
    draft = at.session_state["jm_draft"]
    key = f"jm_grid_{at.session_state['jm_nonce']}"
    at.session_state[key] = {"edited_rows": {0: {draft.stages[0].id: "Find a gift fast"}},
                             "added_rows": [], "deleted_rows": []}
    at.run()
    assert not at.exception, at.exception
    cur = Workspace().cursor()
    map_id = at.session_state["jm_map_id"]
    newest = ms.load_map(cur, map_id)
    assert newest.info.author == "Ada Lovelace"
