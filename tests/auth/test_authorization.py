"""CASES.md section B (prefixes, models, cascade, permissions, access lists, global id)."""

from __future__ import annotations

import dataclasses

import pytest

from veneer.sidecar.auth import Forbidden, Unauthorized, normalize_scope_path
from veneer.wrapper.errors import BadRequest, ConfigError
from veneer.wrapper.settings import AccessList, PrefixSpec

from .conftest import DROP, bearer, hs_token, make_auth, models, refused

SPECS = models(("marketing", "churn", True), ("marketing", "ltv", False), ("marketing2", "x", True),
               ("finance", "x", True), ("emea/risk", "score", True))
BY_NAME = {m.qualified_name: m for m in SPECS}


@pytest.fixture(scope="module")
def auth():
    return make_auth(model_specs=SPECS)


def who(auth, **claims):
    return auth.authenticate(bearer(hs_token(**claims)))


def allow(auth, principal, path, permission="predict"):
    prefix, _, model = path.rpartition("/")
    auth.authorize(principal, prefix=prefix, model=model, model_spec=BY_NAME.get(path), permission=permission)


def deny(auth, principal, path, permission="predict", *, model_spec="lookup"):
    prefix, _, model = path.rpartition("/")
    spec = BY_NAME.get(path) if model_spec == "lookup" else model_spec
    with pytest.raises(Forbidden) as info:
        auth.authorize(principal, prefix=prefix, model=model, model_spec=spec, permission=permission)
    assert info.value.status == 403
    assert 'error="insufficient_scope"' in info.value.headers["WWW-Authenticate"]
    return info.value.code


# 29
def test_prefix_scope_matches_whole_segments(auth):
    p = who(auth, scope=["marketing"])
    allow(auth, p, "marketing/churn")
    assert deny(auth, p, "marketing2/x") == "out_of_scope"
    assert deny(auth, p, "finance/x") == "out_of_scope"


def test_parent_prefix_scope_reaches_nested_prefix(auth):
    allow(auth, who(auth, scope=["emea"]), "emea/risk/score")
    assert deny(auth, who(auth, scope=["emea/ri"]), "emea/risk/score") == "out_of_scope"


@pytest.mark.parametrize("prefix, model", [("marketing/..", "x"), ("marketing/../finance", "x"),
                                           ("marketing//finance", "x"), ("marketing%2Ffinance", "x"),
                                           ("marketing", "../finance"), ("marketing", "a/b"),
                                           ("marketing", ".."), ("marketing", "."), ("", "x"),
                                           ("marketing", ""), ("./marketing", "x"), ("marketing\\..", "x")])
def test_path_tricks_cannot_escape_a_prefix(auth, prefix, model):
    with pytest.raises(BadRequest) as info:
        normalize_scope_path(prefix, model)
    assert (info.value.status, info.value.code) == (400, "bad_path")
    if not prefix or not model:
        return  # empty pieces have their own meaning for authorize (see the protocol-shapes test)
    with pytest.raises(BadRequest):
        auth.authorize(who(auth, scope=["marketing"]), prefix=prefix, model=model, model_spec=None,
                       permission="predict")


def test_normalize_scope_path_splits_segments():
    assert normalize_scope_path("emea/risk", "score") == ("emea", "risk", "score")
    assert normalize_scope_path("risk", None) == ("risk",)


def test_scope_claim_with_dot_segments_is_refused(auth):
    assert refused(auth, bearer(hs_token(scope=["marketing/../finance"]))).code == "bad_claim"
    assert refused(auth, bearer(hs_token(scope=["marketing//x"]))).code == "bad_claim"


def test_oauth_space_delimited_scope_is_accepted(auth):
    p = who(auth, scope="finance marketing")
    assert p.scopes == ("finance", "marketing")
    allow(auth, p, "finance/x")


# 30
def test_model_token_does_not_reach_sibling(auth):
    p = who(auth, scope=["marketing/churn"])
    allow(auth, p, "marketing/churn")
    assert deny(auth, p, "marketing/ltv") == "out_of_scope"


# 31
def test_cascade(auth):
    p = who(auth, scope=["marketing"])
    assert deny(auth, p, "marketing/ltv") == "cascade_off"
    allow(auth, who(auth, scope=["marketing/ltv"]), "marketing/ltv")  # a model token always works
    flipped = dataclasses.replace(BY_NAME["marketing/ltv"], cascade_prefix_tokens=True)
    auth.authorize(p, prefix="marketing", model="ltv", model_spec=flipped, permission="predict")
    off = dataclasses.replace(BY_NAME["marketing/churn"], cascade_prefix_tokens=False)
    assert deny(auth, p, "marketing/churn", model_spec=off) == "cascade_off"


# 32 (the version is resolved after authorize; an unknown model only answers 404 to whole-prefix tokens)
def test_unknown_model_leaks_nothing_to_unauthorised_callers(auth):
    assert deny(auth, who(auth, scope=["finance"]), "marketing/nosuch") == "out_of_scope"
    assert deny(auth, who(auth, scope=["marketing/churn"]), "marketing/nosuch") == "out_of_scope"
    assert deny(auth, who(auth, scope=["marketing/nosuch"]), "marketing/nosuch") == "out_of_scope"
    # a whole-prefix token passes; the caller then answers 404 model_not_found
    allow(auth, who(auth, scope=["marketing"]), "marketing/nosuch")


