from tests.helpers import bearer, login

def show(label, r):
    print("\n==", label, r.status_code, r.headers.get("Content-Type"), r.get_data(as_text=True)[:400])

def test_probe(app, client, acme, globex, worker, smtp_server):
    A = acme.admin
    m = client.post("/v1/messages", json={"to": ["a@example.com"], "subject": "s", "text": "t"}, headers=A).get_json()["id"]
    show("retry text body", client.post(f"/v1/messages/{m}/retry", data="x", content_type="text/plain", headers=A))
    show("retry json body", client.post(f"/v1/messages/{m}/retry", json={"x": 1}, headers=A))
    t = login(client, "acme", acme.admin_email)
    show("logout text body", client.post("/v1/auth/logout", data="x", content_type="text/plain", headers=bearer(t)))
    t = login(client, "acme", acme.admin_email)
    show("logout unknown field", client.post("/v1/auth/logout", json={"foo": 1}, headers=bearer(t)))
    show("delete with body", client.delete("/v1/templates/nope", data="x", content_type="text/plain", headers=A))
    show("HEAD", client.head("/v1/messages", headers=A))
    show("OPTIONS", client.options("/v1/messages", headers=A))
    show("bad auth bytes", client.get("/v1/messages", headers={"Authorization": "Bearer \xff\xfe"}))
    show("bearer lowercase", client.get("/v1/messages", headers={"Authorization": A["Authorization"].replace("Bearer", "bearer")}))
    show("per_page str", client.get("/v1/messages?per_page=abc", headers=A))
    show("page huge", client.get("/v1/messages?page=99999999999999999999", headers=A))
    show("recipients 101", client.get(f"/v1/messages/{m}/recipients?per_page=101", headers=A))
    show("stats user", client.get("/v1/stats", headers=acme.user))
    show("bc tmpl data", client.post("/v1/broadcasts", json={"template": "broadcast", "data": {"subject": "Hello {{x}}", "body": "<b>b</b>"}, "audience": {"roles": ["user"]}}, headers=A))
    show("preview bc", client.post("/v1/templates/broadcast/preview", json={"data": {"subject": "S", "body": "B"}}, headers=A))
    show("tmpl list user", client.get("/v1/templates", headers=acme.user))
    show("tmpl preview user", client.post("/v1/templates/broadcast/preview", json={"data": {}}, headers=acme.user))
    show("msg with user template", client.post("/v1/messages", json={"to": ["a@example.com"], "template": "verification", "data": {}}, headers=acme.user))
    worker()
    for x in smtp_server.messages:
        print("MAIL", x.rcpt_tos, x.message["Subject"], x.message["From"])
