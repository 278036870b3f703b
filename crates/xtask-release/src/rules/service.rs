//! The service contract of an image built as a service, pure: the port it listens on (`PORT`,
//! `EXPOSE`, the smoke test's probe) and its HEALTHCHECK — the Dockerfile's own (`/app healthcheck`
//! in the engine's), a command of the image's own, or none, with a reason.
//!
//! A Dockerfile's HEALTHCHECK takes no build args, so a command of the image's own (or none) is a
//! stage the engine appends to the Dockerfile for that image's build: `FROM service AS
//! xtask-service` with its HEALTHCHECK (`generated_stage`), built as the target instead.

use serde::{Deserialize, Serialize};

use crate::rules::config::ImageConfig;

/// The target that builds a service (the engine's Dockerfile's last stage).
pub const SERVICE_TARGET: &str = "service";
/// The stage the engine appends for a HEALTHCHECK of the image's own.
pub const GENERATED_TARGET: &str = "xtask-service";
/// The port of the engine's Dockerfile (`ARG PORT=8080`).
pub const DEFAULT_PORT: u16 = 8080;
/// The HEALTHCHECK of the engine's Dockerfile.
pub const DEFAULT_HEALTHCHECK: [&str; 2] = ["/app", "healthcheck"];
/// The engine's HEALTHCHECK timings, kept by a command of the image's own.
const TIMINGS: &str = "--interval=30s --timeout=3s --start-period=5s --retries=3";

/// A service image's contract (the plan's `images[].service`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Service {
    /// The port it listens on.
    pub port: u16,
    /// Whether `port` is configured: the build then passes it as `PORT` (otherwise the
    /// Dockerfile's default applies).
    pub port_configured: bool,
    /// The HEALTHCHECK command (exec form); empty when it has none.
    pub healthcheck: Vec<String>,
    /// Whether the command is the image's own (`healthcheck`), not the Dockerfile's.
    pub healthcheck_configured: bool,
    /// Why it has no HEALTHCHECK (`no-healthcheck`): the smoke test probes its port instead.
    pub no_healthcheck: Option<String>,
}

impl Service {
    /// The image's service contract, when it builds the service target (named, or the default last
    /// stage).
    pub fn of(image: &ImageConfig) -> Option<Service> {
        if image.target.as_deref().is_some_and(|t| t != SERVICE_TARGET) {
            return None;
        }
        let default = || DEFAULT_HEALTHCHECK.iter().map(|a| (*a).to_owned()).collect();
        let healthcheck = match (&image.healthcheck, &image.no_healthcheck) {
            (_, Some(_)) => Vec::new(),
            (Some(command), None) => command.clone(),
            (None, None) => default(),
        };
        Some(Service {
            port: image.port.unwrap_or(DEFAULT_PORT),
            port_configured: image.port.is_some(),
            healthcheck_configured: image.healthcheck.as_ref().is_some_and(|c| *c != default()),
            healthcheck,
            no_healthcheck: image.no_healthcheck.clone(),
        })
    }

    /// The stage appended to the Dockerfile for the image `name`, when its HEALTHCHECK is not the
    /// Dockerfile's: `FROM service AS xtask-service` with its own (or `HEALTHCHECK NONE`).
    pub fn generated_stage(&self, name: &str) -> Option<String> {
        let instruction = match (&self.no_healthcheck, self.healthcheck_configured) {
            (Some(_), _) => "HEALTHCHECK NONE".to_owned(),
            (None, true) => {
                let command = serde_json::to_string(&self.healthcheck).unwrap_or_default();
                format!("HEALTHCHECK {TIMINGS} CMD {command}")
            }
            (None, false) => return None,
        };
        Some(format!(
            "\n# Appended by xtask-release for images.{name} (a HEALTHCHECK takes no build args).\n\
             FROM {SERVICE_TARGET} AS {GENERATED_TARGET}\n{instruction}\n"
        ))
    }

    /// How the plan lists it: `port 8080, healthcheck /app healthcheck`.
    pub fn describe(&self) -> String {
        let port =
            if self.port_configured { format!("port {}", self.port) } else { format!("port {} (default)", self.port) };
        match &self.no_healthcheck {
            Some(reason) => format!("{port}, no healthcheck ({reason}): the smoke test probes the port"),
            None => format!("{port}, healthcheck {}", self.healthcheck.join(" ")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::config::Config;

    fn image(table: serde_json::Value) -> ImageConfig {
        let mut base = serde_json::json!({
            "package": "app", "platforms": ["linux/amd64"], "repositories": ["ghcr.io/acme/app"],
        });
        base.as_object_mut().unwrap().extend(table.as_object().unwrap().clone());
        let config = Config::from_metadata(&serde_json::json!({ "xtask": { "images": { "app": base } } })).unwrap();
        config.images["app"].clone()
    }

    #[test]
    fn the_defaults_are_the_engine_dockerfiles_and_need_no_stage() {
        let service = Service::of(&image(serde_json::json!({}))).unwrap();
        assert_eq!((service.port, service.port_configured), (8080, false));
        assert_eq!(service.healthcheck, ["/app", "healthcheck"]);
        assert_eq!(service.generated_stage("app"), None);
        assert_eq!(service.describe(), "port 8080 (default), healthcheck /app healthcheck");
        let same = Service::of(&image(serde_json::json!({"healthcheck": ["/app", "healthcheck"]}))).unwrap();
        assert_eq!(same.generated_stage("app"), None, "the default command, named, is the default");
        assert_eq!(Service::of(&image(serde_json::json!({"target": "runtime"}))), None);
    }

    #[test]
    fn a_command_of_its_own_or_none_is_an_appended_stage() {
        let own = Service::of(&image(serde_json::json!({"port": 9443, "healthcheck": ["/app", "health", "--quick"]})))
            .unwrap();
        assert_eq!(own.describe(), "port 9443, healthcheck /app health --quick");
        let stage = own.generated_stage("app").unwrap();
        assert!(stage.contains("\nFROM service AS xtask-service\n"), "{stage}");
        assert!(
            stage.contains(
                "HEALTHCHECK --interval=30s --timeout=3s --start-period=5s --retries=3 CMD [\"/app\",\"health\",\"--quick\"]\n"
            ),
            "{stage}"
        );
        let none = Service::of(&image(serde_json::json!({"no-healthcheck": "a queue worker"}))).unwrap();
        assert!(none.healthcheck.is_empty());
        assert!(none.generated_stage("app").unwrap().ends_with("HEALTHCHECK NONE\n"));
        assert!(none.describe().contains("no healthcheck (a queue worker): the smoke test probes the port"));
    }
}
