//! DynamoDB: `dynamodb.lower-throughput` — a provisioned table's (or one global secondary
//! index's) read and write capacity lowered, so requests past it are throttled
//! (`ProvisionedThroughputExceededException`). On-demand tables have no capacity to
//! lower and are refused. The snapshot is the table's billing mode and the capacity of
//! the table and every index; revert raises the one changed back to exactly its values.
//!
//! AWS limits decreases (four a day at any time, then one an hour after the last one),
//! never increases: a revert only decreases if a team raised the capacity above the
//! snapshot meanwhile. `plan` says how many decreases the table has had today.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    BillingMode, GlobalSecondaryIndexUpdate, ProvisionedThroughput, ProvisionedThroughputDescription,
    UpdateGlobalSecondaryIndexAction,
};
use serde::{Deserialize, Serialize};

use super::{ActionInfo, Fault, ParamInfo, Params, Resource, RunCtx, ToInject, ToRevert};
use crate::aws::{self, Aws};
use crate::target::{Target, TargetKind};
use crate::{Error, Result};

/// Read and write capacity units, and whether they are in effect (`ACTIVE`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capacity {
    pub read: i64,
    pub write: i64,
    /// `ACTIVE`, or `UPDATING` while a change is applied.
    pub status: String,
    /// Decreases today, as AWS counts them (not compared: AWS's bookkeeping).
    #[serde(default)]
    pub decreases_today: i64,
}

impl Capacity {
    fn of(p: Option<&ProvisionedThroughputDescription>, status: Option<&str>) -> Capacity {
        Capacity {
            read: p.and_then(|p| p.read_capacity_units()).unwrap_or_default(),
            write: p.and_then(|p| p.write_capacity_units()).unwrap_or_default(),
            status: status.unwrap_or("ACTIVE").to_owned(),
            decreases_today: p.and_then(|p| p.number_of_decreases_today()).unwrap_or_default(),
        }
    }

    fn same_units(&self, other: &Capacity) -> bool {
        (self.read, self.write) == (other.read, other.write)
    }
}

/// A table's billing mode and provisioned capacity, and each global secondary index's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableThroughput {
    pub table: String,
    /// On-demand (`PAY_PER_REQUEST`): no provisioned capacity.
    pub on_demand: bool,
    pub capacity: Capacity,
    #[serde(default)]
    pub indexes: BTreeMap<String, Capacity>,
}

impl TableThroughput {
    /// The table's capacity, or index `name`'s.
    fn of(&self, index: Option<&str>) -> Option<&Capacity> {
        match index {
            None => Some(&self.capacity),
            Some(name) => self.indexes.get(name),
        }
    }
}

/// A table's provisioned capacity: what `dynamodb.lower-throughput` changes.
pub struct Throughput;

impl Resource for Throughput {
    type State = TableThroughput;

    async fn describe(aws: &Aws, target: &Target) -> Result<TableThroughput> {
        let name = &target.id;
        let out = match aws.dynamodb.describe_table().table_name(name).send().await {
            Ok(out) => out,
            Err(e) if e.code() == Some("ResourceNotFoundException") => {
                return Err(Error::Gone(format!("table {name} no longer exists")));
            }
            Err(e) => return Err(Error::aws(format!("describe table {name} (dynamodb:DescribeTable)"))(e)),
        };
        let t = out.table().ok_or_else(|| Error::Failed(format!("DescribeTable answered no table for {name}")))?;
        Ok(TableThroughput {
            table: name.clone(),
            on_demand: t.billing_mode_summary().and_then(|b| b.billing_mode()) == Some(&BillingMode::PayPerRequest),
            capacity: Capacity::of(t.provisioned_throughput(), t.table_status().map(|s| s.as_str())),
            indexes: t
                .global_secondary_indexes()
                .iter()
                .map(|i| {
                    let status = i.index_status().map(|s| s.as_str());
                    (i.index_name().unwrap_or_default().to_owned(), Capacity::of(i.provisioned_throughput(), status))
                })
                .collect(),
        })
    }

    fn differences(before: &TableThroughput, now: &TableThroughput) -> Vec<String> {
        let t = &now.table;
        let mut out = Vec::new();
        if before.on_demand != now.on_demand {
            let mode = |on_demand| if on_demand { "on-demand" } else { "provisioned" };
            out.push(format!("{t}: {} (the snapshot: {})", mode(now.on_demand), mode(before.on_demand)));
        }
        let mut compare = |what: String, b: Option<&Capacity>, n: Option<&Capacity>| match (b, n) {
            (Some(b), Some(n)) if !b.same_units(n) => out.push(format!(
                "{what}: read {} write {} (the snapshot: read {} write {})",
                n.read, n.write, b.read, b.write
            )),
            (Some(b), Some(n)) if n.status != "ACTIVE" && b.status == "ACTIVE" => {
                out.push(format!("{what}: still {}", n.status))
            }
            (Some(_), None) => out.push(format!("{what}: missing")),
            (None, Some(_)) => out.push(format!("{what}: added since the snapshot")),
            _ => {}
        };
        compare(t.clone(), Some(&before.capacity), Some(&now.capacity));
        let names: std::collections::BTreeSet<&String> = before.indexes.keys().chain(now.indexes.keys()).collect();
        for name in names {
            compare(format!("{t} index {name}"), before.indexes.get(name), now.indexes.get(name));
        }
        out
    }

