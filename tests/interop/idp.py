#!/usr/bin/env python3
"""A tiny OpenID-style identity provider for tower-shield's JWT/JWKS interop tests.

The keys, the JWK set and the tokens all come from a process that is not Rust
(PyJWT + cryptography), so the authenticator is checked against another
implementation's idea of RS256, ES256 and EdDSA rather than against itself.

    python3 tests/interop/idp.py [--issuer URL]

Binds 127.0.0.1 on a free port, prints one line ``listening http://127.0.0.1:PORT``
and serves until killed or until its stdin reaches EOF (so a test that dies
does not leave it behind: spawn it with a piped stdin and keep the pipe open).

Endpoints (anything else is 404, a known path with the wrong method is 405):

    GET  /.well-known/openid-configuration  {"issuer": ISSUER, "jwks_uri": BASE/jwks.json}
    GET  /jwks.json                         public JWK set, Cache-Control: max-age=300
    GET  /stats                             {"jwks_fetches", "discovery_fetches", "paths"}
    POST /stats/reset                       zero the counters and the path list
    POST /rotate                            fresh key for every family, kids -2, -3, ...
    GET  /mint?alg=RS256|ES256|EdDSA&...    a token signed by the current key (text/plain)
    GET  /private?kid=K                     PKCS#8 PEM of key K (text/plain)
    GET  /public?kid=K                      SubjectPublicKeyInfo PEM of key K (text/plain)
"""

import argparse
import base64
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

DEFAULT_AUDIENCE = "https://api.example.com"
DEFAULT_EXP_IN = 3600

