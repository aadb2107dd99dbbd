//! DynamoDB: tables by name or tag, in the command's region.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::Client;

use super::lambda::by_name;
use crate::target::{Target, TargetSpec};
use crate::{Error, Result};

/// The tables `spec` selects (by name as id or name, and tags).
pub async fn list_tables(dynamodb: &Client, spec: &TargetSpec) -> Result<Vec<Target>> {
    let names: Vec<String> = dynamodb
        .list_tables()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(Error::aws("list tables (dynamodb:ListTables)"))?;
    let mut out = Vec::new();
    for name in names {
        let mut target = Target { id: name.clone(), name: None, tags: BTreeMap::new(), vpc: None };
        if !spec.tags.is_empty() {
            let doing =
                || format!("read the tags of table {name} (dynamodb:DescribeTable, dynamodb:ListTagsOfResource)");
            let table = dynamodb.describe_table().table_name(&name).send().await.map_err(Error::aws(doing()))?;
            let arn = table.table().and_then(|t| t.table_arn()).unwrap_or_default();
            // One page: a table holds at most 50 tags.
            let tags = dynamodb.list_tags_of_resource().resource_arn(arn).send().await.map_err(Error::aws(doing()))?;
            target.tags = tags.tags().iter().map(|t| (t.key().to_owned(), t.value().to_owned())).collect();
        }
        if target.matches(&by_name(spec)) {
            out.push(target);
        }
    }
    Ok(out)
}
