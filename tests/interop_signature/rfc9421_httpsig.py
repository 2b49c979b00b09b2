"""RFC 9421 through a third-party implementation (pip `http-message-signatures`), with the
RFC 9421 Appendix B.1 test keys of ./rfc9421/ (HMAC `test-shared-secret`, Ed25519
`test-key-ed25519`).

  sign   < JSON {"method", "url", "headers", "body", "key_id", "covered", "nonce"?, "tag"?}
           prints the headers to add, as JSON
  verify < JSON {"method", "url", "headers", "body", "key_id"}
           prints "ok" (exit 0) or the error (exit 1)
"""
import base64
import json
import os
import sys

from cryptography.hazmat.primitives.serialization import load_pem_private_key, load_pem_public_key
from http_message_signatures import HTTPMessageSigner, HTTPMessageVerifier, HTTPSignatureKeyResolver
from http_message_signatures.algorithms import ED25519, HMAC_SHA256

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "rfc9421")


def read(name):
    with open(os.path.join(HERE, name), "rb") as fh:
        return fh.read()


class Keys(HTTPSignatureKeyResolver):
    def resolve_public_key(self, key_id):
        if key_id == "test-shared-secret":
            return base64.b64decode(read("test-shared-secret.b64"))
        if key_id == "test-key-ed25519":
            return load_pem_public_key(read("test-key-ed25519.pub.pem"))
        raise KeyError(key_id)

    def resolve_private_key(self, key_id):
        if key_id == "test-shared-secret":
            return base64.b64decode(read("test-shared-secret.b64"))
        if key_id == "test-key-ed25519":
            return load_pem_private_key(read("test-key-ed25519.pem"), password=None)
        raise KeyError(key_id)


class Message:
    def __init__(self, doc):
        self.method = doc["method"]
        self.url = doc["url"]
        self.headers = dict(doc["headers"])


def algorithm(key_id):
    return HMAC_SHA256 if key_id == "test-shared-secret" else ED25519


def main():
    cmd = sys.argv[1]
    doc = json.load(sys.stdin)
    message = Message(doc)
    body = doc["body"].encode("utf-8")
    if cmd == "sign":
        signer = HTTPMessageSigner(signature_algorithm=algorithm(doc["key_id"]), key_resolver=Keys())
        signer.sign(
            message,
            key_id=doc["key_id"],
            covered_component_ids=tuple(doc["covered"]),
            nonce=doc.get("nonce"),
            tag=doc.get("tag"),
            label="sig1",
            include_alg=True,
            body=body,
        )
        print(json.dumps(message.headers))
        return 0
    if cmd == "verify":
        verifier = HTTPMessageVerifier(signature_algorithm=algorithm(doc["key_id"]), key_resolver=Keys())
        try:
            verifier.verify(message, body=body)
        except Exception as e:  # noqa: BLE001 - the test shows why
            print(f"{type(e).__name__}: {e}")
            return 1
        print("ok")
        return 0
    raise SystemExit(f"unknown command {cmd}")


if __name__ == "__main__":
    sys.exit(main())
