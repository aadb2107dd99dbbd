//! `--with serverless`, beyond the bucket: an API Gateway REST API (stage `prod`,
//! throttled at 100 requests/s, burst 50) → a Lambda function (its own role, allowed to
//! read the table) → a DynamoDB table with provisioned capacity. All tagged `Tier:
//! api` / `function` / `data`. Each is recorded as it is made; `down` deletes in reverse.

use aws_sdk_apigateway::types::{IntegrationType, Op, PatchOperation};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, KeySchemaElement, KeyType, ProvisionedThroughput, ScalarAttributeType,
};
use aws_sdk_lambda::types::{Environment, FunctionCode, Runtime};

use super::{Ctx, delete, made};
use crate::Result;
use crate::aws::retry::retry;
use crate::sandbox::{Extra, SANDBOX_TAG, Sandbox};

fn wanted(sb: &Sandbox) -> bool {
    sb.with.contains(&Extra::Serverless)
}

/// The table, the function and its role: `<name>-orders`.
fn orders(sb: &Sandbox) -> String {
    format!("{}-orders", sb.name)
}

/// The stage the API is deployed to, and its throttling.
pub const STAGE: &str = "prod";
const RATE: f64 = 100.0;
const BURST: i32 = 50;

/// A provisioned table (5 read, 5 write units) keyed by `id`.
pub mod table {
    use super::*;

    pub async fn up(c: &Ctx<'_>, sb: &mut Sandbox) -> Result<()> {
        if !wanted(sb) {
            return Ok(());
        }
        let tag =
            |k: &str, v: &str| aws_sdk_dynamodb::types::Tag::builder().key(k).value(v).build().expect("key and value");
        let build = |e: aws_sdk_dynamodb::error::BuildError| crate::Error::Failed(e.to_string());
        let create = c
            .aws
            .dynamodb
            .create_table()
            .table_name(orders(sb))
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("id")
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .map_err(build)?,
            )
            .key_schema(
                KeySchemaElement::builder().attribute_name("id").key_type(KeyType::Hash).build().map_err(build)?,
            )
            .provisioned_throughput(
                ProvisionedThroughput::builder()
                    .read_capacity_units(5)
                    .write_capacity_units(5)
                    .build()
                    .map_err(build)?,
            )
            .tags(tag(SANDBOX_TAG, &sb.name))
            .tags(tag("Tier", "data"));
        create.send().await.map_err(made("DynamoDB table"))?;
        sb.table = Some(orders(sb));
        c.save(sb)
    }

    pub async fn down(c: &Ctx<'_>, sb: &Sandbox) -> Result<()> {
        let Some(table) = &sb.table else { return Ok(()) };
        // `ResourceInUseException` while a drill's capacity change is still applied.
        retry(|| delete(c.aws.dynamodb.delete_table().table_name(table).send(), "DynamoDB table")).await
    }
}

/// The function's role (Lambda may assume it; it may read the table), and the function:
/// Python, `function.py`, `TABLE_NAME` set to the table.
pub mod function {
    use super::*;

    pub async fn up(c: &Ctx<'_>, sb: &mut Sandbox) -> Result<()> {
        if !wanted(sb) {
            return Ok(());
        }
        let (iam, name) = (&c.aws.iam, orders(sb));
        let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
        let tag = |k: &str, v: &str| aws_sdk_iam::types::Tag::builder().key(k).value(v).build().expect("key and value");
        let create = iam
            .create_role()
            .role_name(&name)
            .assume_role_policy_document(trust)
            .description(format!("{} sandbox: the orders function", sb.name))
            .tags(tag(SANDBOX_TAG, &sb.name))
            .tags(tag("Tier", "function"));
        let role = create.send().await.map_err(made("function's role"))?;
        let role_arn = role.role().map(|r| r.arn().to_owned()).unwrap_or_default();
        sb.function_role = Some(name.clone());
        c.save(sb)?;
        let table_arn = format!("arn:aws:dynamodb:{}:{}:table/{name}", sb.region, sb.account);
        let doc = serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{ "Effect": "Allow", "Action": ["dynamodb:Scan", "dynamodb:GetItem", "dynamodb:PutItem"], "Resource": table_arn }],
        });
        let put = iam.put_role_policy().role_name(&name).policy_name("read-orders").policy_document(doc.to_string());
        put.send().await.map_err(made("function's role policy"))?;
        let code = crate::sandbox::zip::stored("index.py", include_bytes!("../function.py"));
        let environment = Environment::builder().variables("TABLE_NAME", &name).build();
        // A role made a moment ago may not be assumable by Lambda yet (IAM propagates):
        // `retry` waits that out.
        let made_fn = retry(|| {
            let create = c
                .aws
                .lambda
                .create_function()
                .function_name(&name)
                .runtime(Runtime::Python312)
                .role(&role_arn)
                .handler("index.handler")
                .code(FunctionCode::builder().zip_file(code.clone().into()).build())
                .timeout(10)
                .memory_size(128)
                .environment(environment.clone())
                .tags(SANDBOX_TAG, &sb.name)
                .tags("Tier", "function");
            async move { create.send().await.map_err(made("Lambda function")) }
        })
        .await?;
        sb.function = made_fn.function_name().map(str::to_owned);
        c.save(sb)
    }

    pub async fn down(c: &Ctx<'_>, sb: &Sandbox) -> Result<()> {
        if let Some(f) = &sb.function {
            delete(c.aws.lambda.delete_function().function_name(f).send(), "Lambda function").await?;
        }
        let Some(role) = &sb.function_role else { return Ok(()) };
        let iam = &c.aws.iam;
        if let Ok(inline) = iam.list_role_policies().role_name(role).send().await {
            for p in inline.policy_names() {
                delete(iam.delete_role_policy().role_name(role).policy_name(p).send(), "inline policy").await?;
            }
        }
        delete(iam.delete_role().role_name(role).send(), "function's role").await
    }
}

