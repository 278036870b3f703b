//! The docs book (`docs/src/`), the README and CONTRIBUTING.md: every internal link resolves — a
//! relative link to a file that exists, an `#anchor` to a heading of that page (mdBook's ids) —
//! every page is in SUMMARY.md, and no page written for users talks about this repository's own
//! CI machines (that is CONTRIBUTING.md's job). mdBook 0.5 checks none of this itself.
//! (`cargo xtask book` builds the book; `xtask/tests/reference.rs` checks the references against
//! the code and `xtask/tests/commands_parse.rs` every `cargo xtask …` line.)

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
use support::workspace_root;

fn pages() -> Vec<PathBuf> {
    let mut pages: Vec<PathBuf> = std::fs::read_dir(workspace_root().join("docs/src"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    pages.sort();
    pages
}

/// The user-facing Markdown: the book's pages and the README.
fn user_pages() -> Vec<PathBuf> {
    let mut pages = pages();
    pages.push(workspace_root().join("README.md"));
    pages
}

/// mdBook's id for a heading: lower case, alphanumerics, `-` and `_` kept, whitespace to `-`.
fn heading_id(text: &str) -> String {
    text.chars()
        .filter_map(|c| match c {
            c if c.is_alphanumeric() || c == '_' || c == '-' => Some(c.to_lowercase().next().unwrap()),
            c if c.is_whitespace() => Some('-'),
            _ => None,
        })
        .collect()
}

struct Page {
    links: Vec<String>,
    anchors: BTreeSet<String>,
}

fn read(path: &Path) -> Page {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut links = Vec::new();
    let mut anchors = BTreeSet::new();
    let mut heading: Option<(String, Option<String>)> = None;
    for event in Parser::new_ext(&text, Options::ENABLE_TABLES | Options::ENABLE_HEADING_ATTRIBUTES) {
        match event {
            Event::Start(Tag::Link { dest_url, .. }) | Event::Start(Tag::Image { dest_url, .. }) => {
                links.push(dest_url.into_string())
            }
            Event::Start(Tag::Heading { id, .. }) => heading = Some((String::new(), id.map(|i| i.into_string()))),
            Event::Text(t) | Event::Code(t) => {
                if let Some((text, _)) = heading.as_mut() {
                    text.push_str(&t);
                }
            }
            Event::End(TagEnd::Heading(_)) => {
                if let Some((text, id)) = heading.take() {
                    let id = id.unwrap_or_else(|| heading_id(&text));
                    // mdBook numbers repeated ids: the second `foo` is `foo-1`.
                    let mut unique = id.clone();
                    let mut n = 1;
                    while !anchors.insert(unique.clone()) {
                        unique = format!("{id}-{n}");
                        n += 1;
                    }
                }
            }
            _ => {}
        }
    }
    Page { links, anchors }
}

fn broken_links(files: &[PathBuf]) -> Vec<String> {
    let mut broken = Vec::new();
    for file in files {
        let page = read(file);
        for link in &page.links {
            if link.contains("://") || link.starts_with("mailto:") {
                continue;
            }
            let (target, anchor) = link.split_once('#').map_or((link.as_str(), None), |(t, a)| (t, Some(a)));
            let path = if target.is_empty() { file.clone() } else { file.parent().unwrap().join(target) };
            let name = format!("{}: ({link})", file.strip_prefix(workspace_root()).unwrap_or(file).display());
            if !path.exists() {
                broken.push(format!("{name}: no file {}", path.display()));
                continue;
            }
            if let Some(anchor) = anchor {
                if path.extension().is_none_or(|e| e != "md") || !read(&path).anchors.contains(anchor) {
                    broken.push(format!("{name}: no heading #{anchor} in {}", path.display()));
                }
            }
        }
    }
    broken
}

#[test]
fn every_internal_link_of_the_book_readme_and_contributing_resolves() {
    let mut files = user_pages();
    files.push(workspace_root().join("CONTRIBUTING.md"));
    let broken = broken_links(&files);
    assert!(broken.is_empty(), "broken links:\n  {}", broken.join("\n  "));
}

#[test]
fn the_link_check_finds_a_missing_page_and_a_missing_heading() {
    let dir = std::env::temp_dir().join(format!("xtask-docs-links-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("a.md"), "# A page\n\n## The `plan` step\n\n[ok](#the-plan-step) [ok](b.md#b-1)\n[gone](c.md) [no heading](b.md#nope) [web](https://example.com/x.md)\n").unwrap();
    std::fs::write(dir.join("b.md"), "# B\n\n## B\n").unwrap();
    let broken = broken_links(&[dir.join("a.md")]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(broken.len(), 2, "{broken:?}");
    assert!(broken[0].contains("(c.md): no file") && broken[1].contains("(b.md#nope): no heading #nope"), "{broken:?}");
}

#[test]
fn every_page_is_in_the_summary_and_every_summary_entry_is_a_page() {
    let summary = read(&workspace_root().join("docs/src/SUMMARY.md"));
    let listed: BTreeSet<String> = summary.links.iter().cloned().collect();
    for page in pages() {
        let name = page.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name == "SUMMARY.md" || listed.contains(&name), "docs/src/{name} is not listed in docs/src/SUMMARY.md");
    }
}

#[test]
fn no_user_page_talks_about_this_repository_s_ci_machines() {
    // Words about the repository's own CI, which belong in CONTRIBUTING.md.
    let words = ["testbed", "test lane", "two lanes", "slow tier", "offline machine", "ci machine", ".ci/testbed.sh"];
    let mut found = Vec::new();
    for page in user_pages() {
        let text = std::fs::read_to_string(&page).unwrap().to_lowercase();
        for (number, line) in text.lines().enumerate() {
            for word in words.iter().filter(|w| line.contains(*w)) {
                found.push(format!(
                    "{}:{}: {word:?}",
                    page.strip_prefix(workspace_root()).unwrap().display(),
                    number + 1
                ));
            }
        }
    }
    assert!(
        found.is_empty(),
        "user docs mention this repository's CI (move it to CONTRIBUTING.md):\n  {}",
        found.join("\n  ")
    );
}

#[test]
fn headings_get_mdbook_s_ids() {
    assert_eq!(heading_id("Registries: HTTPS, and plain HTTP"), "registries-https-and-plain-http");
    assert_eq!(heading_id("`cargo xtask release --local`"), "cargo-xtask-release---local");
}

#[test]
fn the_readme_contributing_and_ci_run_name_the_same_test_command() {
    let read = |path: &str| std::fs::read_to_string(workspace_root().join(path)).unwrap();
    let run = read(".ci/run");
    let command = run.lines().find(|l| l.starts_with("cargo xtask ci ")).expect(".ci/run runs cargo xtask ci");
    let command = command.trim_end_matches(" \"$@\"");
    assert!(
        read("CONTRIBUTING.md").lines().any(|l| l == command),
        "CONTRIBUTING.md shows `{command}`, what .ci/run runs"
    );
    assert!(
        read("README.md").lines().any(|l| l.starts_with("bash .ci/run ")),
        "the README's test command is `bash .ci/run`"
    );
}
