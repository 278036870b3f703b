//! Image size budgets, pure: what an image weighs (`image_size`: its platform manifest's config and
//! compressed layers, the bytes a pull downloads and a registry stores), the `max-size` values of the
//! configuration (`"20MiB"`), the check that stops a build over its budget before anything is pushed,
//! and the growth the release notes flag.

use anyhow::{bail, Result};

/// Growth of a platform's size from one release to the next that the release notes flag, in percent.
pub const GROWTH_FLAG_PERCENT: f64 = 10.0;

/// The size of one platform's image as pushed: its config blob and its layers, as its manifest
/// lists them (the manifest itself, a few hundred bytes, is left out).
pub fn image_size(config: u64, layers: impl IntoIterator<Item = u64>) -> u64 {
    layers.into_iter().fold(config, u64::saturating_add)
}

/// A size as the configuration writes it: a number (decimals allowed) and a unit, `B`, `kB`/`KB`,
/// `MB`, `GB` (powers of 1000) or `KiB`, `MiB`, `GiB` (powers of 1024), e.g. `"20MiB"`, `"1.5 GiB"`,
/// `"512KiB"`, `"20MB"`. `Err` says what is wrong, for the key's error.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let split = trimmed.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(trimmed.len());
    let (number, unit) = (&trimmed[..split], trimmed[split..].trim());
    let explain =
        |why: &str| format!("{text:?} {why}: write a size such as \"20MiB\", \"512KiB\", \"1.5GiB\" or \"20MB\"");
    let value: f64 = match number.parse() {
        Ok(value) if number.chars().next().is_some_and(|c| c.is_ascii_digit()) => value,
        _ => return Err(explain("has no number")),
    };
    let factor: u64 = match unit {
        "B" => 1,
        "kB" | "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "" => return Err(explain("has no unit")),
        _ => return Err(explain(&format!("has the unknown unit {unit:?}"))),
    };
    let bytes = (value * factor as f64).round();
    if bytes < 1.0 || bytes > u64::MAX as f64 {
        return Err(explain("is not a size above zero"));
    }
    Ok(bytes as u64)
}

/// `bytes` for people, in the binary units budgets are usually written in: `19.6 MiB`, `812.0 KiB`.
pub fn human(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / (1u64 << 10) as f64),
        b => format!("{b} B"),
    }
}

/// Every platform of image `image` over its budget `max_size` (bytes), each platform given with its
/// size: one error naming each, with its size and the budget, and what to do.
pub fn check(image: &str, max_size: Option<u64>, platforms: &[(&str, u64)]) -> Result<()> {
    let Some(budget) = max_size else { return Ok(()) };
    let over: Vec<String> = platforms
        .iter()
        .filter(|(_, size)| *size > budget)
        .map(|(platform, size)| {
            format!(
                "image {image} on {platform} weighs {} ({size} bytes), over its max-size of {}",
                human(*size),
                human(budget)
            )
        })
        .collect();
    if !over.is_empty() {
        bail!(
            "{}: nothing was pushed. Make the image smaller, or raise \
             workspace.metadata.xtask.images.{image}.max-size in the root Cargo.toml",
            over.join("; ")
        );
    }
    Ok(())
}

/// Whether a platform's size grew by more than `GROWTH_FLAG_PERCENT` from `from` to `to`: the
/// growth in percent, for the release notes to flag.
pub fn flagged_growth(from: Option<u64>, to: Option<u64>) -> Option<f64> {
    let (from, to) = (from.filter(|f| *f > 0)?, to?);
    let percent = (to as f64 - from as f64) * 100.0 / from as f64;
    (percent > GROWTH_FLAG_PERCENT).then_some(percent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_in_decimal_and_binary_units() {
        let table = [
            ("20MiB", 20 << 20),
            ("512KiB", 512 << 10),
            ("1.5GiB", 3 << 29),
            ("20MB", 20_000_000),
            ("20 MB", 20_000_000),
            ("64kB", 64_000),
            ("64KB", 64_000),
            ("2GB", 2_000_000_000),
            ("1000B", 1000),
            (" 0.5MiB ", 1 << 19),
        ];
        for (text, bytes) in table {
            assert_eq!(parse_size(text), Ok(bytes), "{text}");
        }
    }

    #[test]
    fn bad_sizes_say_what_is_wrong() {
        let table = [
            ("20", "has no unit"),
            ("MiB", "has no number"),
            ("", "has no number"),
            ("-1MiB", "has no number"),
            (".5MiB", "has no number"),
            ("20mib", "unknown unit \"mib\""),
            ("20 TB", "unknown unit \"TB\""),
            ("1.2.3MiB", "has no number"),
            ("0MiB", "not a size above zero"),
        ];
        for (text, why) in table {
            let error = parse_size(text).unwrap_err();
            assert!(error.contains(why) && error.contains("\"20MiB\""), "{text:?}: {error}");
        }
    }

    #[test]
    fn an_image_weighs_its_config_and_layers() {
        assert_eq!(image_size(1_234, [10_000, 2_000_000]), 2_011_234);
        assert_eq!(image_size(500, []), 500);
    }

    #[test]
    fn a_budget_names_each_platform_over_it() {
        let platforms = [("linux/amd64", 3 << 20), ("linux/arm64", 5 << 20), ("linux/arm/v7", 1 << 20)];
        assert!(check("beacon", None, &platforms).is_ok(), "no budget, no check");
        assert!(check("beacon", Some(5 << 20), &platforms).is_ok(), "at the budget is within it");
        let error = check("beacon", Some(2 << 20), &platforms).unwrap_err().to_string();
        for expected in [
            "image beacon on linux/amd64 weighs 3.0 MiB (3145728 bytes), over its max-size of 2.0 MiB",
            "image beacon on linux/arm64 weighs 5.0 MiB",
            "nothing was pushed",
            "workspace.metadata.xtask.images.beacon.max-size",
        ] {
            assert!(error.contains(expected), "{expected:?} in {error}");
        }
        assert!(!error.contains("linux/arm/v7"), "{error}");
    }

    #[test]
    fn sizes_read_in_binary_units() {
        assert_eq!(human(900), "900 B");
        assert_eq!(human(812 << 10), "812.0 KiB");
        assert_eq!(human(20_552_089), "19.6 MiB");
        assert_eq!(human(3 << 29), "1.5 GiB");
    }

    #[test]
    fn growth_above_the_threshold_is_flagged() {
        assert_eq!(flagged_growth(Some(1000), Some(1100)), None, "10 % is at the threshold");
        assert_eq!(flagged_growth(Some(1000), Some(1250)), Some(25.0));
        assert_eq!(flagged_growth(Some(1000), Some(500)), None, "shrinking is never flagged");
        assert_eq!(flagged_growth(None, Some(500)), None, "a new platform has no growth");
        assert_eq!(flagged_growth(Some(1000), None), None);
        assert_eq!(flagged_growth(Some(0), Some(10)), None);
    }
}