    /// The table's and every index's snapshot capacity back.
    async fn reset(aws: &Aws, _target: &Target, before: &TableThroughput, now: &TableThroughput) -> Result<()> {
        if before.on_demand {
            return Ok(());
        }
        if !before.capacity.same_units(&now.capacity) || now.on_demand {
            set_capacity(aws, &before.table, None, &before.capacity, now.on_demand).await?;
        }
        for (name, cap) in &before.indexes {
            if now.indexes.get(name).is_some_and(|n| !n.same_units(cap)) {
                set_capacity(aws, &before.table, Some(name), cap, false).await?;
            }
        }
        Ok(())
    }
}

/// Set the table's (or index `index`'s) capacity; `provisioned` also switches an
/// on-demand table back to provisioned.
async fn set_capacity(aws: &Aws, table: &str, index: Option<&str>, to: &Capacity, provisioned: bool) -> Result<()> {
    let units = ProvisionedThroughput::builder()
        .read_capacity_units(to.read)
        .write_capacity_units(to.write)
        .build()
        .map_err(|e| Error::Failed(format!("table {table}: {e}")))?;
    let call = aws.dynamodb.update_table().table_name(table);
    let call = match index {
        None if provisioned => call.billing_mode(BillingMode::Provisioned).provisioned_throughput(units),
        None => call.provisioned_throughput(units),
        Some(name) => {
            let update = UpdateGlobalSecondaryIndexAction::builder()
                .index_name(name)
                .provisioned_throughput(units)
                .build()
                .map_err(|e| Error::Failed(format!("table {table} index {name}: {e}")))?;
            call.global_secondary_index_updates(GlobalSecondaryIndexUpdate::builder().update(update).build())
        }
    };
    let what = index.map_or(format!("table {table}"), |i| format!("table {table} index {i}"));
    aws::call(call.send(), format!("set the capacity of {what} (dynamodb:UpdateTable)")).await
}

/// `dynamodb.lower-throughput`: the capacity to set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct LowerThroughput {
    /// Read capacity units to set (at least 1).
    pub read: u32,
    /// Write capacity units to set (at least 1).
    pub write: u32,
    /// A global secondary index to lower instead of the table.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<String>,
}

impl Default for LowerThroughput {
    fn default() -> Self {
        LowerThroughput { read: 1, write: 1, index: None }
    }
}

impl Params for LowerThroughput {
    fn check(&self) -> Result<(), String> {
        if self.read == 0 {
            return Err("`read` is 0: DynamoDB's least is 1 capacity unit".into());
        }
        if self.write == 0 {
            return Err("`write` is 0: DynamoDB's least is 1 capacity unit".into());
        }
        Ok(())
    }
}

/// The capacity planned, with what it was (for the summary) and the decreases so far.
#[derive(Debug, Serialize, Deserialize)]
pub struct ThroughputChange {
    pub table: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<String>,
    pub read: i64,
    pub write: i64,
    pub was: (i64, i64),
    pub decreases_today: i64,
}

impl Fault for LowerThroughput {
    type On = Throughput;
    type Change = ThroughputChange;

    fn plan(&self, target: &Target, state: &TableThroughput) -> Result<ThroughputChange, String> {
        if state.on_demand {
            return Err(format!(
                "{}: the table is on-demand (PAY_PER_REQUEST): it has no provisioned capacity to lower",
                target.label()
            ));
        }
        let index = self.index.as_deref();
        let Some(now) = state.of(index) else {
            let known: Vec<&str> = state.indexes.keys().map(String::as_str).collect();
            return Err(format!(
                "{}: no index {} (it has: {})",
                target.label(),
                index.unwrap_or_default(),
                known.join(", ")
            ));
        };
        let (read, write) = (i64::from(self.read), i64::from(self.write));
        if (now.read, now.write) == (read, write) {
            return Err(format!(
                "{}: its capacity is read {read} write {write} already: nothing to break",
                target.label()
            ));
        }
        Ok(ThroughputChange {
            table: state.table.clone(),
            index: self.index.clone(),
            read,
            write,
            was: (now.read, now.write),
            decreases_today: now.decreases_today,
        })
    }

    fn summarize(&self, change: &ThroughputChange) -> Vec<String> {
        let what = change.index.as_ref().map_or("the table's".to_owned(), |i| format!("index {i}'s"));
        let mut out = vec![format!(
            "set {what} capacity to read {} write {} (from read {} write {})",
            change.read, change.write, change.was.0, change.was.1
        )];
        // Four decreases a day at any time, then one an hour after the last (AWS's
        // limit); the count is AWS's, at planning.
        out.push(format!(
            "a decrease: {} so far today; AWS allows 4 a day at any time, then one an hour",
            change.decreases_today
        ));
        out
    }