/// The REST API: `GET /orders` and `GET /health`, each a Lambda proxy integration,
/// deployed to `prod` with stage throttling; and the function's policy statement letting
/// this API invoke it (`apigateway-invoke`).
pub mod api {
    use super::*;

    pub async fn up(c: &Ctx<'_>, sb: &mut Sandbox) -> Result<()> {
        if !wanted(sb) {
            return Ok(());
        }
        let gw = &c.aws.apigateway;
        let name = format!("{}-api", sb.name);
        let create = gw
            .create_rest_api()
            .name(&name)
            .description(format!("{} sandbox: orders API", sb.name))
            .tags(SANDBOX_TAG, &sb.name)
            .tags("Tier", "api");
        let api = create.send().await.map_err(made("REST API"))?;
        let id = api.id().unwrap_or_default().to_owned();
        sb.api = Some(id.clone());
        c.save(sb)?;
        let resources = gw.get_resources().rest_api_id(&id).send().await.map_err(made("REST API's resources"))?;
        let root = resources.items().iter().find(|r| r.path() == Some("/")).and_then(|r| r.id()).unwrap_or_default();
        let function = sb.function.clone().unwrap_or_default();
        let function_arn = format!("arn:aws:lambda:{}:{}:function:{function}", sb.region, sb.account);
        let uri =
            format!("arn:aws:apigateway:{}:lambda:path/2015-03-31/functions/{function_arn}/invocations", sb.region);
        for part in ["orders", "health"] {
            let r = gw.create_resource().rest_api_id(&id).parent_id(root).path_part(part).send().await;
            let r = r.map_err(made("REST API resource"))?;
            let rid = r.id().unwrap_or_default();
            let method =
                gw.put_method().rest_api_id(&id).resource_id(rid).http_method("GET").authorization_type("NONE");
            method.send().await.map_err(made("REST API method"))?;
            let integration = gw
                .put_integration()
                .rest_api_id(&id)
                .resource_id(rid)
                .http_method("GET")
                .r#type(IntegrationType::AwsProxy)
                .integration_http_method("POST")
                .uri(&uri);
            integration.send().await.map_err(made("REST API integration"))?;
        }
        let deploy = gw.create_deployment().rest_api_id(&id).stage_name(STAGE);
        deploy.send().await.map_err(made("REST API deployment"))?;
        let throttle = |field: &str, value: String| {
            PatchOperation::builder().op(Op::Replace).path(format!("/*/*/throttling/{field}")).value(value).build()
        };
        let patch = gw
            .update_stage()
            .rest_api_id(&id)
            .stage_name(STAGE)
            .patch_operations(throttle("rateLimit", RATE.to_string()))
            .patch_operations(throttle("burstLimit", BURST.to_string()));
        patch.send().await.map_err(made("stage throttling"))?;
        let tag = gw
            .tag_resource()
            .resource_arn(format!("arn:aws:apigateway:{}::/restapis/{id}/stages/{STAGE}", sb.region))
            .tags(SANDBOX_TAG, &sb.name)
            .tags("Tier", "api");
        tag.send().await.map_err(made("stage tags"))?;
        let permit = c
            .aws
            .lambda
            .add_permission()
            .function_name(&function)
            .statement_id("apigateway-invoke")
            .action("lambda:InvokeFunction")
            .principal("apigateway.amazonaws.com")
            .source_arn(format!("arn:aws:execute-api:{}:{}:{id}/*", sb.region, sb.account));
        permit.send().await.map_err(made("function's permission for the API"))?;
        sb.api_url = Some(format!("https://{id}.execute-api.{}.amazonaws.com/{STAGE}", sb.region));
        c.save(sb)
    }

    /// The API with its stage and deployments; the function's statement goes with the
    /// function.
    pub async fn down(c: &Ctx<'_>, sb: &Sandbox) -> Result<()> {
        let Some(api) = &sb.api else { return Ok(()) };
        delete(c.aws.apigateway.delete_rest_api().rest_api_id(api).send(), "REST API").await
    }
}
