#!/usr/bin/env python3
"""Play the team in the demo: remember a security group's inbound rules, wait for the
drill to break them, wait DELAY seconds more ("investigating"), then put back what is
missing, through the AWS API (boto3), as a person following the runbook would.

Usage: demo_team.py SG_ID DELAY READY_FILE   (reads AWS_ENDPOINT_URL; loopback only)
READY_FILE is created once the rules are remembered: start the drill after that.
"""
import os
import sys
import time
from urllib.parse import urlparse

import boto3

endpoint = os.environ.get("AWS_ENDPOINT_URL", "")
if urlparse(endpoint).hostname not in ("127.0.0.1", "localhost", "::1"):
    sys.exit("demo_team.py: AWS_ENDPOINT_URL must be the local emulator on loopback")
if len(sys.argv) != 4:
    sys.exit(__doc__)
group, delay, ready = sys.argv[1], float(sys.argv[2]), sys.argv[3]
ec2 = boto3.client("ec2", endpoint_url=endpoint)


def rules():
    return ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"][0]["IpPermissions"]


before = rules()
open(ready, "w").close()
deadline = time.time() + 60
while rules() == before:
    if time.time() > deadline:
        sys.exit("demo_team.py: the group never broke")
    time.sleep(0.5)
time.sleep(delay)
now = rules()
missing = [p for p in before if p not in now]
ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=missing)
print(f"\n(demo team: put back {len(missing)} inbound rule(s) on {group})", flush=True)
