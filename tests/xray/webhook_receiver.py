#!/usr/bin/python3
"""A staff-notification receiver for the integration tests: binds
127.0.0.1:PORT, appends one JSON line per POST to LOG
({"path", "auth", "idempotency_key", "body"}) and answers 200."""
import http.server
import json
import sys

PORT, LOG = int(sys.argv[1]), sys.argv[2]


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(n)
        rec = {
            "path": self.path,
            "auth": self.headers.get("Authorization"),
            "idempotency_key": self.headers.get("Idempotency-Key"),
            "content_type": self.headers.get("Content-Type"),
            "body": json.loads(raw),
        }
        with open(LOG, "a", encoding="utf-8") as f:
            f.write(json.dumps(rec) + "\n")
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


http.server.HTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
