#!/usr/bin/env python3
"""Print a security group's rules, one per line, for the demo: an independent look (boto3)
at what firedrill changed.  Usage: show_rules.py SG_ID  (reads AWS_ENDPOINT_URL)

Only for the demo, and only against the emulator: refuses any endpoint but loopback.
"""
import os
import sys
from urllib.parse import urlparse

import boto3

endpoint = os.environ.get("AWS_ENDPOINT_URL", "")
if urlparse(endpoint).hostname not in ("127.0.0.1", "localhost", "::1"):
    sys.exit("show_rules.py: AWS_ENDPOINT_URL must be the local emulator on loopback")
if len(sys.argv) != 2:
    sys.exit(__doc__)

group = boto3.client("ec2", endpoint_url=endpoint).describe_security_groups(GroupIds=[sys.argv[1]])["SecurityGroups"][0]
for direction, perms in (("ingress", group["IpPermissions"]), ("egress ", group["IpPermissionsEgress"])):
    for p in perms:
        ports = "all" if p["IpProtocol"] == "-1" else f'{p["IpProtocol"]} {p.get("FromPort")}-{p.get("ToPort")}'
        peers = [(r["CidrIp"], r.get("Description", "")) for r in p["IpRanges"]]
        peers += [(r["CidrIpv6"], r.get("Description", "")) for r in p["Ipv6Ranges"]]
        peers += [("group " + g["GroupId"], g.get("Description", "")) for g in p["UserIdGroupPairs"]]
        for peer, desc in peers:
            print(f"  {direction}  {ports:<14} {peer:<28} {desc}")
