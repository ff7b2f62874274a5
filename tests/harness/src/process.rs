use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

/// The workspace's root directory.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

/// A loopback port that was free a moment ago, and not given out before by
/// this process.
pub fn free_port() -> u16 {
    // The kernel may hand a released port out again at once: never give one
    // port to two callers of this process (two sidecars, or an app and a
    // sidecar, would then race for it).
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().expect("ports lock");
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("addr")
            .port();
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// The Python interpreter with the pinned Dapr SDK: `JETWAY_PYTHON`, else the
/// workspace's `.venv` that `.ci/run` creates.
pub fn python() -> PathBuf {
    std::env::var_os("JETWAY_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv/bin/python"))
}

/// Waits until something accepts TCP connections on `port`.
pub async fn wait_for_port(port: u16, timeout: Duration) -> anyhow::Result<()> {
    crate::eventually(timeout, || async move {
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .ok()
            .map(|_| ())
    })
    .await
    .map_err(|_| anyhow::anyhow!("nothing listens on port {port} after {timeout:?}"))
}

/// A child process (an app or a sidecar), killed by PID when dropped. Its output
/// goes to a log file that is printed if the test fails.
pub struct App {
    child: Option<tokio::process::Child>,
    log: PathBuf,
    _dir: tempfile::TempDir,
    name: String,
}

impl App {
    /// Starts `program` with `args` and `envs`, logging to a temporary file.
    pub fn spawn(name: &str, program: &Path, args: &[&str], envs: &[(&str, String)]) -> App {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("out.log");
        let file = std::fs::File::create(&log).expect("log file");
        let mut cmd = tokio::process::Command::new(program);
        cmd.args(args)
            .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log file"))
            .stderr(file)
            .kill_on_drop(true);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
        App {
            child: Some(child),
            log,
            _dir: dir,
            name: name.to_owned(),
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(|c| c.id())
    }

    /// The file the process's output goes to.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Everything the process printed so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends SIGKILL and waits for the process to be gone.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }

    /// Sends `signal` (e.g. `"STOP"`, `"CONT"`) and returns at once.
    pub fn signal(&self, signal: &str) {
        if let Some(pid) = self.pid() {
            let _ = std::process::Command::new("kill")
                .arg(format!("-{signal}"))
                .arg(pid.to_string())
                .status();
        }
    }

    /// Sends `signal` (e.g. `"TERM"`) and waits up to `timeout` for the exit code.
    pub async fn signal_and_wait(&mut self, signal: &str, timeout: Duration) -> Option<i32> {
        let child = self.child.as_mut()?;
        let pid = child.id()?;
        let _ = std::process::Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string())
            .status();
        let status = tokio::time::timeout(timeout, child.wait())
            .await
            .ok()?
            .ok()?;
        self.child = None;
        status.code()
    }

    /// Waits up to `timeout` for the process to exit by itself.
    pub async fn wait(&mut self, timeout: Duration) -> Option<i32> {
        let child = self.child.as_mut()?;
        let status = tokio::time::timeout(timeout, child.wait())
            .await
            .ok()?
            .ok()?;
        self.child = None;
        status.code()
    }
}

impl Drop for App {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
        }
        if std::thread::panicking() {
            eprintln!(
                "----- output of {} -----\n{}\n----- end of {} -----",
                self.name,
                self.output(),
                self.name
            );
        }
    }
}
