// Stripe-Signature headers from the official node package (`stripe`):
//   node stripe.mjs SECRET UNIX_TS < payload   prints the header value
//   node stripe.mjs --verify SECRET HEADER < payload   exits 0 when the package accepts it
import Stripe from "stripe";

const stripe = new Stripe("sk_test_interop");
const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const payload = Buffer.concat(chunks).toString("utf8");

if (process.argv[2] === "--verify") {
  const [secret, header] = process.argv.slice(3);
  try {
    stripe.webhooks.constructEvent(payload, header, secret, 300);
    console.log("ok");
  } catch (e) {
    console.log(`${e.type}: ${e.message}`);
    process.exit(1);
  }
} else {
  const [secret, timestamp] = process.argv.slice(2);
  console.log(
    stripe.webhooks.generateTestHeaderString({ payload, secret, timestamp: Number(timestamp) }),
  );
}