# 33
def test_global_id():
    auth = make_auth(model_specs=SPECS, global_id="G", trusted_global_ids=["G-legacy"])
    allow(auth, who(auth, gid="G"), "marketing/churn")
    allow(auth, who(auth, gid="G-legacy"), "marketing/churn")
    allow(auth, who(auth), "marketing/churn")  # no gid: a local token
    assert deny(auth, who(auth, gid="H"), "marketing/churn") == "untrusted_global_id"
    assert deny(auth, who(auth, gid="G", scope=["marketing"]), "finance/x") == "out_of_scope"  # never widens
    strict = make_auth(model_specs=SPECS, global_id="G", require_global_id=True)
    assert deny(strict, who(strict), "marketing/churn") == "global_id_required"
    allow(strict, who(strict, gid="G"), "marketing/churn")


def test_global_token_from_an_untrusted_key_is_401():
    auth = make_auth(model_specs=SPECS, global_id="G")
    token = hs_token(secret="region-b-secret-that-region-a-does-not-know", gid="G")
    assert refused(auth, bearer(token)).code == "bad_signature"


# 34 (config side in test_config.py)
def test_extra_claims_pass_through_but_cannot_replace_reserved(auth):
    p = who(auth, team="fraud", tier={"level": 2})
    assert (p.claims["team"], p.claims["tier"]) == ("fraud", {"level": 2})
    assert p.sub == "alice"


# 36
def test_permissions(auth):
    predict, manage = who(auth, perm=["predict"]), who(auth, perm=["manage"])
    assert deny(auth, predict, "marketing/churn", "manage") == "no_permission"
    assert deny(auth, manage, "marketing/churn", "predict") == "no_permission"
    allow(auth, who(auth, perm=["manage", "predict"]), "marketing/churn", "predict")
    allow(auth, predict, "marketing/churn", "metadata")  # predict implies metadata
    allow(auth, manage, "marketing/churn", "metadata")
    metadata = who(auth, perm=["metadata"])
    assert deny(auth, metadata, "marketing/churn", "predict") == "no_permission"
    assert deny(auth, who(auth, perm=DROP), "marketing/churn", "predict") == "no_permission"
    assert deny(auth, who(auth, perm=["root", "*"]), "marketing/churn", "predict") == "no_permission"
    assert deny(auth, predict, "marketing/churn", "pin") == "no_permission"
    allow(auth, manage, "marketing/churn", "pin")


# 37
def test_access_lists():
    access = {"marketing/churn": AccessList(users=("bob",))}
    specs = models(("marketing", "churn", True), ("marketing", "ltv", True), access=access)
    auth = make_auth(model_specs=specs,
                     prefixes={"marketing": PrefixSpec(name="marketing", access=AccessList(groups=("mkt",)))})
    by = {m.qualified_name: m for m in specs}

    def check(principal, model):
        auth.authorize(principal, prefix="marketing", model=model, model_spec=by[f"marketing/{model}"],
                       permission="predict")

    check(who(auth, groups=["mkt"]), "ltv")
    with pytest.raises(Forbidden) as info:
        check(who(auth, groups=["sales"]), "ltv")
    assert info.value.code == "not_in_access_list"
    with pytest.raises(Forbidden) as info:
        check(who(auth, groups=["mkt"]), "churn")  # in the prefix group, but the model lists only bob
    assert info.value.code == "not_in_access_list"
    check(who(auth, sub="bob", groups=["mkt"]), "churn")


def test_custom_code_is_its_own_permission(auth):
    manage = who(auth, perm=["manage"])
    auth.authorize_deploy(manage, prefix="marketing", model="churn", model_spec=BY_NAME["marketing/churn"],
                          custom_code=False)
    with pytest.raises(Forbidden) as info:
        auth.authorize_deploy(manage, prefix="marketing", model="churn",
                              model_spec=BY_NAME["marketing/churn"], custom_code=True)
    assert info.value.code == "no_permission"
    auth.authorize_deploy(who(auth, perm=["manage", "custom_code"]), prefix="marketing", model="churn",
                          model_spec=BY_NAME["marketing/churn"], custom_code=True)
    with pytest.raises(Forbidden):
        auth.authorize_deploy(who(auth, perm=["custom_code"]), prefix="marketing", model="churn",
                              model_spec=BY_NAME["marketing/churn"], custom_code=True)


def test_authorize_without_principal_is_401(auth):
    with pytest.raises(Unauthorized) as info:
        auth.authorize(None, prefix="marketing", model="churn", model_spec=BY_NAME["marketing/churn"],
                       permission="predict")
    assert info.value.code == "missing"


def test_public_routes():
    auth = make_auth(model_specs=SPECS, public_metrics=False,
                     prefixes={"marketing": PrefixSpec(name="marketing", docs_public=True)})
    assert auth.is_public("health") and not auth.is_public("metrics")
    assert auth.is_public("docs:marketing") and not auth.is_public("docs:finance")
    assert not auth.is_public("predict")


def test_ambiguous_model_and_prefix_paths_are_refused():
    specs = models(("emea", "risk", True), ("emea/risk", "score", True))
    with pytest.raises(ConfigError, match="ambiguous"):
        make_auth(model_specs=specs)


def test_protocol_shapes_of_unknown_and_prefix_level_routes(auth):
    p = who(auth, scope=["marketing"], perm=["predict"])
    # a bare OIP/V1 name that matched nothing arrives with prefix "": 403, never 404 or 400
    with pytest.raises(Forbidden) as info:
        auth.authorize(p, prefix="", model="nosuch", model_spec=None, permission="predict")
    assert info.value.code == "out_of_scope"
    # a prefix-level route may pass model "" or None
    auth.authorize(p, prefix="marketing", model="", model_spec=None, permission="metadata")
    auth.authorize(p, prefix="marketing", model=None, model_spec=None, permission="metadata")
    with pytest.raises(Forbidden):
        auth.authorize(who(auth, scope=["marketing/churn"]), prefix="marketing", model="", model_spec=None,
                       permission="metadata")
