"""RFC 9421 through a third-party implementation (pip `http-message-signatures`), with the
RFC 9421 Appendix B.1 test keys of ./rfc9421/ (HMAC `test-shared-secret`, Ed25519
`test-key-ed25519`) and the test keys of ../keys/ (ECDSA P-256 `ec-p256`; one RSA key as
`rsa-pss` for rsa-pss-sha512 and as `rsa-v1_5` for rsa-v1_5-sha256). The key id chooses the
algorithm.

  sign   < JSON {"method", "url", "headers", "body", "key_id", "covered", "nonce"?, "tag"?,
                 "created"? (Unix seconds; default now), "alg"? (default true)}
           prints the headers to add, as JSON
  verify < JSON {"method", "url", "headers", "body", "key_id"}
           prints "ok" (exit 0) or the error (exit 1)
"""
import base64
import datetime
import json
import os
import sys

from cryptography.hazmat.primitives.serialization import load_pem_private_key, load_pem_public_key
from http_message_signatures import HTTPMessageSigner, HTTPMessageVerifier, HTTPSignatureKeyResolver
from http_message_signatures.algorithms import (
    ECDSA_P256_SHA256,
    ED25519,
    HMAC_SHA256,
    RSA_PSS_SHA512,
    RSA_V1_5_SHA256,
)

HERE = os.path.dirname(os.path.abspath(__file__))

# key id: (algorithm, private key file, public key file), relative to this directory.
KEYS = {
    "test-shared-secret": (HMAC_SHA256, "rfc9421/test-shared-secret.b64", None),
    "test-key-ed25519": (ED25519, "rfc9421/test-key-ed25519.pem", "rfc9421/test-key-ed25519.pub.pem"),
    "ec-p256": (ECDSA_P256_SHA256, "../keys/ec_private.pem", "../keys/ec_public.pem"),
    "rsa-pss": (RSA_PSS_SHA512, "../keys/sig_rsa_private.pem", "../keys/sig_rsa_public.pem"),
    "rsa-v1_5": (RSA_V1_5_SHA256, "../keys/sig_rsa_private.pem", "../keys/sig_rsa_public.pem"),
}


def read(name):
    with open(os.path.join(HERE, name), "rb") as fh:
        return fh.read()


class Keys(HTTPSignatureKeyResolver):
    def resolve_public_key(self, key_id):
        algorithm, private, public = KEYS[key_id]
        if algorithm is HMAC_SHA256:
            return base64.b64decode(read(private))
        return load_pem_public_key(read(public))

    def resolve_private_key(self, key_id):
        algorithm, private, _ = KEYS[key_id]
        if algorithm is HMAC_SHA256:
            return base64.b64decode(read(private))
        return load_pem_private_key(read(private), password=None)


class Message:
    def __init__(self, doc):
        self.method = doc["method"]
        self.url = doc["url"]
        self.headers = dict(doc["headers"])


def algorithm(key_id):
    return KEYS[key_id][0]


def main():
    cmd = sys.argv[1]
    doc = json.load(sys.stdin)
    message = Message(doc)
    body = doc["body"].encode("utf-8")
    if cmd == "sign":
        signer = HTTPMessageSigner(signature_algorithm=algorithm(doc["key_id"]), key_resolver=Keys())
        created = doc.get("created")
        if created is not None:
            created = datetime.datetime.fromtimestamp(created, tz=datetime.timezone.utc)
        signer.sign(
            message,
            key_id=doc["key_id"],
            covered_component_ids=tuple(doc["covered"]),
            created=created,
            nonce=doc.get("nonce"),
            tag=doc.get("tag"),
            label="sig1",
            include_alg=doc.get("alg", True),
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
