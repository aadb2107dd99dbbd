//! `{{team.name}}`-style templates in probe fields: one string per team.
//!
//! Names: `team.name`, `team.region`, `team.vars.NAME` and `team.scope.KEY`. Anything
//! else is an error, found when the drill is validated (for every team), not mid-drill.

use std::collections::BTreeMap;

/// What a template can refer to, for one team.
#[derive(Clone, Debug, Default)]
pub struct TeamVars {
    pub name: String,
    pub region: String,
    pub vars: BTreeMap<String, String>,
    pub scope: BTreeMap<String, String>,
}

/// Replace every `{{ ... }}` in `text`, or say which name is unknown.
pub fn render(text: &str, team: &TeamVars) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            return Err(format!("unclosed `{{{{` in `{text}`"));
        };
        let name = after[..end].trim();
        let value = match name.split('.').collect::<Vec<_>>()[..] {
            ["team", "name"] => Some(team.name.clone()),
            ["team", "region"] => Some(team.region.clone()),
            ["team", "vars", key] => team.vars.get(key).cloned(),
            ["team", "scope", key] => team.scope.get(key).cloned(),
            _ => None,
        };
        let Some(value) = value else {
            return Err(format!(
                "unknown name `{name}` for team `{}` in `{text}` (known: team.name, team.region, team.vars.NAME, team.scope.KEY)",
                team.name
            ));
        };
        out.push_str(&value);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_team_names_and_vars() {
        let mut team = TeamVars { name: "blue".into(), region: "eu-west-1".into(), ..Default::default() };
        team.vars.insert("host".into(), "10.0.0.1".into());
        let url = render("http://{{team.name}}.example.com/{{ team.vars.host }}/{{team.region}}", &team).unwrap();
        assert_eq!(url, "http://blue.example.com/10.0.0.1/eu-west-1");
        assert!(render("{{team.vars.port}}", &team).unwrap_err().contains("unknown name `team.vars.port`"));
        assert!(render("{{team.name", &team).unwrap_err().contains("unclosed"));
        assert_eq!(render("plain", &team).unwrap(), "plain");
    }
}
