"""Optional sign-in with Streamlit's OpenID Connect support (``st.login``).

Sign-in is on when the app's secrets have an ``[auth]`` section (``.streamlit/secrets.toml``,
see docs/deploy.md); then every page needs a signed-in user and the signed-in name is who
saved each journey-map version.  Without ``[auth]`` the app is open, as on a laptop.

``app.py`` calls :func:`require_login` before it runs a page.  Pages that record who did
something call :func:`author_name` (or :func:`current_user_name`).
"""
from __future__ import annotations

from collections.abc import Mapping

import streamlit as st

from cxdata.formatting import display_text

#: Keys of an ``[auth]`` section (or of one provider's sub-section) that name a provider.
_PROVIDER_KEYS = ("client_id", "server_metadata_url")


def _auth_section() -> Mapping | None:
    try:
        if "auth" not in st.secrets:
            return None
        section = st.secrets["auth"]
    except Exception:       # no secrets file at all, or one that cannot be read
        return None
    return section if isinstance(section, Mapping) else None


def login_enabled() -> bool:
    """True when the secrets configure sign-in (an ``[auth]`` section)."""
    return _auth_section() is not None


def providers() -> list[str | None]:
    """The identity providers to offer: None for the one configured directly in
    ``[auth]``, else the name of each ``[auth.NAME]`` sub-section (``st.login(NAME)``)."""
    section = _auth_section() or {}
    named = [name for name, value in section.items()
             if isinstance(value, Mapping) and any(key in value for key in _PROVIDER_KEYS)]
    if any(key in section for key in _PROVIDER_KEYS) or not named:
        return [None] + named
    return named


def is_logged_in() -> bool:
    try:
        return bool(st.user.get("is_logged_in", False))
    except Exception:
        return False


def is_allowed() -> bool:
    """True when the pages may be shown: sign-in is off, or someone is signed in."""
    return not login_enabled() or is_logged_in()


def current_user_name() -> str | None:
    """The signed-in person's name (else their e-mail address, else their subject id), as
    plain text without control characters; None when sign-in is off or nobody is signed in."""
    if not login_enabled() or not is_logged_in():
        return None
    for claim in ("name", "preferred_username", "email", "sub"):
        value = st.user.get(claim)
        if value and str(value).strip():
            return " ".join(display_text(value).split())[:80] or None
    return None


def author_name(typed: str | None = None) -> str | None:
    """Who is saving: the signed-in name when sign-in is on, else the name typed in
    (``typed``; None when empty)."""
    signed_in = current_user_name()
    if signed_in:
        return signed_in
    clean = " ".join(display_text(typed or "").split())
    return clean or None


def _provider_label(provider: str | None) -> str:
    return "Sign in" if provider is None else f"Sign in with {provider.replace('_', ' ').title()}"


def require_login() -> None:
    """When sign-in is on and nobody is signed in: draw the sign-in screen and stop the
    run (no page, no data).  When someone is signed in: their name and a sign-out button in
    the sidebar.  When sign-in is off: nothing."""
    if not login_enabled():
        return
    if is_logged_in():
        with st.sidebar:
            # st.text: a name is shown as typed, never as Markdown.
            st.text(f"Signed in as {current_user_name() or 'you'}")
            if st.button("Sign out", key="cx_sign_out", icon=":material/logout:"):
                st.logout()
        return
    st.title("CX Journey Lab")
    st.text("Sign in to see this team's journeys, datasets and maps.")
    for provider in providers():
        if st.button(_provider_label(provider), type="primary", key=f"cx_sign_in_{provider or 'default'}",
                     icon=":material/login:"):
            if provider:
                st.login(provider)
            else:
                st.login()
    st.stop()
