//! JSON Schemas of the files firedrill reads (fault, drill, schedule, `firedrill.yaml`),
//! generated from the very types their loaders deserialize (`*/raw.rs`, each action's
//! params), so an editor's completion and inline errors cannot drift from `validate`.
//! `firedrill schema KIND` prints them; `schemas/` ships them, and a test checks the two
//! are equal.
//!
//! A schema checks shape (keys, types, enums); what needs more than one value or AWS
//! (a step's fault file exists, a probe is defined, a capacity within the group's
//! maximum) is `firedrill validate`'s and `plan`'s.

use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde_json::{Map, Value, json};

use crate::action::catalogue::params_schemas;
use crate::fault::raw::RawFault;

/// The kinds of file firedrill reads, as `firedrill schema` names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// A fault file (`faults/*.yaml`).
    Fault,
    /// A drill file.
    Drill,
    /// A schedule file.
    Schedule,
    /// The guardrails file, `firedrill.yaml`.
    Config,
}

impl Kind {
    pub const ALL: [Kind; 4] = [Kind::Fault, Kind::Drill, Kind::Schedule, Kind::Config];

    /// Its name on the command line and in `schemas/` (`fault` → `fault.schema.json`).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Fault => "fault",
            Kind::Drill => "drill",
            Kind::Schedule => "schedule",
            Kind::Config => "config",
        }
    }
}

/// The start of each schema's `$id`: a name, not an address (nothing is fetched from
/// it); files point at a schema by path, `# yaml-language-server: $schema=PATH`.
pub const ID_PREFIX: &str = "urn:firedrill:schema:";

/// The JSON Schema (draft 2020-12) of a `kind` file.
pub fn input(kind: Kind) -> Value {
    let mut generator = SchemaSettings::draft2020_12().into_generator();
    let mut root = match kind {
        Kind::Fault => fault(&mut generator, true),
        Kind::Drill => generator.root_schema_for::<crate::drill::raw::RawDrill>(),
        Kind::Schedule => generator.root_schema_for::<crate::schedule::raw::RawFile>(),
        Kind::Config => generator.root_schema_for::<crate::guardrails::RawConfig>(),
    };
    finish(&mut generator, &mut root, kind.name(), &format!("A firedrill {} file", kind.name()));
    root.to_value()
}

/// The JSON Schema (draft 2020-12) of what a command prints with `--output json`: the
/// type `T` it serializes, named `command`.
pub fn output<T: JsonSchema>(command: &str) -> Value {
    // As serialized: a field left out when empty is not required.
    let mut generator = SchemaSettings::draft2020_12().for_serialize().into_generator();
    let mut root = generator.root_schema_for::<T>();
    let title = format!("What `firedrill {command} --output json` prints");
    finish(&mut generator, &mut root, &format!("output:{command}"), &title);
    root.to_value()
}

/// The schema of a fault written inline in a drill step (where `name` may be left out),
/// as a reference into the drill schema's definitions.
pub(crate) fn inline_fault(generator: &mut SchemaGenerator) -> Schema {
    const NAME: &str = "InlineFault";
    if !generator.definitions().contains_key(NAME) {
        // Built before it is inserted: the map must not be borrowed while the fault's
        // schema adds its own definitions to it.
        let schema = fault(generator, false);
        generator.definitions_mut().insert(NAME.into(), schema.to_value());
    }
    json_schema!({ "$ref": format!("#/$defs/{NAME}") })
}

/// A fault: its common keys (from [`RawFault`]), `action` one of the catalogue's, and
/// `params` the schema of that action's params type (an `if`/`then` per action, so an
/// editor completes and checks the params of the action written).
fn fault(generator: &mut SchemaGenerator, name_required: bool) -> Schema {
    let mut schema = RawFault::<Value>::json_schema(generator);
    let actions = params_schemas(generator);
    let obj = schema.as_object_mut().expect("a struct's schema is an object");
    obj.remove("title");
    let props = obj.get_mut("properties").and_then(Value::as_object_mut).expect("a struct has properties");
    props.insert(
        "action".into(),
        json!({
            "description": "What to break: one of the catalogue's actions (`firedrill actions`).",
            "anyOf": actions.iter().map(|(info, _)| json!({ "const": info.name, "description": info.summary })).collect::<Vec<_>>(),
        }),
    );
    props.insert(
        "params".into(),
        json!({ "description": "The action's params; left out, every param takes its default.", "type": "object" }),
    );
    if name_required {
        let required = obj.entry("required").or_insert_with(|| json!([]));
        let list = required.as_array_mut().expect("required is a list");
        list.insert(0, json!("name"));
    }
    let branches: Vec<Value> = actions
        .into_iter()
        .map(|(info, params)| {
            let mut then = json!({ "properties": { "params": with_param_docs(generator, params, info) } });
            if has_required(generator, &then["properties"]["params"]) {
                then["required"] = json!(["params"]);
            }
            json!({ "if": { "properties": { "action": { "const": info.name } }, "required": ["action"] }, "then": then })
        })
        .collect();
    obj.insert("allOf".into(), Value::Array(branches));
    schema
}

