#!/usr/bin/env python3
"""The demo's small web stack, created with boto3 against AWS_ENDPOINT_URL.

  demo_stack.py up           create it; prints shell assignments (WEB_SG=...)
  demo_stack.py rules SG_ID  print a security group's rules, one per line

Only for the demo, and only against the emulator: refuses any endpoint but loopback.
"""
import os
import sys
from urllib.parse import urlparse

import boto3

endpoint = os.environ.get("AWS_ENDPOINT_URL", "")
if urlparse(endpoint).hostname not in ("127.0.0.1", "localhost", "::1"):
    sys.exit("demo_stack.py: AWS_ENDPOINT_URL must be the local emulator on loopback")
ec2 = boto3.client("ec2", endpoint_url=endpoint)


def tags(kind, **kv):
    kv.setdefault("firedrill:demo", "web")
    return [{"ResourceType": kind, "Tags": [{"Key": k, "Value": v} for k, v in kv.items()]}]


def up():
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16", TagSpecifications=tags("vpc", Name="demo"))["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    lb = ec2.create_security_group(GroupName="demo-lb", Description="load balancer", VpcId=vpc,
                                   TagSpecifications=tags("security-group", Tier="lb"))["GroupId"]
    web = ec2.create_security_group(GroupName="demo-web", Description="web servers", VpcId=vpc,
                                    TagSpecifications=tags("security-group", Tier="web"))["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=web, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80,
         "UserIdGroupPairs": [{"GroupId": lb, "Description": "HTTP from the load balancer"}]},
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
         "UserIdGroupPairs": [{"GroupId": lb, "Description": "HTTPS from the load balancer"}]},
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
         "IpRanges": [{"CidrIp": "10.0.0.0/16", "Description": "SSH from the VPC"}]},
    ])
    ec2.run_instances(ImageId="ami-12c6146b", MinCount=2, MaxCount=2, InstanceType="t3.micro",
                      SubnetId=subnet, SecurityGroupIds=[web],
                      TagSpecifications=tags("instance", Tier="web", Name="demo-web"))
    print(f"WEB_SG={web}")
    print(f"echo 'demo stack: vpc {vpc}, web group {web}, load balancer group {lb}, 2 web instances'")


def rules(group_id):
    out = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group_id]}])
    for r in sorted(out["SecurityGroupRules"], key=lambda r: (r["IsEgress"], r.get("FromPort", -1))):
        peer = r.get("CidrIpv4") or r.get("CidrIpv6") or r.get("PrefixListId") \
            or "group " + r.get("ReferencedGroupInfo", {}).get("GroupId", "?")
        ports = "all" if r["IpProtocol"] == "-1" else f'{r["IpProtocol"]} {r.get("FromPort")}-{r.get("ToPort")}'
        print(f'  {"egress " if r["IsEgress"] else "ingress"}  {ports:<14} {peer:<28} {r.get("Description", "")}')


if __name__ == "__main__":
    if sys.argv[1:2] == ["up"]:
        up()
    elif sys.argv[1:2] == ["rules"]:
        rules(sys.argv[2])
    else:
        sys.exit(__doc__)