    async fn inject(&self, aws: &Aws, _run: &RunCtx, item: &ToInject<'_, Self>) -> Result<Option<TableThroughput>> {
        let c = item.change;
        let to = Capacity { read: c.read, write: c.write, status: String::new(), decreases_today: 0 };
        set_capacity(aws, &c.table, c.index.as_deref(), &to, false).await?;
        Ok(None)
    }

    /// The capacity set, and in effect (`ACTIVE`).
    fn observe(&self, _run: &RunCtx, change: &ThroughputChange, now: &TableThroughput) -> Result<(), String> {
        match now.of(change.index.as_deref()) {
            Some(c) if (c.read, c.write) != (change.read, change.write) => {
                Err("the capacity is not lowered yet".into())
            }
            Some(c) if c.status != "ACTIVE" => Err(format!("the capacity change is still {}", c.status)),
            Some(_) => Ok(()),
            None => Err("the index is gone".into()),
        }
    }

    /// The changed table's (or index's) capacity back to the snapshot's values.
    async fn revert(&self, aws: &Aws, _run: &RunCtx, item: &ToRevert<'_, Self>) -> Result<Option<TableThroughput>> {
        let index = item.change.index.as_deref();
        let (Some(before), Some(now)) = (item.before.of(index), item.now.of(index)) else {
            return Err(Error::Failed(format!(
                "table {}: the index {} is gone",
                item.change.table,
                index.unwrap_or_default()
            )));
        };
        if before.same_units(now) && !item.now.on_demand {
            return Ok(None);
        }
        set_capacity(aws, &item.change.table, index, before, item.now.on_demand && index.is_none()).await?;
        Ok(None)
    }
}

/// The catalogue's entry for `dynamodb.lower-throughput`.
pub const LOWER_THROUGHPUT: ActionInfo = ActionInfo {
    name: "dynamodb.lower-throughput",
    target: TargetKind::Table,
    summary: "Lower a provisioned table's (or a global secondary index's) read and write capacity, to 1 by default: requests past it are throttled. On-demand tables are refused.",
    revert: "Restores the exact previous read and write capacity (an increase: AWS limits only decreases); restored once the table is ACTIVE.",
    one_shot: false,
    params: &[
        ParamInfo { name: "read", ty: "integer", default: "1", doc: "Read capacity units to set." },
        ParamInfo { name: "write", ty: "integer", default: "1", doc: "Write capacity units to set." },
        ParamInfo {
            name: "index",
            ty: "string",
            default: "none (the table)",
            doc: "A global secondary index to lower instead of the table.",
        },
    ],
    permissions: &["dynamodb:DescribeTable", "dynamodb:UpdateTable"],
};

#[cfg(test)]
mod tests {
    use super::*;

    fn table(read: i64, on_demand: bool) -> TableThroughput {
        let cap = |r| Capacity { read: r, write: 5, status: "ACTIVE".into(), decreases_today: 1 };
        TableThroughput {
            table: "orders".into(),
            on_demand,
            capacity: cap(read),
            indexes: [("by-customer".to_string(), cap(3))].into(),
        }
    }

    #[test]
    fn on_demand_tables_and_unknown_indexes_are_refused() {
        let t = Target::for_tests("orders");
        assert!(LowerThroughput::default().plan(&t, &table(5, true)).unwrap_err().contains("on-demand"));
        let f = LowerThroughput { index: Some("nope".into()), ..Default::default() };
        assert!(f.plan(&t, &table(5, false)).unwrap_err().contains("by-customer"));
        assert!(LowerThroughput { read: 0, ..Default::default() }.check().unwrap_err().starts_with("`read`"));
    }

    #[test]
    fn the_change_is_observed_when_active_and_differences_name_the_index() {
        let f = LowerThroughput { index: Some("by-customer".into()), ..Default::default() };
        let before = table(5, false);
        let change = f.plan(&Target::for_tests("orders"), &before).unwrap();
        assert_eq!(change.was, (3, 5));
        assert!(f.summarize(&change)[1].contains("1 so far today"));
        let mut now = before.clone();
        now.indexes.get_mut("by-customer").unwrap().read = 1;
        now.indexes.get_mut("by-customer").unwrap().write = 1;
        now.indexes.get_mut("by-customer").unwrap().status = "UPDATING".into();
        let run = RunCtx::for_tests();
        assert!(f.observe(&run, &change, &now).unwrap_err().contains("UPDATING"));
        now.indexes.get_mut("by-customer").unwrap().status = "ACTIVE".into();
        assert_eq!(f.observe(&run, &change, &now), Ok(()));
        assert_eq!(
            Throughput::differences(&before, &now),
            ["orders index by-customer: read 1 write 1 (the snapshot: read 3 write 5)"]
        );
    }
}