/// The params schema, each property's description taken from the catalogue's
/// [`crate::action::ParamInfo`] (what `firedrill actions` prints) where the type's doc
/// comment says nothing.
fn with_param_docs(generator: &mut SchemaGenerator, params: Schema, info: &crate::action::ActionInfo) -> Value {
    let value = params.to_value();
    let name = definition(&value).map(str::to_owned);
    let mut inline = value.clone();
    let target = match &name {
        Some(name) => generator.definitions_mut().get_mut(name).expect("a $ref has its definition"),
        None => &mut inline,
    };
    if let Some(props) = target.get_mut("properties").and_then(Value::as_object_mut) {
        for p in info.params {
            if let Some(prop) = props.get_mut(p.name).and_then(Value::as_object_mut) {
                prop.entry("description").or_insert_with(|| json!(p.doc));
            }
        }
    }
    if name.is_some() { value } else { inline }
}

/// The definition a schema refers to (`{"$ref": "#/$defs/NAME"}` → `NAME`), if it is one.
fn definition(schema: &Value) -> Option<&str> {
    schema.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix("#/$defs/"))
}

/// Whether an object schema (or the definition it refers to) has required properties.
fn has_required(generator: &SchemaGenerator, value: &Value) -> bool {
    let value = definition(value).and_then(|d| generator.definitions().get(d)).unwrap_or(value);
    value.get("required").and_then(Value::as_array).is_some_and(|r| !r.is_empty())
}

/// The root's `$schema`, `$id`, title and the definitions gathered while generating it.
fn finish(generator: &mut SchemaGenerator, root: &mut Schema, name: &str, title: &str) {
    let obj = root.as_object_mut().expect("a root schema is an object");
    let defs: Map<String, Value> = std::mem::take(generator.definitions_mut());
    let mut out = Map::new();
    out.insert("$schema".into(), json!("https://json-schema.org/draft/2020-12/schema"));
    out.insert("$id".into(), json!(format!("{ID_PREFIX}{name}")));
    out.insert("title".into(), json!(title));
    for (k, v) in std::mem::take(obj) {
        if !matches!(k.as_str(), "$schema" | "$id" | "title" | "$defs") {
            out.insert(k, v);
        }
    }
    if !defs.is_empty() {
        out.insert("$defs".into(), Value::Object(defs));
    }
    *obj = out;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `firedrill actions` documents of each action's params (`ParamInfo`, written by
    /// hand) names exactly the params its type accepts (the schema, from the type).
    #[test]
    fn the_catalogue_documents_exactly_the_params_each_action_takes() {
        let schema = input(Kind::Fault);
        for branch in schema["allOf"].as_array().unwrap() {
            let name = branch["if"]["properties"]["action"]["const"].as_str().unwrap();
            let params = &branch["then"]["properties"]["params"];
            let params = match params["$ref"].as_str() {
                Some(r) => &schema["$defs"][r.trim_start_matches("#/$defs/")],
                None => params,
            };
            let mut typed: Vec<&str> =
                params["properties"].as_object().map(|p| p.keys().map(String::as_str).collect()).unwrap_or_default();
            let info = crate::action::find(name).unwrap();
            let mut documented: Vec<&str> = info.params.iter().map(|p| p.name).collect();
            typed.sort();
            documented.sort();
            assert_eq!(typed, documented, "{name}: the params type and `firedrill actions` disagree");
            assert_eq!(params["additionalProperties"], false, "{name}: unknown params must be refused");
        }
    }

    #[test]
    fn every_kind_is_a_2020_12_schema_with_its_id() {
        for kind in Kind::ALL {
            let s = input(kind);
            assert_eq!(s["$schema"], "https://json-schema.org/draft/2020-12/schema");
            assert_eq!(s["$id"], format!("{ID_PREFIX}{}", kind.name()));
            assert_eq!(s["additionalProperties"], false, "{}", kind.name());
        }
    }
}
