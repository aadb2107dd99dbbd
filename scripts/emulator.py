#!/usr/bin/env python3
"""Run the AWS emulator (moto in server mode) on 127.0.0.1, on a free port.

Prints the port on the first line of stdout once the server accepts connections.
Stops when stdin reaches end of file (--stdin: the parent closed the pipe or died,
so a crashed test run never leaves a server behind) or when the process named by
--watch-pid exits.
"""
import argparse
import logging
import os
import sys
import threading
import time

from moto.server import ThreadedMotoServer


def fix_moto() -> None:
    """Where moto answers in a shape AWS does not, answer as AWS does.

    moto 5.2.5 names the root of GetBucketVersioning's answer GetBucketVersioningResponse;
    S3 names it VersioningConfiguration, and the Rust SDK reads only that (boto3 does not
    look). The state store checks a bucket's versioning before using it.
    """
    from moto.s3.responses import S3Response

    def get_bucket_versioning(self):
        status = self.backend.get_bucket_versioning(self.bucket_name)
        inner = f"<Status>{status}</Status>" if status else ""
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            f'<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">{inner}</VersioningConfiguration>'
        )
        return 200, {"Content-Type": "application/xml"}, body

    S3Response.get_bucket_versioning = get_bucket_versioning

    # moto 5.2.5's RunTask of an awsvpc task (Fargate) reads the new interface's
    # private_dns_name, which its NetworkInterface lacks, and answers HTTP 500. AWS names
    # an interface's address as below (ip-10-42-0-5.<region>.compute.internal).
    from moto.ec2.models.elastic_network_interfaces import NetworkInterface

    if not hasattr(NetworkInterface, "private_dns_name"):
        NetworkInterface.private_dns_name = property(
            lambda eni: f"ip-{eni.private_ip_address.replace('.', '-')}.{eni.ec2_backend.region_name}.compute.internal"
        )

    # moto 5.2.5 has no UpdateIntegration (PATCH .../methods/M/integration): apply its
    # `replace` operations to the fields AWS lets it change, as AWS does.
    import json

    from moto.apigateway.responses import APIGatewayResponse

    if not hasattr(APIGatewayResponse, "update_integration"):

        def update_integration(self):
            parts = self.path.split("/")
            integration = self.backend.get_integration(parts[2], parts[4], parts[6])
            fields = {"/uri": "uri", "/timeoutInMillis": "timeout_in_millis", "/credentials": "credentials"}
            for op in self._get_param("patchOperations") or []:
                if op.get("op") == "replace" and op.get("path") in fields:
                    setattr(integration, fields[op["path"]], op.get("value"))
            return 200, {}, json.dumps(integration.to_json())

        APIGatewayResponse.update_integration = update_integration


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--stdin", action="store_true", help="stop when stdin closes")
    p.add_argument("--watch-pid", type=int, help="stop when this process exits")
    args = p.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no per-request log lines

    fix_moto()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    _, port = server.get_host_and_port()
    print(port, flush=True)

    done = threading.Event()
    if args.stdin:
        threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
    while not done.wait(0.5):
        if args.watch_pid:
            try:
                os.kill(args.watch_pid, 0)
            except ProcessLookupError:
                break
    server.stop()


if __name__ == "__main__":
    main()
