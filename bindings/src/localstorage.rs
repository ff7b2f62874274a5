//! `bindings.localstorage`: files under a root directory (`rootPath`):
//! create, get, list, delete. Every path stays inside the root: a name with
//! `..`, an absolute name, or one that leads out through a symlink is
//! refused.

use std::path::{Component, Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;

use super::{Error, Metadata, Output, Request, Response};

pub const KEYS: &[&str] = &["rootPath"];

/// Listings stop here rather than grow without bound.
const MAX_LISTED: usize = 100_000;

/// Where no root may be.
const DISALLOWED: &[&str] = &["/proc", "/sys", "/boot", "/var/run/secrets", "/run/secrets"];

pub struct LocalStorage {
    root: PathBuf,
}

impl LocalStorage {
    pub fn new(metadata: &Metadata) -> Result<LocalStorage, Error> {
        let root = metadata.required("rootPath")?;
        let bad = |m: String| Error::config("rootPath", m);
        std::fs::create_dir_all(root).map_err(|e| bad(format!("{root}: {e}")))?;
        let root = std::fs::canonicalize(root).map_err(|e| bad(format!("{root}: {e}")))?;
        if !root.is_dir() {
            return Err(bad(format!(
                "{} is a file, not a directory",
                root.display()
            )));
        }
        if DISALLOWED.iter().any(|d| root.starts_with(d)) || root == Path::new("/") {
            return Err(bad(format!(
                "{} is not a place for a binding's files",
                root.display()
            )));
        }
        Ok(LocalStorage { root })
    }

    /// The path of `name` under the root, refused if it would leave it.
    fn path(&self, name: &str) -> Result<PathBuf, Error> {
        let relative = Path::new(name);
        let escapes = relative
            .components()
            .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir));
        if escapes {
            return Err(Error::BadRequest(format!(
                "fileName '{name}' must be a relative path inside the root, without '..'"
            )));
        }
        Ok(self.root.join(relative))
    }

    /// Checks that `path`, as the file system resolves it (symlinks and
    /// all), is inside the root.
    async fn confined(&self, path: &Path) -> Result<(), Error> {
        let real = tokio::fs::canonicalize(path)
            .await
            .map_err(|e| Error::Backend(format!("{}: {e}", path.display())))?;
        if real.starts_with(&self.root) {
            Ok(())
        } else {
            Err(Error::BadRequest(format!(
                "{} leads outside the root",
                path.display()
            )))
        }
    }

    async fn create(&self, request: Request) -> Result<Response, Error> {
        let name = match request.metadata.get("fileName") {
            Some(n) if !n.is_empty() => n.clone(),
            _ => uuid::Uuid::new_v4().to_string(),
        };
        let path = self.path(&name)?;
        let parent = path.parent().unwrap_or(&self.root);
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(|e| Error::Backend(format!("{}: {e}", parent.display())))?;
        self.confined(parent).await?;
        if tokio::fs::symlink_metadata(&path).await.is_ok() {
            self.confined(&path).await?;
        }
        tokio::fs::write(&path, decoded(&request.data))
            .await
            .map_err(|e| Error::Backend(format!("error writing file {}: {e}", path.display())))?;
        let body = serde_json::json!({ "fileName": name });
        Ok(Response {
            data: Some(Bytes::from(body.to_string())),
            ..Response::default()
        })
    }

    async fn get(&self, request: &Request) -> Result<Response, Error> {
        let path = self.path(request.metadata.get("fileName").map_or("", String::as_str))?;
        if tokio::fs::symlink_metadata(&path).await.is_err() {
            return Err(Error::Backend(format!(
                "file not found: {}",
                path.display()
            )));
        }
        self.confined(&path).await?;
        let data = tokio::fs::read(&path)
            .await
            .map_err(|e| Error::Backend(format!("error reading file {}: {e}", path.display())))?;
        Ok(Response {
            data: Some(data.into()),
            ..Response::default()
        })
    }

    async fn list(&self, request: &Request) -> Result<Response, Error> {
        let dir = self.path(request.metadata.get("fileName").map_or("", String::as_str))?;
        self.confined(&dir).await?;
        let root = self.root.clone();
        let files = tokio::task::spawn_blocking(move || walk(&root, &dir))
            .await
            .map_err(Error::backend)??;
        let body = if files.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::json!(files)
        };
        Ok(Response {
            data: Some(Bytes::from(body.to_string())),
            ..Response::default()
        })
    }

    async fn delete(&self, request: &Request) -> Result<Response, Error> {
        let path = self.path(request.metadata.get("fileName").map_or("", String::as_str))?;
        if path == self.root {
            return Err(Error::BadRequest("fileName is required to delete".into()));
        }
        let gone = |e: std::io::Error| {
            Error::Backend(format!("error deleting file {}: {e}", path.display()))
        };
        let meta = tokio::fs::symlink_metadata(&path).await.map_err(gone)?;
        if meta.is_dir() {
            tokio::fs::remove_dir(&path).await.map_err(gone)?;
        } else {
            // A symlink is removed itself, never what it points to.
            tokio::fs::remove_file(&path).await.map_err(gone)?;
        }
        Ok(Response::default())
    }
}

