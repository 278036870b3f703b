//! What a reference of the engine must document, derived from the code so a book cannot drift:
//! every configuration key path, traced from the config types' serde definitions (not listed by
//! hand). Behind the `reference` feature (serde-reflection): documentation checks need it, the
//! xtask never does. The command line's reference is [`crate::command`].

use serde_reflection::{ContainerFormat, Format, Registry, Tracer, TracerConfig};

use crate::rules::config::Config;

/// Every key path under `[workspace.metadata.xtask]` (`scan.max-db-age`; a map's key as `<name>`:
/// `images.<name>.platforms`), traced from the serde definitions of `Config` and the types it holds.
pub fn config_keys() -> Vec<String> {
    let mut tracer = Tracer::new(TracerConfig::default());
    tracer.trace_simple_type::<Config>().expect("the config types can be traced");
    let registry = tracer.registry_unchecked();
    let mut keys = Vec::new();
    walk_struct(&registry, "Config", "", &mut keys);
    keys
}

fn walk_struct(registry: &Registry, name: &str, prefix: &str, keys: &mut Vec<String>) {
    let Some(ContainerFormat::Struct(fields)) = registry.get(name) else { return };
    for field in fields {
        walk(registry, &field.value, &format!("{prefix}{}", field.name), keys);
    }
}

fn walk(registry: &Registry, format: &Format, path: &str, keys: &mut Vec<String>) {
    match format {
        Format::Option(inner) => walk(registry, inner, path, keys),
        Format::Map { value, .. } if table(registry, value) => walk(registry, value, &format!("{path}.<name>"), keys),
        Format::TypeName(name) if matches!(registry.get(name), Some(ContainerFormat::Struct(_))) => {
            walk_struct(registry, name, &format!("{path}."), keys)
        }
        _ => keys.push(path.to_owned()),
    }
}

/// Whether a map's values are tables of their own keys (`images.<name>`), not plain values.
fn table(registry: &Registry, format: &Format) -> bool {
    match format {
        Format::Option(inner) => table(registry, inner),
        Format::TypeName(name) => matches!(registry.get(name), Some(ContainerFormat::Struct(_))),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_key_derivation_sees_nested_tables_maps_and_optional_keys() {
        let keys = config_keys();
        for expected in [
            "release-branches",
            "images.<name>.platforms",
            "images.<name>.binary",
            "scan.max-db-age",
            "cache.registry",
            "signing.tlog-upload",
        ] {
            assert!(keys.iter().any(|k| k == expected), "{expected} not derived: {keys:?}");
        }
    }
}
