//! The docs book's references checked against the code, so they cannot drift: every configuration
//! key the config types accept has a row in `docs/src/configuration.md` (the key paths are derived
//! from the types' serde definitions, not listed by hand), and every subcommand's flags and
//! arguments, as clap parses them, are exactly the ones `docs/src/commands.md` lists.

use std::collections::BTreeSet;
use std::path::Path;

use xtask_release::clap;
use xtask_release::reference::config_keys;

fn book_page(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/src").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The key paths written in code spans in the first column of the page's tables (environment
/// variables, upper case, aside).
fn documented_keys(page: &str) -> BTreeSet<String> {
    page.lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|rest| rest.split('`').next())
        .filter(|key| key.starts_with(|c: char| c.is_ascii_lowercase()))
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_config_key_has_a_row_in_the_configuration_reference() {
    let documented = documented_keys(&book_page("configuration.md"));
    let missing: Vec<String> = config_keys().into_iter().filter(|k| !documented.contains(k)).collect();
    assert!(
        missing.is_empty(),
        "docs/src/configuration.md has no row for these keys of [workspace.metadata.xtask] (from \
         crates/xtask-release/src/rules/config.rs): add a row `| `KEY` | type | default | meaning |` for each:\n  {}",
        missing.join("\n  ")
    );
    let keys: BTreeSet<String> = config_keys().into_iter().collect();
    let stale: Vec<&String> = documented.iter().filter(|k| !keys.contains(*k)).collect();
    assert!(stale.is_empty(), "docs/src/configuration.md documents keys the config does not accept: {stale:?}");
}

/// For each subcommand (`release retract`), its long flags (`--reason`) and positional arguments
/// (`<X.Y.Z>`), as clap parses them; `--help`, `--version` and the global `--quiet` aside.
fn cli_arguments() -> Vec<(String, BTreeSet<String>)> {
    fn visit(command: &clap::Command, path: &str, out: &mut Vec<(String, BTreeSet<String>)>) {
        for sub in command.get_subcommands() {
            let path = format!("{path} {}", sub.get_name()).trim().to_owned();
            let mut args = BTreeSet::new();
            for arg in sub.get_arguments() {
                if arg.is_global_set() || arg.get_long().is_some_and(|l| ["help", "version", "quiet"].contains(&l)) {
                    continue;
                }
                if let Some(long) = arg.get_long() {
                    args.insert(format!("--{long}"));
                } else if arg.is_positional() {
                    let name = arg.get_value_names().and_then(|n| n.first().map(|n| n.to_string()));
                    args.insert(format!("<{}>", name.unwrap_or_else(|| arg.get_id().as_str().to_uppercase())));
                }
            }
            out.push((path.clone(), args));
            visit(sub, &path, out);
        }
    }
    let mut out = Vec::new();
    visit(&xtask_release::command(), "", &mut out);
    out
}

/// The page's `### `cargo xtask PATH`` sections, each with the flags and arguments its table's
/// first column names (`| `--reason TEXT` |` → `--reason`).
fn documented_commands(page: &str) -> Vec<(String, BTreeSet<String>)> {
    let mut out: Vec<(String, BTreeSet<String>)> = Vec::new();
    for line in page.lines() {
        if let Some(path) = line.strip_prefix("### `cargo xtask ").and_then(|r| r.strip_suffix('`')) {
            out.push((path.to_owned(), BTreeSet::new()));
        } else if let (Some(rest), Some((_, args))) = (line.strip_prefix("| `"), out.last_mut()) {
            let cell = rest.split('`').next().unwrap_or("");
            let word = cell.split_whitespace().next().unwrap_or("");
            if word.starts_with("--") || word.starts_with('<') {
                args.insert(word.to_owned());
            }
        }
    }
    out
}

#[test]
fn every_subcommand_s_flags_are_exactly_those_the_commands_page_lists() {
    let documented = documented_commands(&book_page("commands.md"));
    let mut problems = Vec::new();
    for (path, args) in cli_arguments() {
        match documented.iter().find(|(p, _)| *p == path) {
            None => problems.push(format!("no section `### `cargo xtask {path}`` (its arguments: {args:?})")),
            Some((_, listed)) => {
                for missing in args.difference(listed) {
                    problems.push(format!("`cargo xtask {path}`: {missing} is accepted but not listed"));
                }
                for extra in listed.difference(&args) {
                    problems.push(format!("`cargo xtask {path}`: {extra} is listed but not accepted"));
                }
            }
        }
    }
    for (path, _) in &documented {
        if !cli_arguments().iter().any(|(p, _)| p == path) {
            problems.push(format!("a section for `cargo xtask {path}`, which is no subcommand"));
        }
    }
    assert!(
        problems.is_empty(),
        "docs/src/commands.md disagrees with the CLI (`--help`):\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn the_flag_comparison_sees_a_missing_and_an_unknown_flag() {
    let page = "### `cargo xtask scan`\n\n| flag | what |\n|---|---|\n| `--json` | JSON |\n| `--no-such` | x |\n";
    let documented = documented_commands(page);
    let scan = cli_arguments().into_iter().find(|(p, _)| p == "scan").unwrap().1;
    assert!(scan.contains("--db-repository") && !documented[0].1.contains("--db-repository"));
    assert!(documented[0].1.contains("--no-such") && !scan.contains("--no-such"));
}
