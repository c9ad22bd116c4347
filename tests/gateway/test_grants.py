"""Nobody hands out more than they hold: keys, new users and role changes stay within the
granting principal's own scopes.

Every combination of held and wanted scopes is put to :func:`check_grant`, the one
decision every grant goes through. Over HTTP, each endpoint is held to it where
an answer changes: keys holding each scope alone, and lacking each one alone, ask
for exactly what they hold and for each scope more, and each role's scopes, one at
a time taken away, decide who may create and change which users.
"""

from __future__ import annotations

import itertools
import uuid

import pytest

from gateway.auth.errors import GrantBeyondOwnScopes
from gateway.auth.roles import ROLE_SCOPES, ROLES, SCOPES
from gateway.auth.service import check_grant
from shared.auth import Principal

API_KEYS = "/api/v1/auth/api-keys"
USERS = "/api/v1/auth/users"
MANAGE = "users:manage"
OTHER_SCOPES = [scope for scope in SCOPES if scope != MANAGE]


def _subsets(items: list[str]) -> list[tuple[str, ...]]:
    return [
        combination
        for size in range(len(items) + 1)
        for combination in itertools.combinations(items, size)
    ]


#: Scope sets of keys able to call the admin endpoints at all, where each scope's answer
#: flips: ``users:manage`` alone, all of them, each scope held alone and each one missing
#: alone. Every other set is decided by the same :func:`check_grant`, put above to every
#: combination.
HOLDER_SCOPES = sorted(
    {
        frozenset({MANAGE}),
        frozenset(SCOPES),
        *(frozenset({MANAGE, scope}) for scope in OTHER_SCOPES),
        *(frozenset(SCOPES) - {scope} for scope in OTHER_SCOPES),
    },
    key=sorted,
)
#: Per role, a key holding the role's scopes (and ``users:manage``), then the same key
#: short of each of them in turn: where creating or changing users of a role flips.
ROLE_EDGES = sorted(
    {
        frozenset({MANAGE, *ROLE_SCOPES[role]}) - frozenset(dropped)
        for role in ROLES
        for dropped in [(), *((scope,) for scope in ROLE_SCOPES[role] if scope != MANAGE)]
    },
    key=sorted,
)


def _ids(held: frozenset[str]) -> str:
    return "+".join(sorted(held))


def _principal(scopes: frozenset[str]) -> Principal:
    return Principal(subject="key", name="key", role="api_key", scopes=scopes, kind="api_key")


def test_a_grant_is_refused_exactly_when_it_holds_a_scope_the_granter_lacks() -> None:
    everything = _subsets(list(SCOPES))
    for held, wanted in itertools.product(everything, everything):
        missing = set(wanted) - set(held)
        if missing:
            with pytest.raises(GrantBeyondOwnScopes) as refused:
                check_grant(_principal(frozenset(held)), wanted)
            assert all(scope in str(refused.value) for scope in missing), (held, wanted)
        else:
            check_grant(_principal(frozenset(held)), wanted)
    check_grant(None, SCOPES)  # the operator (CLI) grants anything


@pytest.fixture
def key_holding(auth):
    """Factory: ``X-API-Key`` headers for a fresh key with exactly ``scopes``."""

    def make(scopes: frozenset[str]) -> dict[str, str]:
        created = auth.api_keys.create(f"holder-{uuid.uuid4().hex[:6]}", scopes)
        return {"X-API-Key": created.key}

    return make


@pytest.mark.parametrize("held", HOLDER_SCOPES, ids=_ids)
def test_a_key_may_create_keys_only_within_its_own_scopes(client, key_holding, held):
    headers = key_holding(held)

    def create(wanted: set[str]):
        return client.post(
            API_KEYS, json={"name": "child", "scopes": sorted(wanted)}, headers=headers
        )

    for wanted in (set(held), {MANAGE}, set(held) - {MANAGE} or {MANAGE}):
        response = create(wanted)
        assert response.status_code == 201, (wanted, response.get_json())
        assert set(response.get_json()["scopes"]) == wanted
    for scope in set(SCOPES) - held:
        for wanted in ({scope}, {*held, scope}):
            response = create(wanted)
            assert response.status_code == 403, (wanted, response.get_json())
            body = response.get_json()
            assert body["type"].endswith("grant-beyond-own-scopes")
            assert scope in body["detail"]


@pytest.mark.parametrize("held", ROLE_EDGES, ids=_ids)
def test_a_key_may_create_users_only_in_roles_within_its_scopes(client, key_holding, held):
    headers = key_holding(held)
    for role in ROLES:
        response = client.post(
            USERS,
            json={
                "username": f"{role}-{uuid.uuid4().hex[:6]}",
                "password": "a-long-enough-password",
                "role": role,
            },
            headers=headers,
        )
        expected = 201 if set(ROLE_SCOPES[role]) <= held else 403
        assert response.status_code == expected, (role, response.get_json())


@pytest.mark.parametrize("held", ROLE_EDGES, ids=_ids)
def test_a_key_may_manage_only_users_no_more_powerful_than_itself(
    client, key_holding, make_user, held
):
    headers = key_holding(held)
    for current, new in itertools.product(ROLES, ROLES):
        user = make_user(current)
        changes = (
            {"role": new},
            {"password": "another-long-password"},
            {"disabled": True},
        )
        for change in changes:
            needed = set(ROLE_SCOPES[current])
            if "role" in change:
                needed |= set(ROLE_SCOPES[new])
            response = client.patch(f"{USERS}/{user.id}", json=change, headers=headers)
            if needed <= held:
                assert response.status_code in (200, 409), (current, change, response.get_json())
            else:
                assert response.status_code == 403, (current, change, response.get_json())


def test_an_admin_holds_every_scope_and_may_grant_them_all(client, auth_headers):
    response = client.post(
        API_KEYS, json={"name": "all", "scopes": list(SCOPES)}, headers=auth_headers("admin")
    )
    assert response.status_code == 201
    assert set(response.get_json()["scopes"]) == set(SCOPES)
