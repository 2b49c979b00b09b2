// Mints one JWT with node's jsonwebtoken, for tower-shield's JWT interop tests.
//
//   echo '{"alg":"RS256","kid":"rsa-1","privateKeyPem":"-----BEGIN PRIVATE KEY-----...","claims":{...}}' \
//     | node tests/interop/mint.mjs
//
// stdin: one JSON object
//   alg            "RS256" | "ES256" | "EdDSA"
//   kid            put in the JWT header
//   privateKeyPem  PKCS#8 PEM (idp.py's GET /private?kid=... gives one)
//   claims         the payload, as given; "iat" is added (now) when absent
//   header         optional object merged into the JWT header (e.g. {"jku": "..."}),
//                  not alg or kid
// stdout: the compact JWT and "\n". On any error: a message on stderr, exit code 1.
//
// jsonwebtoken 9 cannot sign EdDSA (its algorithm list stops at RS/PS/ES/HS),
// so EdDSA tokens are signed with jose instead; RS256 and ES256 use jsonwebtoken.

import jsonwebtoken from "jsonwebtoken";
import { SignJWT, importPKCS8 } from "jose";

const ALGS = ["RS256", "ES256", "EdDSA"];

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return Buffer.concat(chunks).toString("utf8");
}

function isObject(value) {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

async function mint(input) {
  if (!isObject(input)) throw new Error("stdin must be one JSON object");
  const { alg, kid, privateKeyPem, claims, header = {} } = input;
  if (!ALGS.includes(alg)) throw new Error(`alg must be one of ${ALGS.join(", ")}, got ${JSON.stringify(alg)}`);
  if (typeof kid !== "string" || kid === "") throw new Error("kid must be a non-empty string");
  if (typeof privateKeyPem !== "string") throw new Error("privateKeyPem must be a PEM string");
  if (!isObject(claims)) throw new Error("claims must be a JSON object");
  if (!isObject(header)) throw new Error("header must be a JSON object");
  if ("alg" in header || "kid" in header) throw new Error("header must not set alg or kid; use the top-level fields");

  if (alg === "EdDSA") {
    const key = await importPKCS8(privateKeyPem, "EdDSA");
    const payload = { ...claims };
    if (payload.iat === undefined) payload.iat = Math.floor(Date.now() / 1000);
    return new SignJWT(payload)
      .setProtectedHeader({ typ: "JWT", ...header, alg, kid })
      .sign(key);
  }
  return jsonwebtoken.sign(claims, privateKeyPem, { algorithm: alg, keyid: kid, header });
}

try {
  const input = JSON.parse(await readStdin());
  const token = await mint(input);
  process.stdout.write(token + "\n");
} catch (err) {
  process.stderr.write(`mint.mjs: ${err && err.message ? err.message : err}\n`);
  process.exit(1);
}
