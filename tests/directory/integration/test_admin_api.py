"""The admin REST API against a real directory process (SQLite and PostgreSQL)."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.directory.conftest import Directory


def new_domain(client: httpx.Client, **extra: object) -> str:
    name = f"d{uuid.uuid4().hex[:10]}.test"
    reply = client.post("/domains", json={"name": name, **extra})
    assert reply.status_code == 201, reply.text
    return name


def test_domain_lifecycle_with_aliases(directory: Directory) -> None:
    with directory.client() as c:
        name = new_domain(c, aliases=[f"alias-{uuid.uuid4().hex[:6]}.test"])
        shown = c.get(f"/domains/{name.upper()}").json()
        assert shown["name"] == name and len(shown["aliases"]) == 1
        assert name in [d["name"] for d in c.get("/domains").json()]
        extra = f"more-{uuid.uuid4().hex[:6]}.test"
        assert c.post(f"/domains/{name}/aliases", json={"name": extra}).status_code == 201
        assert c.post("/domains", json={"name": extra}).status_code == 409
        assert c.delete(f"/domains/{name}/aliases/{extra}").status_code == 204
        assert c.patch(f"/domains/{name}", json={"settings": {"max_message_size": 1000}}).json()["settings"] == {
            "max_message_size": 1000
        }
        assert c.delete(f"/domains/{name}").status_code == 204
        assert c.get(f"/domains/{name}").status_code == 404


def test_idn_domains_are_stored_in_unicode_and_found_by_ace(directory: Directory) -> None:
    with directory.client() as c:
        tag = uuid.uuid4().hex[:6]
        reply = c.post("/domains", json={"name": f"Bücher-{tag}.Example"})
        assert reply.status_code == 201, reply.text
        assert reply.json()["name"] == f"bücher-{tag}.example"
        import idna

        ace = idna.encode(f"bücher-{tag}.example").decode()
        assert c.get(f"/domains/{ace}").json()["name"] == f"bücher-{tag}.example"
        account = c.post("/accounts", json={"address": f"Jörg@{ace}", "password": "pw"})
        assert account.json()["address"] == f"jörg@bücher-{tag}.example"


def test_account_crud_password_and_settings(directory: Directory) -> None:
    with directory.client() as c:
        domain = new_domain(c)
        created = c.post(
            "/accounts",
            json={"address": f"Alice@{domain}", "password": "s3cret", "real_name": "Alice", "quota_bytes": 1000},
        )
        assert created.status_code == 201, created.text
        body = created.json()
        assert body["address"] == f"alice@{domain}" and body["quota_bytes"] == 1000
        assert "password" not in created.text and "hash" not in created.text
        assert body["created_at"].endswith(("Z", "+00:00"))
        assert [a["address"] for a in c.get("/accounts", params={"domain": domain}).json()] == [f"alice@{domain}"]
        changed = c.patch(f"/accounts/alice@{domain}", json={"real_name": "Alice A.", "quota_bytes": None})
        assert changed.json()["real_name"] == "Alice A." and changed.json()["quota_bytes"] is None
        assert c.put(f"/accounts/alice@{domain}/password", json={"password": "new"}).status_code == 204
        assert c.patch(f"/accounts/alice@{domain}/settings", json={"sent_copy": True, "lang": "fr"}).json() == {
            "sent_copy": True,
            "lang": "fr",
        }
        assert c.patch(f"/accounts/alice@{domain}/settings", json={"lang": None}).json() == {"sent_copy": True}
        assert c.put(f"/accounts/alice@{domain}/settings", json={"x": [1, 2]}).json() == {"x": [1, 2]}
        assert c.get(f"/accounts/ALICE@{domain}/settings").json() == {"x": [1, 2]}
        assert c.delete(f"/accounts/alice@{domain}").status_code == 204
        assert c.get(f"/accounts/alice@{domain}").status_code == 404


def test_one_name_means_one_thing(directory: Directory) -> None:
    with directory.client() as c:
        domain = new_domain(c)
        assert c.post("/accounts", json={"address": f"x@{domain}"}).status_code == 201
        for path, body in (
            ("/accounts", {"address": f"X@{domain}"}),
            ("/aliases", {"address": f"x@{domain}", "target": f"x@{domain}"}),
            ("/forwarders", {"address": f"x@{domain}", "targets": ["a@b.test"]}),
            ("/groups", {"address": f"x@{domain}"}),
        ):
            reply = c.post(path, json=body)
            assert reply.status_code == 409, (path, reply.text)
            assert "already exists" in reply.json()["detail"]


def test_aliases_forwarders_groups(directory: Directory) -> None:
    with directory.client() as c:
        domain = new_domain(c)
        c.post("/accounts", json={"address": f"alice@{domain}"})
        alias = c.post("/aliases", json={"address": f"ali@{domain}", "target": f"alice@{domain}"})
        assert alias.status_code == 201 and alias.json()["target"] == f"alice@{domain}"
        assert c.post("/aliases", json={"address": f"r@{domain}", "target": "x@remote.test"}).status_code == 400
        c.post("/accounts", json={"address": f"alice2@{domain}"})
        assert (
            c.put(f"/aliases/ali@{domain}", json={"target": f"alice2@{domain}"}).json()["target"] == f"alice2@{domain}"
        )
        assert c.put(f"/aliases/ali@{domain}", json={"target": f"ali@{domain}"}).status_code == 400
        assert c.put(f"/aliases/ali@{domain}", json={"target": f"alice@{domain}"}).status_code == 200
        fwd = c.post(
            "/forwarders", json={"address": f"out@{domain}", "targets": ["Bob@Remote.test", "bob@remote.test"]}
        )
        assert fwd.json()["targets"] == ["bob@remote.test"]
        assert c.put(f"/forwarders/out@{domain}", json={"targets": ["c@remote.test"]}).json()["targets"] == [
            "c@remote.test"
        ]
        group = c.post(
            "/groups", json={"address": f"team@{domain}", "members": [f"alice@{domain}"], "real_name": "Team"}
        )
        assert group.status_code == 201
        assert c.post(f"/groups/team@{domain}/members", json={"address": "ext@remote.test"}).json()["members"] == [
            f"alice@{domain}",
            "ext@remote.test",
        ]
        assert c.post(f"/groups/team@{domain}/members", json={"address": "ext@remote.test"}).status_code == 409
        assert c.post(f"/groups/team@{domain}/members", json={"address": f"team@{domain}"}).status_code == 400
        assert c.delete(f"/groups/team@{domain}/members/ext@remote.test").json()["members"] == [f"alice@{domain}"]
        assert len(c.get("/aliases", params={"domain": domain}).json()) == 1
        assert len(c.get("/forwarders", params={"domain": domain}).json()) == 1
        assert len(c.get("/groups", params={"domain": domain}).json()) == 1
        resolved = c.get(f"/resolve/ali@{domain}").json()
        assert resolved["status"] == "local" and resolved["accounts"] == [f"alice@{domain}"]
        for path in (f"/aliases/ali@{domain}", f"/forwarders/out@{domain}", f"/groups/team@{domain}"):
            assert c.delete(path).status_code == 204
            assert c.get(path).status_code == 404


def test_domain_delete_refuses_while_populated_unless_forced(directory: Directory) -> None:
    with directory.client() as c:
        domain = new_domain(c)
        c.post("/accounts", json={"address": f"a@{domain}"})
        assert c.delete(f"/domains/{domain}").status_code == 409
        assert c.delete(f"/domains/{domain}", params={"force": "true"}).status_code == 204
        assert c.get(f"/accounts/a@{domain}").status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("post", "/domains", {"name": "x"}, 400),
        ("post", "/domains", {"name": "a" * 400 + ".test"}, 422),
        ("post", "/domains", {"name": "bad domain.test"}, 400),
        ("post", "/domains", {"nam": "typo.test"}, 422),
        ("post", "/accounts", {"address": "nobody@unknown-domain.test"}, 404),
        ("post", "/accounts", {"address": "not-an-address"}, 400),
        ("post", "/accounts", {"address": "a..b@example.test"}, 400),
        ("post", "/accounts", {"address": "x@y.test", "real_name": "n" * 1000}, 422),
        ("post", "/accounts", {"address": "x@y.test", "quota_bytes": -1}, 422),
        ("get", "/accounts/nobody@unknown-domain.test", None, 404),
        ("get", "/domains/unknown-domain.test", None, 404),
        ("get", "/accounts?limit=0", None, 422),
        ("delete", "/admins/nobody", None, 404),
        ("post", "/admins", {"name": "bad name", "password": "x"}, 422),
    ],
)
def test_bad_input_gets_a_clear_4xx(directory: Directory, method: str, path: str, body: object, status: int) -> None:
    with directory.client() as c:
        reply = c.request(method, path, json=body)
        assert reply.status_code == status, reply.text
        assert reply.json()["detail"]


def test_junk_bodies_are_refused_without_500(directory: Directory) -> None:
    with directory.client() as c:
        for content, headers in (
            (b"\x00\xff{not json", {"content-type": "application/json"}),
            (b"[]", {"content-type": "application/json"}),
            (b"x" * (2 * 1024 * 1024), {"content-type": "application/json"}),
        ):
            reply = c.post("/domains", content=content, headers=headers)
            assert 400 <= reply.status_code < 500, reply.text


def test_wrong_or_missing_credentials(directory: Directory) -> None:
    with httpx.Client(base_url=f"{directory.admin_url}/api/v1") as anonymous:
        reply = anonymous.get("/domains")
        assert reply.status_code == 401 and reply.headers["www-authenticate"].startswith("Basic")
    with directory.client(password="wrong") as c:
        assert c.get("/domains").status_code == 401
    with directory.client(user="nobody@nowhere.test", password="x") as c:
        assert c.get("/domains").status_code == 401


def test_domain_admin_is_limited_to_its_domain(directory: Directory) -> None:
    with directory.client() as c:
        own, other = new_domain(c), new_domain(c)
        c.post("/accounts", json={"address": f"boss@{own}", "password": "bosspw", "domain_admin": True})
        c.post("/accounts", json={"address": f"someone@{other}"})
    with directory.client(user=f"boss@{own}", password="bosspw") as boss:
        assert boss.get("/whoami").json() == {"name": f"boss@{own}", "role": "domain", "domain": own}
        assert boss.post("/accounts", json={"address": f"new@{own}", "password": "pw"}).status_code == 201
        assert [d["name"] for d in boss.get("/domains").json()] == [own]
        assert {a["domain"] for a in boss.get("/accounts").json()} == {own}
        assert boss.get(f"/accounts/someone@{other}").status_code == 403
        assert boss.post("/accounts", json={"address": f"x@{other}"}).status_code == 403
        assert boss.get("/accounts", params={"domain": other}).status_code == 403
        assert boss.post("/domains", json={"name": f"z{uuid.uuid4().hex[:6]}.test"}).status_code == 403
        assert boss.delete(f"/domains/{own}").status_code == 403
        assert boss.get("/admins").status_code == 403


def test_server_admins(directory: Directory) -> None:
    with directory.client() as c:
        name = f"ops{uuid.uuid4().hex[:6]}"
        assert c.post("/admins", json={"name": name, "password": "opspw"}).status_code == 201
        assert c.post("/admins", json={"name": name, "password": "opspw"}).status_code == 409
    with directory.client(user=name, password="opspw") as ops:
        assert ops.get("/whoami").json()["role"] == "server"
        assert ops.put(f"/admins/{name}/password", json={"password": "changed"}).status_code == 204
    with directory.client(user=name, password="changed") as ops:
        assert ops.delete(f"/admins/{name}").status_code == 204
    with directory.client(user=name, password="changed") as ops:
        assert ops.get("/whoami").status_code == 401


def test_openapi_is_published(directory: Directory) -> None:
    spec = httpx.get(f"{directory.admin_url}/openapi.json").json()
    assert "/api/v1/accounts" in spec["paths"]
    assert httpx.get(f"{directory.admin_url}/docs").status_code == 200
