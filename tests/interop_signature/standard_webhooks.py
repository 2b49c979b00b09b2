"""Standard Webhooks through the reference Python package (pip `standardwebhooks`).

  sign SECRET MSG_ID UNIX_TS   < body   prints the webhook-signature value
  verify SECRET                < JSON   {"headers": {...}, "body": "..."}; prints "ok" or the error,
                                        exits 0 when verified, 1 when not
"""
import json
import sys
from datetime import datetime, timezone

from standardwebhooks.webhooks import Webhook


def main() -> int:
    cmd = sys.argv[1]
    if cmd == "sign":
        secret, msg_id, ts = sys.argv[2], sys.argv[3], int(sys.argv[4])
        body = sys.stdin.buffer.read().decode("utf-8")
        print(Webhook(secret).sign(msg_id, datetime.fromtimestamp(ts, tz=timezone.utc), body))
        return 0
    if cmd == "verify":
        secret = sys.argv[2]
        doc = json.load(sys.stdin)
        try:
            Webhook(secret).verify(doc["body"], doc["headers"])
        except Exception as e:  # noqa: BLE001 - the test shows why
            print(f"{type(e).__name__}: {e}")
            return 1
        print("ok")
        return 0
    raise SystemExit(f"unknown command {cmd}")


if __name__ == "__main__":
    sys.exit(main())
