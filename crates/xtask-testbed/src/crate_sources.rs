//! Dependency sources other than crates.io, on this machine: a private sparse cargo registry served
//! from a directory over loopback HTTP that answers nothing without its token (`auth-required`),
//! and a bare git repository of crates reached by a `file://` URL. Crates are added from source
//! directories (`cargo package`), as a registry or a git host would get them.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

/// A sparse registry on a free loopback port, requiring `Authorization: <token>` for every file,
/// `config.json` included (cargo then sends the token it has for the registry). It stops serving
/// when dropped (the port is closed with the test process).
///
/// Its URLs start with a path of their own (`/<pid>-<nanos>/index/`): cargo keeps what it
/// downloaded from a registry under a name made from its index URL, so a registry on a port an
/// earlier run had used would find its `.crate` already there and never be asked for it.
pub struct SparseRegistry {
    pub port: u16,
    /// The path every URL of this registry starts with (`/<pid>-<nanos>`).
    root: String,
    pub dir: PathBuf,
    pub token: String,
    /// Each request: its path, and whether it carried the token.
    pub requests: Arc<Mutex<Vec<(String, bool)>>>,
}

impl SparseRegistry {
    pub fn start(token: &str) -> SparseRegistry {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let root = format!("/{}-{nanos}", std::process::id());
        let dir = std::env::temp_dir().join(format!("xtask-sparse-registry-{}-{port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("index")).unwrap();
        let config = serde_json::json!({
            "dl": format!("http://127.0.0.1:{port}{root}/dl/{{crate}}/{{version}}"),
            "api": format!("http://127.0.0.1:{port}{root}"),
            "auth-required": true,
        });
        std::fs::write(dir.join("index/config.json"), config.to_string()).unwrap();
        let registry = SparseRegistry {
            port,
            root: root.clone(),
            dir: dir.clone(),
            token: token.to_owned(),
            requests: Arc::new(Mutex::new(Vec::new())),
        };
        let (token, requests) = (token.to_owned(), registry.requests.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (dir, root, token, requests) = (dir.clone(), root.clone(), token.clone(), requests.clone());
                std::thread::spawn(move || serve(stream, (&dir, &root), &token, &requests));
            }
        });
        registry
    }

    /// The index URL, as `[registries.NAME] index` takes it.
    pub fn index(&self) -> String {
        format!("sparse+http://127.0.0.1:{}{}/index/", self.port, self.root)
    }

    /// Packages the crate at `source` (`cargo package`) and adds it to the registry: its `.crate`
    /// for download and its line in the index. Its dependencies must be none.
    pub fn publish(&self, source: &Path, name: &str, version: &str) {
        let out = Command::new("cargo")
            .args(["package", "--no-verify", "--allow-dirty", "--offline", "--quiet"])
            .current_dir(source)
            .output()
            .unwrap();
        assert!(out.status.success(), "cargo package: {}", String::from_utf8_lossy(&out.stderr));
        let packaged = source.join(format!("target/package/{name}-{version}.crate"));
        let download = self.dir.join(format!("dl/{name}/{version}"));
        std::fs::create_dir_all(download.parent().unwrap()).unwrap();
        std::fs::copy(&packaged, &download).unwrap();
        let sum = Command::new("sha256sum").arg(&download).output().unwrap();
        let cksum = String::from_utf8_lossy(&sum.stdout).split_whitespace().next().unwrap().to_owned();
        let line = serde_json::json!({
            "name": name, "vers": version, "deps": [], "cksum": cksum, "features": {}, "yanked": false,
        });
        let index = self.dir.join("index").join(index_path(name));
        std::fs::create_dir_all(index.parent().unwrap()).unwrap();
        std::fs::write(index, format!("{line}\n")).unwrap();
    }
}

