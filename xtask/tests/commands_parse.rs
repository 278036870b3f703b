//! Every `cargo xtask …` command written in the GitHub workflows, the README, CONTRIBUTING.md and the
//! docs book (`docs/src/*.md`) must parse with the engine's CLI (or name one of this repository's own
//! subcommands, as `cargo xtask --help` lists them): a renamed subcommand or a dropped flag fails
//! here, not on release day.

mod support;

use std::path::PathBuf;
use std::process::Command;

fn workspace_file(relative: &str) -> PathBuf {
    support::workspace_root().join(relative)
}

/// This repository's own subcommands (beside the engine's), as its `cargo xtask --help` lists them.
fn own_subcommands() -> Vec<String> {
    let out = Command::new(support::xtask_binary()).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    let engine = xtask_release::command();
    let commands = help.split("Commands:\n").nth(1).and_then(|rest| rest.split("\n\n").next()).unwrap_or("");
    let listed = commands.lines().filter_map(|l| l.split_whitespace().next());
    listed.filter(|name| engine.find_subcommand(name).is_none() && *name != "help").map(str::to_owned).collect()
}

/// The arguments after `cargo xtask` (or `target/debug/xtask`) on each line that runs it, split like a shell would for
/// the simple words, quotes and `$VARIABLES` these files use.
fn xtask_invocations(text: &str) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    for line in text.lines() {
        let mut rest = line;
        // `cargo xtask …`, and the built binary the workflows run in steps that hold secrets.
        while let Some((start, len)) = ["cargo xtask ", "target/debug/xtask "]
            .iter()
            .filter_map(|prefix| rest.find(prefix).map(|at| (at, prefix.len())))
            .min()
        {
            let command = &rest[start + len..];
            let command = command.split(['`', '#', '|', ';', '&']).next().unwrap_or("");
            found.push(shell_words(command));
            rest = &rest[start + 1..];
        }
    }
    found
}

fn shell_words(command: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    for c in command.chars() {
        match c {
            '"' | '\'' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

fn parses(args: &[String]) -> Result<(), String> {
    let argv = std::iter::once("cargo xtask".to_owned()).chain(args.iter().cloned());
    xtask_release::command().try_get_matches_from(argv).map(drop).map_err(|e| e.to_string())
}

#[test]
fn workflow_readme_and_book_commands_are_real_subcommands_with_real_flags() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(workspace_file(".github/workflows"))
        .expect("the workflows directory")
        .map(|e| e.unwrap().path())
        .collect();
    files.push(workspace_file(".github/actions/setup/action.yml"));
    files.push(workspace_file("README.md"));
    files.push(workspace_file("CONTRIBUTING.md"));
    let mut pages: Vec<PathBuf> = std::fs::read_dir(workspace_file("docs/src"))
        .expect("the docs book's pages")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    pages.sort();
    files.extend(pages);
    let own = own_subcommands();
    assert_eq!(own, ["book"], "this repository's own subcommands");
    let mut checked = 0;
    for file in files {
        let mut text = std::fs::read_to_string(&file).unwrap();
        if file.extension().is_some_and(|e| e == "md") {
            // A Markdown heading names a command (`### cargo xtask version bump`); it runs none.
            text = text.lines().filter(|l| !l.starts_with('#')).collect::<Vec<_>>().join("\n");
        }
        for args in xtask_invocations(&text) {
            // Help and placeholders in prose (`cargo xtask …`, `cargo xtask version bump LEVEL`)
            // are not commands.
            if args.is_empty()
                || args.iter().any(|a| a.starts_with('…') || a.ends_with('…'))
                || args[0] == "--help"
                || args.iter().any(|a| a == "--help")
            {
                continue;
            }
            if own.contains(&args[0]) && args.len() == 1 {
                checked += 1;
                continue;
            }
            if let Err(error) = parses(&args) {
                panic!("{}: `cargo xtask {}` does not parse:\n{error}", file.display(), args.join(" "));
            }
            checked += 1;
        }
    }
    assert!(checked >= 20, "expected the workflows, README and book to run cargo xtask, found {checked} commands");
}

#[test]
fn the_checker_rejects_what_the_cli_would() {
    let lines = "run: cargo xtask release --execute --db-repository \"$TRIVY_DB\"\n  cargo xtask relase\n  cargo xtask ci --no-such-flag";
    let found = xtask_invocations(lines);
    assert_eq!(found[0], ["release", "--execute", "--db-repository", "$TRIVY_DB"]);
    assert!(parses(&found[0]).is_ok());
    assert!(parses(&found[1]).is_err(), "a misspelt subcommand must fail");
    assert!(parses(&found[2]).is_err(), "an unknown flag must fail");
}
