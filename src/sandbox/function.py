# The practice stack's Lambda function (sandbox up --with serverless), behind API
# Gateway: GET /health answers 200 when the function runs; GET /orders reads a few
# items from the table TABLE_NAME names, so a wrong TABLE_NAME, a lost permission or
# too little capacity shows as an error a probe sees.
import json
import os

import boto3

TABLE = boto3.resource("dynamodb").Table(os.environ.get("TABLE_NAME", ""))


def handler(event, context):
    path = (event or {}).get("path", "/health")
    if path.endswith("/health"):
        return {"statusCode": 200, "body": "ok\n"}
    try:
        items = TABLE.scan(Limit=10).get("Items", [])
    except Exception as e:  # a broken stack is the point: say what broke
        return {"statusCode": 500, "body": json.dumps({"error": str(e)})}
    return {"statusCode": 200, "body": json.dumps({"orders": items}, default=str)}
