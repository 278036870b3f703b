//! Which rows `cargo xtask bench --only` measures: the ids it names, checked against the bench's
//! rows, and what each needs measured first (P7 divides by P2's cold build, P9 audits what P6
//! released). Pure, so the choices are unit-tested.

use anyhow::{bail, Result};

/// Every row id, in the order the bench prints them.
pub const IDS: [&str; 16] =
    ["P1", "P2", "P3", "P3q", "P4", "P4n", "P11", "P11r", "P1t", "P5", "P5p", "P6", "P9", "P8", "P10", "P7"];

/// The rows measured together: one group runs when any of its rows (or a row needing it) is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    /// P1, P2, P3, P3q, P4, P4n, P11 (the first image), P11r (a generated gateway): the build rows.
    Builds,
    /// P1t: `cargo xtask build` as typed.
    Typed,
    /// P5, P5p: the xtask's own compile and `plan`.
    Xtask,
    /// P6, and P9 against the registry P6 released to.
    Releases,
    /// P8: 1, 4 and 16 images.
    Scaling,
    /// P7: an emptied engine and the registry cache.
    RegistryCache,
    /// P10: one engine against two.
    Engines,
}

fn group_of(id: &str) -> Group {
    match id {
        "P1t" => Group::Typed,
        "P5" | "P5p" => Group::Xtask,
        "P6" | "P9" => Group::Releases,
        "P8" => Group::Scaling,
        "P7" => Group::RegistryCache,
        "P10" => Group::Engines,
        _ => Group::Builds,
    }
}

/// The rows asked for: every row, or those `--only` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection(Vec<&'static str>);

impl Selection {
    /// `--only` as given (empty: every row); an unknown id is one error naming it and the known ones.
    pub fn parse(only: &[String]) -> Result<Selection> {
        if only.is_empty() {
            return Ok(Selection(IDS.to_vec()));
        }
        let mut ids = Vec::new();
        let mut unknown = Vec::new();
        for given in only.iter().map(|id| id.trim()).filter(|id| !id.is_empty()) {
            let Some(id) = IDS.iter().find(|id| id.eq_ignore_ascii_case(given)) else {
                unknown.push(given.to_owned());
                continue;
            };
            // P11 is measured on two workspaces: the example service (P11) and the gateway (P11r).
            let named: &[&'static str] = if *id == "P11" { &["P11", "P11r"] } else { std::slice::from_ref(id) };
            for id in named {
                if !ids.contains(id) {
                    ids.push(*id);
                }
            }
        }
        if !unknown.is_empty() || ids.is_empty() {
            bail!(
                "--only {}: no such bench row{}; the rows are {} (comma-separated, e.g. --only P9,P10)",
                only.join(","),
                if unknown.is_empty() { String::new() } else { format!(" ({})", unknown.join(", ")) },
                IDS.join(", ")
            );
        }
        Ok(Selection(ids))
    }

    /// Whether the row is printed.
    pub fn shows(&self, id: &str) -> bool {
        self.0.contains(&id)
    }

    /// Whether the group is measured: a row of it is asked for, or a row that needs it.
    pub fn runs(&self, group: Group) -> bool {
        self.0.iter().any(|id| group_of(id) == group || (group == Group::Builds && *id == "P7"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn only(ids: &[&str]) -> Result<Selection> {
        Selection::parse(&ids.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn no_only_runs_and_shows_everything() {
        let all = only(&[]).unwrap();
        assert!(IDS.iter().all(|id| all.shows(id)));
        for group in [Group::Builds, Group::Typed, Group::Xtask, Group::Releases, Group::Scaling, Group::Engines] {
            assert!(all.runs(group), "{group:?}");
        }
    }

    #[test]
    fn only_runs_the_groups_of_the_rows_named_and_what_they_need() {
        let some = only(&["P9", "p10"]).unwrap();
        assert_eq!(some, Selection(vec!["P9", "P10"]));
        assert!(some.shows("P9") && some.shows("P10") && !some.shows("P6"));
        assert!(some.runs(Group::Releases) && some.runs(Group::Engines));
        assert!(!some.runs(Group::Builds) && !some.runs(Group::Xtask) && !some.runs(Group::Scaling));
        let p7 = only(&["P7"]).unwrap();
        assert!(p7.runs(Group::Builds) && p7.runs(Group::RegistryCache) && !p7.shows("P2"), "P7 needs P2's cold build");
    }

    #[test]
    fn p11_is_both_workspaces_and_p11r_the_gateway_alone() {
        assert_eq!(only(&["P1", "p11", "P11r"]).unwrap(), Selection(vec!["P1", "P11", "P11r"]));
        let gateway = only(&["P11r"]).unwrap();
        assert!(gateway.shows("P11r") && !gateway.shows("P11") && gateway.runs(Group::Builds));
    }

    #[test]
    fn an_unknown_id_is_one_error_naming_it_and_the_rows() {
        let err = only(&["P9", "P12", "Q"]).unwrap_err().to_string();
        assert!(err.contains("--only P9,P12,Q: no such bench row (P12, Q)"), "{err}");
        assert!(err.contains("P1, P2, P3") && err.contains("P10"), "{err}");
        assert!(only(&[" "]).unwrap_err().to_string().contains("no such bench row"));
    }
}
