//! Lambda: functions by name or tag, in the command's region.

use std::collections::BTreeMap;

use aws_sdk_lambda::Client;

use crate::target::{Target, TargetSpec};
use crate::{Error, Result};

/// The functions `spec` selects (by name as id or name, and tags).
pub async fn list_functions(lambda: &Client, spec: &TargetSpec) -> Result<Vec<Target>> {
    let functions: Vec<_> = lambda
        .list_functions()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(Error::aws("list functions (lambda:ListFunctions)"))?;
    let mut out = Vec::new();
    for f in functions {
        let Some(name) = f.function_name() else { continue };
        let mut target = Target { id: name.to_owned(), name: None, tags: BTreeMap::new(), vpc: None };
        if !spec.tags.is_empty() {
            let arn = f.function_arn().unwrap_or(name);
            let tags = lambda
                .list_tags()
                .resource(arn)
                .send()
                .await
                .map_err(Error::aws(format!("read the tags of function {name} (lambda:ListTags)")))?;
            target.tags = tags.tags().into_iter().flatten().map(|(k, v)| (k.clone(), v.clone())).collect();
        }
        if target.matches(&by_name(spec)) {
            out.push(target);
        }
    }
    Ok(out)
}

/// `spec` with its names matched as ids: these kinds' ids are their names.
pub(crate) fn by_name(spec: &TargetSpec) -> TargetSpec {
    let mut spec = spec.clone();
    spec.ids.append(&mut spec.names);
    spec
}
