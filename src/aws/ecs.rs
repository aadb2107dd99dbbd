//! ECS: services by name or tag, in every cluster of the command's region. A service's
//! id is its ARN (it names the cluster); its name is the service's name.

use std::collections::BTreeMap;

use aws_sdk_ecs::Client;
use aws_sdk_ecs::types::ServiceField;

use crate::target::{Target, TargetSpec};
use crate::{Error, Result};

/// The services `spec` selects.
pub async fn list_services(ecs: &Client, spec: &TargetSpec) -> Result<Vec<Target>> {
    let clusters: Vec<String> = ecs
        .list_clusters()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(Error::aws("list clusters (ecs:ListClusters)"))?;
    let mut out = Vec::new();
    for cluster in clusters {
        let arns: Vec<String> = ecs
            .list_services()
            .cluster(&cluster)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(Error::aws(format!("list the services of {cluster} (ecs:ListServices)")))?;
        // DescribeServices takes ten at a time.
        for chunk in arns.chunks(10) {
            let described = ecs
                .describe_services()
                .cluster(&cluster)
                .set_services(Some(chunk.to_vec()))
                .include(ServiceField::Tags)
                .send()
                .await
                .map_err(Error::aws(format!("describe the services of {cluster} (ecs:DescribeServices)")))?;
            // A deleted service stays visible as INACTIVE for a while: not a target.
            for s in described.services().iter().filter(|s| s.status() != Some("INACTIVE")) {
                let target = Target {
                    id: s.service_arn().unwrap_or_default().to_owned(),
                    name: s.service_name().map(str::to_owned),
                    tags: tags(s.tags()),
                    vpc: None,
                };
                if target.matches(spec) {
                    out.push(target);
                }
            }
        }
    }
    Ok(out)
}

/// ECS tags as a map.
pub fn tags(tags: &[aws_sdk_ecs::types::Tag]) -> BTreeMap<String, String> {
    tags.iter().filter_map(|t| Some((t.key()?.to_owned(), t.value().unwrap_or_default().to_owned()))).collect()
}

/// The cluster a service's ARN names (`arn:aws:ecs:R:A:service/CLUSTER/NAME`; the old
/// short form `service/NAME` names none: the default cluster).
pub fn cluster_of(service_arn: &str) -> &str {
    let path = service_arn.rsplit_once(':').map_or(service_arn, |(_, p)| p);
    match path.split('/').collect::<Vec<_>>()[..] {
        [_, cluster, _] => cluster,
        _ => "default",
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_cluster_is_read_from_the_service_arn() {
        assert_eq!(super::cluster_of("arn:aws:ecs:eu-west-1:123456789012:service/shop/web"), "shop");
        assert_eq!(super::cluster_of("arn:aws:ecs:eu-west-1:123456789012:service/web"), "default");
    }
}