impl Drop for SparseRegistry {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Where the sparse index keeps a crate's file (`al/td/altdep`, `3/a/abc`).
fn index_path(name: &str) -> String {
    let name = name.to_lowercase();
    match name.len() {
        1 | 2 => format!("{}/{name}", name.len()),
        3 => format!("3/{}/{name}", &name[..1]),
        _ => format!("{}/{}/{name}", &name[..2], &name[2..4]),
    }
}

/// One HTTP/1.1 GET on a connection, then closed: 401 without the token, the file, or 404. The
/// path is recorded (and served from `dir`) without the registry's `root`.
fn serve(mut stream: TcpStream, (dir, root): (&Path, &str), token: &str, requests: &Mutex<Vec<(String, bool)>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut first = String::new();
    if reader.read_line(&mut first).is_err() {
        return;
    }
    let requested = first.split_whitespace().nth(1).unwrap_or("/");
    // The path under the registry's root; a request outside it is answered 404.
    let under_root = requested.strip_prefix(root).filter(|p| p.starts_with('/'));
    let path = under_root.unwrap_or(requested).to_owned();
    let mut authorized = false;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            authorized |= name.eq_ignore_ascii_case("authorization") && value.trim() == token;
        }
    }
    requests.lock().unwrap().push((path.clone(), authorized));
    let file = dir.join(path.trim_start_matches('/'));
    let (status, body) = if !authorized {
        ("401 Unauthorized", br#"{"errors":[{"detail":"this registry needs a token"}]}"#.to_vec())
    } else if under_root.is_some() && file.is_file() && !path.contains("..") {
        ("200 OK", std::fs::read(&file).unwrap())
    } else {
        ("404 Not Found", Vec::new())
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n{}\r\n",
        body.len(),
        if authorized { "" } else { "WWW-Authenticate: Cargo login_url=\"http://127.0.0.1/me\"\r\n" }
    );
    let _ = stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(&body));
}

/// A bare git repository of crates, reached as `file://…`, removed when dropped.
pub struct GitCrates {
    pub bare: PathBuf,
    work: PathBuf,
}

impl GitCrates {
    /// An empty bare repository and its work tree, under a directory of their own.
    pub fn new(name: &str) -> GitCrates {
        let root = std::env::temp_dir().join(format!("xtask-git-crates-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let (bare, work) = (root.join(format!("{name}.git")), root.join("work"));
        std::fs::create_dir_all(&work).unwrap();
        git(&root, &["init", "--quiet", "--bare", "--initial-branch=main", bare.to_str().unwrap()]);
        git(&work, &["init", "--quiet", "--initial-branch=main"]);
        GitCrates { bare, work }
    }

    /// The URL a manifest names it by (`git = "…"`).
    pub fn url(&self) -> String {
        format!("file://{}", self.bare.display())
    }

    /// Writes `files` (path → text) into the work tree, commits and pushes them.
    pub fn commit(&self, files: &[(&str, &str)]) {
        for (path, text) in files {
            let path = self.work.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        git(&self.work, &["add", "--all"]);
        git(&self.work, &["commit", "--quiet", "--message", "crates"]);
        git(&self.work, &["push", "--quiet", self.bare.to_str().unwrap(), "main"]);
    }
}

impl Drop for GitCrates {
    fn drop(&mut self) {
        if let Some(root) = self.bare.parent() {
            let _ = std::fs::remove_dir_all(root);
        }
    }
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "Fixture")
        .env("GIT_AUTHOR_EMAIL", "fixture@example.com")
        .env("GIT_COMMITTER_NAME", "Fixture")
        .env("GIT_COMMITTER_EMAIL", "fixture@example.com")
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

#[cfg(test)]
mod tests {
    #[test]
    fn index_paths_follow_cargo() {
        assert_eq!(super::index_path("altdep"), "al/td/altdep");
        assert_eq!(super::index_path("abc"), "3/a/abc");
        assert_eq!(super::index_path("ab"), "2/ab");
        assert_eq!(super::index_path("Serde"), "se/rd/serde");
    }
}