# family prefix -> (JWS alg, key generator)
FAMILIES = {
    "rsa": ("RS256", lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)),
    "ec": ("ES256", lambda: ec.generate_private_key(ec.SECP256R1())),
    "ed": ("EdDSA", ed25519.Ed25519PrivateKey.generate),
}
ALG_TO_FAMILY = {alg: family for family, (alg, _) in FAMILIES.items()}


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_uint(value, length=None):
    if length is None:
        length = max(1, (value.bit_length() + 7) // 8)
    return b64url(value.to_bytes(length, "big"))


def public_jwk(kid, alg, private_key):
    public = private_key.public_key()
    if isinstance(public, rsa.RSAPublicKey):
        numbers = public.public_numbers()
        members = {"kty": "RSA", "n": b64url_uint(numbers.n), "e": b64url_uint(numbers.e)}
    elif isinstance(public, ec.EllipticCurvePublicKey):
        numbers = public.public_numbers()
        members = {
            "kty": "EC",
            "crv": "P-256",
            "x": b64url_uint(numbers.x, 32),
            "y": b64url_uint(numbers.y, 32),
        }
    else:
        raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        members = {"kty": "OKP", "crv": "Ed25519", "x": b64url(raw)}
    return {"kid": kid, "alg": alg, "use": "sig", **members}


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.generation = 0
        self.current = {}  # family -> kid
        self.keys = {}  # kid -> (alg, private key); keeps retired keys for /private, /public
        self.jwks_fetches = 0
        self.discovery_fetches = 0
        self.paths = []
        self.rotate()

    def rotate(self):
        with self.lock:
            self.generation += 1
            for family, (alg, generate) in FAMILIES.items():
                kid = f"{family}-{self.generation}"
                self.keys[kid] = (alg, generate())
                self.current[family] = kid
            return list(self.current.values())

    def jwks(self):
        with self.lock:
            kids = list(self.current.values())
            return {"keys": [public_jwk(kid, *self.keys[kid]) for kid in kids]}

    def current_key(self, alg):
        with self.lock:
            kid = self.current[ALG_TO_FAMILY[alg]]
            return kid, self.keys[kid][1]

    def key(self, kid):
        with self.lock:
            entry = self.keys.get(kid)
            return entry[1] if entry else None


STATE = None
ISSUER = None
BASE = None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "tower-shield-interop-idp"
    sys_version = ""

    def log_message(self, format, *args):
        pass

    def do_GET(self):
        self.dispatch("GET")

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.dispatch("POST")

    def dispatch(self, method):
        url = urlsplit(self.path)
        path = url.path
        if path not in ("/stats", "/stats/reset"):
            with STATE.lock:
                STATE.paths.append(path)
        routes = ROUTES.get(path)
        if routes is None:
            return self.send(404, "text/plain", "not found\n")
        handler = routes.get(method)
        if handler is None:
            return self.send(405, "text/plain", "method not allowed\n", {"Allow": ", ".join(routes)})
        query = parse_qs(url.query, keep_blank_values=True)
        try:
            handler(self, query)
        except BadRequest as e:
            self.send(400, "text/plain", f"{e}\n")
        except Exception as e:
            self.send(500, "text/plain", f"{type(e).__name__}: {e}\n")

    def send(self, status, content_type, body, headers=None):
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def send_json(self, value, headers=None):
        self.send(200, "application/json", json.dumps(value), headers)

    # --- routes ---

    def discovery(self, query):
        with STATE.lock:
            STATE.discovery_fetches += 1
        self.send_json({"issuer": ISSUER, "jwks_uri": BASE + "/jwks.json"})

    def jwks(self, query):
        with STATE.lock:
            STATE.jwks_fetches += 1
        self.send_json(STATE.jwks(), {"Cache-Control": "max-age=300"})

    def stats(self, query):
        with STATE.lock:
            body = {
                "jwks_fetches": STATE.jwks_fetches,
                "discovery_fetches": STATE.discovery_fetches,
                "paths": list(STATE.paths),
            }
        self.send_json(body)

    def stats_reset(self, query):
        with STATE.lock:
            STATE.jwks_fetches = 0
            STATE.discovery_fetches = 0
            STATE.paths = []
        self.send_json({"ok": True})

    def rotate(self, query):
        self.send_json({"kids": STATE.rotate()})

    def mint(self, query):
        alg = one(query, "alg")
        if alg not in ALG_TO_FAMILY:
            raise BadRequest(f"alg must be one of {', '.join(ALG_TO_FAMILY)}")
        kid, key = STATE.current_key(alg)
        now = int(time.time())
        claims = {"iat": now}

        iss = one(query, "iss", ISSUER)
        if iss:
            claims["iss"] = iss
        auds = query.get("aud", [DEFAULT_AUDIENCE])
        auds = [a for a in auds if a]
        if len(auds) == 1:
            claims["aud"] = auds[0]
        elif auds:
            claims["aud"] = auds
        exp_in = one(query, "exp_in", str(DEFAULT_EXP_IN))
        if exp_in:
            try:
                claims["exp"] = now + int(exp_in)
            except ValueError:
                raise BadRequest("exp_in must be an integer number of seconds")
        for name in ("sub", "scope", "tier"):
            value = one(query, name)
            if value:
                claims[name] = value

        headers = {"kid": kid}
        extra = one(query, "extra_header")
        if extra:
            try:
                extra = json.loads(extra)
            except ValueError as e:
                raise BadRequest(f"extra_header is not JSON: {e}")
            if not isinstance(extra, dict):
                raise BadRequest("extra_header must be a JSON object")
            headers.update(extra)

        token = jwt.encode(claims, key, algorithm=alg, headers=headers)
        self.send(200, "text/plain", token)

    def private(self, query):
        key = self.key_for(query)
        if key is None:
            return self.send(404, "text/plain", "unknown kid\n")
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        self.send(200, "text/plain", pem)

    def public(self, query):
        key = self.key_for(query)
        if key is None:
            return self.send(404, "text/plain", "unknown kid\n")
        pem = key.public_key().public_bytes(
            serialization.Encoding.PEM,
            serialization.PublicFormat.SubjectPublicKeyInfo,
        )
        self.send(200, "text/plain", pem)

    def key_for(self, query):
        kid = one(query, "kid")
        if not kid:
            raise BadRequest("kid is required")
        return STATE.key(kid)


class BadRequest(Exception):
    pass


def one(query, name, default=None):
    values = query.get(name)
    return values[-1] if values else default


ROUTES = {
    "/.well-known/openid-configuration": {"GET": Handler.discovery},
    "/jwks.json": {"GET": Handler.jwks},
    "/stats": {"GET": Handler.stats},
    "/stats/reset": {"POST": Handler.stats_reset},
    "/rotate": {"POST": Handler.rotate},
    "/mint": {"GET": Handler.mint},
    "/private": {"GET": Handler.private},
    "/public": {"GET": Handler.public},
}


def exit_on_stdin_eof():
    try:
        while sys.stdin.buffer.read(4096):
            pass
    finally:
        os._exit(0)


def main():
    global STATE, ISSUER, BASE
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--issuer", help="the iss claim and discovery issuer (default: this server's base URL)")
    args = parser.parse_args()

    STATE = State()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    BASE = f"http://127.0.0.1:{server.server_address[1]}"
    ISSUER = args.issuer or BASE

    threading.Thread(target=exit_on_stdin_eof, daemon=True).start()
    print(f"listening {BASE}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
