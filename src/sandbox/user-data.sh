#!/bin/bash
# The practice stack's web server (firedrill sandbox up): answers / with the instance's
# id and /health with 200, on port 80, so the load balancer's health checks pass before
# any fault and a revoked rule, a deny entry or a stopped instance really takes the site
# down. Amazon Linux 2023 has Python 3; systemd restarts it after a reboot fault.
cat > /opt/firedrill-site.py <<'PY'
import http.server
import urllib.request


def metadata(path):
    token = urllib.request.urlopen(urllib.request.Request(
        "http://169.254.169.254/latest/api/token", method="PUT",
        headers={"X-aws-ec2-metadata-token-ttl-seconds": "60"}), timeout=2).read().decode()
    return urllib.request.urlopen(urllib.request.Request(
        "http://169.254.169.254/latest/meta-data/" + path,
        headers={"X-aws-ec2-metadata-token": token}), timeout=2).read().decode()


INSTANCE = metadata("instance-id")


class Site(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"ok\n" if self.path == "/health" else ("firedrill practice site: %s\n" % INSTANCE).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


http.server.ThreadingHTTPServer(("", 80), Site).serve_forever()
PY
cat > /etc/systemd/system/firedrill-site.service <<'UNIT'
[Unit]
Description=firedrill practice site
After=network-online.target

[Service]
ExecStart=/usr/bin/python3 /opt/firedrill-site.py
Restart=always

[Install]
WantedBy=multi-user.target
UNIT
systemctl daemon-reload
systemctl enable --now firedrill-site
