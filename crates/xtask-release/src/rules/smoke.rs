//! What the smoke test expects a binary to print, pure: the contract of `--version` output.
//!
//! By default the binary runs with `--version` and one of its lines must name the image's version
//! as a word of its own: `name 1.2.3`, `name v1.2.3`, `name 1.2.3 (rev abc1234 2025-01-01)`, or a
//! first line among several (clap, `git describe` and most CLIs print one of these). An image may
//! name its own arguments and expected output (`{version}` standing for the version), or turn the
//! version check off with a stated reason (`[workspace.metadata.xtask.images.<name>.smoke]`).

use crate::rules::config::SmokeConfig;

/// Checks `output` (stdout of the smoke command) against the contract; `Err` says what was expected.
pub fn check(smoke: &SmokeConfig, output: &str, version: &str) -> Result<(), String> {
    if !smoke.version_check {
        return Ok(());
    }
    let command = smoke.args.join(" ");
    if let Some(expect) = &smoke.expect {
        let expected = expect.replace("{version}", version);
        if output.contains(&expected) {
            return Ok(());
        }
        return Err(format!(
            "`{command}` printed {:?}, which does not contain {expected:?} (smoke.expect with version {version})",
            output.trim()
        ));
    }
    if names_version(output, version) {
        return Ok(());
    }
    Err(format!(
        "`{command}` printed {:?}, expected a line naming the version {version} (`name {version}`, `name v{version}`, \
         `name {version} (…)`); set [….smoke] expect, or version-check = false with a reason, if it prints it otherwise",
        output.trim()
    ))
}

/// Whether a line of `output` has `version` (or `v` + `version`) as a word, punctuation around it aside.
pub fn names_version(output: &str, version: &str) -> bool {
    output.lines().any(|line| {
        line.split_whitespace().any(|word| {
            let word = word.trim_matches(|c: char| matches!(c, ',' | ';' | ':' | '(' | ')' | '[' | ']' | '"' | '\''));
            word == version || word.strip_prefix('v') == Some(version)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_version_output_shapes_pass_and_near_misses_fail() {
        let table: [(&str, bool); 14] = [
            ("beacon 1.2.3\n", true),
            ("beacon v1.2.3\n", true),
            ("beacon 1.2.3 (rev 0123abc 2025-01-01)\n", true),
            ("beacon 1.2.3 (0123abc)", true),
            ("Beacon service\nversion: 1.2.3\nbuilt: 2025-01-01\n", true),
            ("beacon-cli, version 1.2.3,\n", true),
            ("1.2.3\n", true),
            ("beacon 1.2.30\n", false),
            ("beacon 11.2.3\n", false),
            ("beacon 1.2.3-rc.1\n", false),
            ("beacon 1.2\n", false),
            ("beacon vv1.2.3\n", false),
            ("", false),
            ("usage: beacon [OPTIONS]\n", false),
        ];
        for (output, passes) in table {
            assert_eq!(names_version(output, "1.2.3"), passes, "{output:?}");
            assert_eq!(check(&SmokeConfig::default(), output, "1.2.3").is_ok(), passes, "{output:?}");
        }
        assert!(names_version("app 1.2.3-rc.1 (rev x)\n", "1.2.3-rc.1"));
        let error = check(&SmokeConfig::default(), "usage: beacon\n", "1.2.3").unwrap_err();
        assert!(error.contains("`--version` printed \"usage: beacon\"") && error.contains("1.2.3"), "{error}");
    }

    #[test]
    fn an_image_may_name_its_own_command_and_output_or_skip_the_check() {
        let own = SmokeConfig {
            args: vec!["version".into(), "--short".into()],
            expect: Some("release-{version}".into()),
            ..SmokeConfig::default()
        };
        assert!(check(&own, "release-1.2.3\n", "1.2.3").is_ok());
        let error = check(&own, "beacon 1.2.3\n", "1.2.3").unwrap_err();
        assert!(error.contains("`version --short`") && error.contains("\"release-1.2.3\""), "{error}");
        let off =
            SmokeConfig { version_check: false, reason: Some("prints a banner".into()), ..SmokeConfig::default() };
        assert!(check(&off, "anything", "1.2.3").is_ok());
    }
}
