//! A second Docker engine on this machine, for the tests that build somewhere else than the local
//! engine: its own dockerd with its own socket, data root, exec root and containerd namespace (on
//! the testbed's containerd), the containerd image store, and a network bridge of its own without
//! NAT (nothing it builds may reach out: the tests give it a registry cache; and `--bridge=none`
//! would make it delete the first engine's docker0), reached through a docker context of its own
//! name, which buildx lists as a builder. It starts with an empty build cache, as a fresh CI
//! runner or a shared BuildKit engine would, and is removed — context, daemon, namespace, files —
//! when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct SecondEngine {
    /// The docker context (and buildx builder) name.
    pub name: String,
    pub host: String,
    dir: PathBuf,
    bridge: String,
    daemon: Child,
}

impl SecondEngine {
    pub fn start() -> SecondEngine {
        let name = format!("xtask-second-{}", std::process::id());
        let dir = std::env::temp_dir().join(&name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("daemon.json"), r#"{"features":{"containerd-snapshotter":true}}"#).unwrap();
        let host = format!("unix://{}", dir.join("docker.sock").display());
        let bridge = format!("xtask-br{}", std::process::id() % 100_000);
        // A /24 no other interface has (two test binaries may each start one: scale_out, fanout).
        let taken = String::from_utf8(Command::new("ip").args(["-o", "-4", "addr"]).output().unwrap().stdout).unwrap();
        let subnet = (0..250)
            .map(|n| (std::process::id() + n) % 250)
            .find(|n| !taken.contains(&format!(" 10.199.{n}.")))
            .expect("a free 10.199.X.0/24");
        let address = format!("10.199.{subnet}.1/24");
        for args in [
            vec!["link", "add", &bridge, "type", "bridge"],
            vec!["addr", "add", &address, "dev", &bridge],
            vec!["link", "set", &bridge, "up"],
        ] {
            let ip = Command::new("ip").args(&args).output().expect("ip (iproute2)");
            assert!(ip.status.success(), "ip {args:?}: {}", String::from_utf8_lossy(&ip.stderr));
        }
        let log = std::fs::File::create(dir.join("dockerd.log")).unwrap();
        // The testbed engine's own dockerd (its toolset's, with its docker-proxy, shim and runc
        // beside it), so the two engines are one version; else the one on PATH.
        let testbed = std::fs::read_to_string("/var/run/docker.pid")
            .ok()
            .and_then(|pid| std::fs::read_link(format!("/proc/{}/exe", pid.trim())).ok());
        let mut daemon = Command::new(testbed.as_deref().unwrap_or(Path::new("dockerd")));
        if let Some(bin) = testbed.as_deref().and_then(Path::parent) {
            let path = std::env::var("PATH").unwrap_or_default();
            daemon.env("PATH", format!("{}:{path}", bin.display()));
        }
        let daemon = daemon
            .arg("--host")
            .arg(&host)
            .arg("--data-root")
            .arg(dir.join("data"))
            .arg("--exec-root")
            .arg(dir.join("exec"))
            .arg("--pidfile")
            .arg(dir.join("dockerd.pid"))
            .arg("--config-file")
            .arg(dir.join("daemon.json"))
            .args(["--containerd", "/run/containerd/containerd.sock"])
            .args(["--containerd-namespace", &name, "--containerd-plugins-namespace", &format!("{name}-plugins")])
            .args(["--bridge", &bridge, "--iptables=false", "--ip6tables=false"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start a second dockerd");
        let engine = SecondEngine { name, host, dir, bridge, daemon };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !engine.docker(&["info"]).status.success() {
            let log = std::fs::read_to_string(engine.dir.join("dockerd.log")).unwrap_or_default();
            assert!(Instant::now() < deadline, "the second dockerd did not start:\n{log}");
            std::thread::sleep(Duration::from_millis(200));
        }
        let context = Command::new("docker")
            .args(["context", "create", &engine.name, "--docker", &format!("host={}", engine.host)])
            .output()
            .unwrap();
        assert!(context.status.success(), "docker context create: {}", String::from_utf8_lossy(&context.stderr));
        engine
    }

    /// `docker` against this engine.
    pub fn docker(&self, args: &[&str]) -> std::process::Output {
        Command::new("docker").arg("--host").arg(&self.host).args(args).output().unwrap()
    }

    /// Copies an image of the local engine into this one (the base images: nothing can be pulled).
    pub fn copy_image(&self, reference: &str) {
        let mut save = Command::new("docker").args(["save", reference]).stdout(Stdio::piped()).spawn().unwrap();
        let load = Command::new("docker")
            .arg("--host")
            .arg(&self.host)
            .args(["load", "--quiet"])
            .stdin(save.stdout.take().unwrap())
            .output()
            .unwrap();
        assert!(save.wait().unwrap().success(), "docker save {reference}");
        assert!(load.status.success(), "copy {reference}: {}", String::from_utf8_lossy(&load.stderr));
    }
}

impl Drop for SecondEngine {
    fn drop(&mut self) {
        let _ = self.docker(&["buildx", "prune", "--all", "--force"]);
        let _ = self.docker(&["system", "prune", "--all", "--force"]);
        let _ = Command::new("docker").args(["context", "rm", "--force", &self.name]).output();
        let _ = Command::new("kill").arg(self.daemon.id().to_string()).status();
        let _ = self.daemon.wait();
        // What the engine left in its containerd namespaces, then the namespaces themselves.
        for namespace in [self.name.clone(), format!("{}_history", self.name), format!("{}-plugins", self.name)] {
            let ctr = |args: &[&str]| Command::new("ctr").arg("--namespace").arg(&namespace).args(args).output();
            for (list, remove) in [(["images", "ls", "-q"], "images"), (["content", "ls", "-q"], "content")] {
                if let Ok(out) = ctr(&list) {
                    for item in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                        let _ = ctr(&[remove, "rm", item]);
                    }
                }
            }
            for _ in 0..5 {
                let Ok(out) = ctr(&["snapshots", "ls"]) else { break };
                let keys: Vec<String> = String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .skip(1)
                    .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
                    .collect();
                if keys.is_empty() {
                    break;
                }
                for key in keys {
                    let _ = ctr(&["snapshots", "rm", &key]);
                }
            }
            if let Ok(out) = ctr(&["leases", "ls", "-q"]) {
                for lease in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                    let _ = ctr(&["leases", "rm", lease]);
                }
            }
            let _ = Command::new("ctr").args(["namespaces", "rm", &namespace]).output();
        }
        let _ = Command::new("ip").args(["link", "delete", &self.bridge]).output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
