//! API Gateway: REST API stages, in the command's region. A stage's id is
//! `API-ID/STAGE`, its name `API-NAME/STAGE`; its tags are the API's with the stage's
//! own over them.

use aws_sdk_apigateway::Client;

use crate::target::{Target, TargetSpec};
use crate::{Error, Result};

/// The stages `spec` selects.
pub async fn list_stages(apigateway: &Client, spec: &TargetSpec) -> Result<Vec<Target>> {
    let apis: Vec<_> = apigateway
        .get_rest_apis()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(Error::aws("list REST APIs (apigateway:GET)"))?;
    let mut out = Vec::new();
    for api in &apis {
        let id = api.id().unwrap_or_default();
        let stages = apigateway
            .get_stages()
            .rest_api_id(id)
            .send()
            .await
            .map_err(Error::aws(format!("list the stages of REST API {id} (apigateway:GET)")))?;
        for stage in stages.item() {
            let name = stage.stage_name().unwrap_or_default();
            let mut tags: std::collections::BTreeMap<String, String> =
                api.tags().into_iter().flatten().map(|(k, v)| (k.clone(), v.clone())).collect();
            tags.extend(stage.tags().into_iter().flatten().map(|(k, v)| (k.clone(), v.clone())));
            let target = Target {
                id: format!("{id}/{name}"),
                name: Some(format!("{}/{name}", api.name().unwrap_or(id))),
                tags,
                vpc: None,
            };
            if target.matches(spec) {
                out.push(target);
            }
        }
    }
    Ok(out)
}

/// A stage target's id as (API id, stage name).
pub fn split(id: &str) -> Result<(&str, &str)> {
    id.split_once('/').ok_or_else(|| Error::Failed(format!("`{id}` is not a stage id (API-ID/STAGE)")))
}