/// The data as daprd's local storage writes it: a JSON string unquoted, and
/// text that is valid (padded) base64 decoded, as Dapr documents.
fn decoded(data: &[u8]) -> Vec<u8> {
    let text = match serde_json::from_slice::<String>(data) {
        Ok(s) => s.into_bytes(),
        Err(_) => data.to_vec(),
    };
    STANDARD.decode(&text).unwrap_or(text)
}

/// Every regular file under `dir` (absolute paths, sorted), within `root`.
fn walk(root: &Path, dir: &Path) -> Result<Vec<String>, Error> {
    let meta = std::fs::metadata(dir).map_err(|e| {
        Error::Backend(format!(
            "error getting stats for path {}: {e}",
            dir.display()
        ))
    })?;
    if !meta.is_dir() {
        return Err(Error::Backend(format!(
            "unable to list files as the file specified is not a directory: {}",
            dir.display()
        )));
    }
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        let entries = std::fs::read_dir(&next)
            .map_err(|e| Error::Backend(format!("{}: {e}", next.display())))?;
        for entry in entries.filter_map(|e| e.ok()) {
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let path = entry.path();
            if kind.is_dir() {
                pending.push(path);
            } else if kind.is_file() && path.starts_with(root) {
                if files.len() == MAX_LISTED {
                    return Err(Error::Backend(format!(
                        "more than {MAX_LISTED} files to list"
                    )));
                }
                files.push(path.display().to_string());
            }
        }
    }
    files.sort();
    Ok(files)
}

#[async_trait::async_trait]
impl Output for LocalStorage {
    fn operations(&self) -> &'static [&'static str] {
        &["create", "get", "list", "delete"]
    }

    async fn invoke(&self, request: Request) -> Result<Response, Error> {
        match request.operation.as_str() {
            "create" => self.create(request).await,
            "get" => self.get(&request).await,
            "list" => self.list(&request).await,
            "delete" => self.delete(&request).await,
            other => Err(Error::BadRequest(format!("unsupported operation {other}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn storage(dir: &Path) -> LocalStorage {
        let m: Metadata = [("rootPath", dir.display().to_string())]
            .into_iter()
            .collect();
        LocalStorage::new(&m).unwrap()
    }

    fn request(op: &str, file: &str, data: &str) -> Request {
        Request {
            operation: op.into(),
            data: Bytes::from(data.to_owned()),
            metadata: [("fileName".to_owned(), file.to_owned())]
                .into_iter()
                .collect(),
        }
    }

    #[tokio::test]
    async fn create_get_list_delete() {
        let dir = tempfile::tempdir().unwrap();
        let s = storage(dir.path());
        let r = s
            .invoke(request("create", "a/b.txt", r#""hello world""#))
            .await
            .unwrap();
        assert_eq!(r.data.unwrap(), r#"{"fileName":"a/b.txt"}"#);
        let got = s.invoke(request("get", "a/b.txt", "")).await.unwrap();
        assert_eq!(got.data.unwrap(), "hello world");
        // Base64 is decoded, as Dapr documents for uploads.
        s.invoke(request("create", "bin", r#""AAEC""#))
            .await
            .unwrap();
        assert_eq!(
            s.invoke(request("get", "bin", ""))
                .await
                .unwrap()
                .data
                .unwrap(),
            &[0u8, 1, 2][..]
        );
        let listed = s
            .invoke(request("list", "", ""))
            .await
            .unwrap()
            .data
            .unwrap();
        let listed: Vec<String> = serde_json::from_slice(&listed).unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        assert_eq!(
            listed,
            [
                root.join("a/b.txt").display().to_string(),
                root.join("bin").display().to_string()
            ]
        );
        assert_eq!(
            s.invoke(request("delete", "a/b.txt", ""))
                .await
                .unwrap()
                .data,
            None
        );
        assert!(s.invoke(request("get", "a/b.txt", "")).await.is_err());
        assert_eq!(
            s.invoke(request("list", "a", ""))
                .await
                .unwrap()
                .data
                .unwrap(),
            "null"
        );
    }

    #[tokio::test]
    async fn nothing_leaves_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "x").unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("link")).unwrap();
        let s = storage(dir.path());
        for name in ["../x", "/etc/passwd", "a/../../x"] {
            assert!(
                matches!(
                    s.invoke(request("create", name, "1")).await,
                    Err(Error::BadRequest(_))
                ),
                "{name}"
            );
            assert!(s.invoke(request("get", name, "")).await.is_err(), "{name}");
        }
        assert!(
            s.invoke(request("get", "link/secret", "")).await.is_err(),
            "through a symlink"
        );
        assert!(s.invoke(request("create", "link/new", "1")).await.is_err());
        assert!(!outside.path().join("new").exists());
        assert!(s.invoke(request("list", "link", "")).await.is_err());
    }
}
