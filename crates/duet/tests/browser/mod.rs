//! A headless browser for the page tests, Chromium or Firefox, driven
//! over WebDriver (`fantoccini`) through its driver (`chromedriver`,
//! `geckodriver`) started on a loopback port. Each `Browser` is a driver
//! and a session of its own with a fresh profile (a person of their own:
//! no shared storage; geckodriver serves one session at a time anyway).
//! A missing browser fails the test, unless `DUET_SKIP_BROWSER` says to
//! skip it: `1` for any browser, or a browser's name (`firefox`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

/// The window every page is tested in: a laptop's screen.
const WINDOW_WIDTH_PX: u32 = 1280;
const WINDOW_HEIGHT_PX: u32 = 900;

/// The browsers the pages are tested in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Chromium,
    Firefox,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Chromium => "chromium",
            Kind::Firefox => "firefox",
        }
    }

    fn binary(self) -> &'static str {
        match self {
            Kind::Chromium => "/usr/bin/chromium",
            Kind::Firefox => "/usr/bin/firefox-esr",
        }
    }

    /// The WebDriver server: Debian's chromedriver, or the geckodriver
    /// `cargo install geckodriver` puts on the PATH (`DUET_GECKODRIVER`
    /// names another).
    fn driver(self) -> PathBuf {
        match self {
            Kind::Chromium => PathBuf::from("/usr/bin/chromedriver"),
            Kind::Firefox => std::env::var_os("DUET_GECKODRIVER")
                .map(PathBuf::from)
                .or_else(|| on_path("geckodriver"))
                .unwrap_or_else(|| PathBuf::from("geckodriver")),
        }
    }

    /// How it is installed, for the message when it is missing.
    fn install(self) -> &'static str {
        match self {
            Kind::Chromium => "apt-get install -y chromium chromium-driver",
            Kind::Firefox => "apt-get install -y firefox-esr; cargo install geckodriver --locked",
        }
    }

    /// The driver's command line to serve on `port`.
    fn driver_args(self, port: u16) -> Vec<String> {
        match self {
            Kind::Chromium => vec![format!("--port={port}")],
            // The WebSocket (BiDi) port is not used; 0 keeps drivers
            // started side by side from contending for the default one.
            Kind::Firefox => ["--port", &port.to_string(), "--websocket-port", "0"]
                .map(String::from)
                .to_vec(),
        }
    }

    /// The session's capabilities: headless, with the profile in
    /// `profile`.
    fn capabilities(self, profile: &Path) -> serde_json::Map<String, Value> {
        let capabilities = match self {
            Kind::Chromium => json!({
                "goog:chromeOptions": {
                    "binary": self.binary(),
                    "args": [
                        "--headless",
                        "--no-sandbox",
                        "--disable-gpu",
                        "--disable-quic",
                        "--no-first-run",
                        "--disable-background-networking",
                        "--disable-component-update",
                        "--disable-sync",
                        "--disable-dev-shm-usage",
                        format!("--user-data-dir={}", profile.display()),
                    ],
                }
            }),
            Kind::Firefox => json!({
                "browserName": "firefox",
                "moz:firefoxOptions": {
                    "binary": self.binary(),
                    "args": [
                        "-headless",
                        "-profile",
                        profile.display().to_string(),
                    ],
                    // Nothing fetched from elsewhere while a test runs.
                    "prefs": {
                        "app.update.enabled": false,
                        "browser.shell.checkDefaultBrowser": false,
                        "datareporting.policy.dataSubmissionEnabled": false,
                        "network.captive-portal-service.enabled": false,
                        "network.connectivity-service.enabled": false,
                    },
                }
            }),
        };
        let Value::Object(capabilities) = capabilities else {
            unreachable!("a JSON object")
        };
        capabilities
    }
}

fn on_path(program: &str) -> Option<PathBuf> {
    let dirs = std::env::var_os("PATH")?;
    let cargo_bin = std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo/bin"));
    std::env::split_paths(&dirs)
        .chain(cargo_bin)
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
}

/// Whether `kind`'s tests must be skipped: the browser or its driver is
/// missing and the environment says so. Missing without it fails the test.
pub fn skipped(kind: Kind) -> bool {
    let missing: Vec<String> = [PathBuf::from(kind.binary()), kind.driver()]
        .iter()
        .filter(|path| !path.is_file())
        .map(|path| path.display().to_string())
        .collect();
    if missing.is_empty() {
        return false;
    }
    let missing = missing.join(" and ");
    let skip = std::env::var("DUET_SKIP_BROWSER").unwrap_or_default();
    if skip == "1" || skip.split(',').any(|name| name.trim() == kind.name()) {
        eprintln!("skipped: no {missing} and DUET_SKIP_BROWSER={skip}");
        return true;
    }
    panic!(
        "the page tests in {} need {missing} ({}); set DUET_SKIP_BROWSER=1 (or ={}) to skip them",
        kind.name(),
        kind.install(),
        kind.name()
    );
}

/// axe-core's single file (npm's `axe-core`): `DUET_AXE_JS`, else where
/// scripts/test.sh installs it (`target/axe`).
fn axe_source() -> String {
    let path = std::env::var("DUET_AXE_JS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../target/axe/node_modules/axe-core/axe.min.js")
        });
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "axe-core is needed at {} ({e}): npm install --prefix target/axe axe-core@4, \
             or name the file in DUET_AXE_JS",
            path.display()
        )
    })
}

/// A WebDriver server on a free loopback port, stopped when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    fn start(kind: Kind) -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        use std::os::unix::process::CommandExt;
        // A process group of its own: the browser it starts goes with it,
        // even when a failing test never closes its session.
        let mut child = Command::new(kind.driver())
            .args(kind.driver_args(port))
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", kind.driver().display()));
        let url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(20) {
            if super::harness::agent(Duration::from_secs(5))
                .get(&format!("{url}/status"))
                .call()
                .is_ok()
            {
                return Driver { child, url };
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("{} did not answer on {url} within 20 s", kind.name());
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // chromedriver ends its sessions and their browsers on /shutdown;
        // whatever is left of the group (geckodriver's Firefox) is killed.
        let _ = super::harness::agent(Duration::from_secs(5))
            .get(&format!("{}/shutdown", self.url))
            .call();
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One browser (a person), with a driver and a profile of its own.
pub struct Browser {
    pub client: Client,
    kind: Kind,
    // Dropped in this order: the driver ends the browser, then its
    // profile goes.
    _driver: Driver,
    _profile: tempfile::TempDir,
}

impl Browser {
    pub async fn open(kind: Kind) -> Browser {
        let driver = Driver::start(kind);
        let profile = tempfile::tempdir().expect("a profile directory");
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(kind.capabilities(profile.path()))
            .connect(&driver.url)
            .await
            .unwrap_or_else(|e| panic!("a {} session: {e}", kind.name()));
        client
            .set_window_size(WINDOW_WIDTH_PX, WINDOW_HEIGHT_PX)
            .await
            .expect("a laptop-sized window");
        Browser {
            client,
            kind,
            _driver: driver,
            _profile: profile,
        }
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("open the page");
    }

    pub async fn eval(&self, script: &str) -> Value {
        self.client
            .execute(script, vec![])
            .await
            .unwrap_or_else(|e| panic!("script {script:?}: {e}"))
    }

    /// Waits until `expression` (JavaScript) is true; fails with `what`
    /// and the page's text after `limit`.
    pub async fn until(&self, limit: Duration, what: &str, expression: &str) {
        let script = format!("return !!({expression});");
        let started = Instant::now();
        while started.elapsed() < limit {
            if self.client.execute(&script, vec![]).await.ok() == Some(Value::Bool(true)) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let text = self.eval("return document.body.innerText").await;
        panic!("timed out after {limit:?} waiting for: {what}\nthe page shows:\n{text}");
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let field = self
            .client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"));
        field.clear().await.expect("clear a field");
        field.send_keys(text).await.expect("type");
    }

    /// Chooses a file in a file input.
    pub async fn choose_file(&self, css: &str, path: &std::path::Path) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"))
            .send_keys(&path.display().to_string())
            .await
            .expect("choose a file");
    }

    /// Clicks the element `css` names; an element the page re-rendered
    /// between finding and clicking it (stale) is found again, a few times.
    pub async fn click(&self, css: &str) {
        for attempt in 0.. {
            let element = self
                .client
                .find(Locator::Css(css))
                .await
                .unwrap_or_else(|e| panic!("no {css}: {e}"));
            match element.click().await {
                Ok(_) => return,
                Err(e) if attempt < 5 && e.to_string().contains("stale element") => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("click {css}: {e}"),
            }
        }
    }

    /// Saves a screenshot of the page under the test's target directory
    /// (`pages/<browser>/`) and answers where.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join("pages")
            .join(self.kind.name());
        std::fs::create_dir_all(&dir).expect("a screenshot directory");
        let path = dir.join(format!("{name}.png"));
        let png = self.client.screenshot().await.expect("a screenshot");
        std::fs::write(&path, png).expect("write the screenshot");
        path
    }

    /// Runs axe-core on the page as it stands and fails on any serious or
    /// critical violation, naming the rule and the elements.
    pub async fn assert_accessible(&self, page: &str) {
        let axe = axe_source();
        self.client
            .execute(&format!("{axe}\n;return true;"), vec![])
            .await
            .expect("axe-core loads");
        let found = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, { resultTypes: ['violations'] }).then(r => done(
                   r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
                     .map(v => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map(n => n.target.join(' ')).join(', ')}`)));",
                vec![],
            )
            .await
            .expect("axe-core runs");
        let violations: Vec<String> = serde_json::from_value(found).expect("a list");
        assert!(
            violations.is_empty(),
            "{page} in {}: serious accessibility violations:\n{}",
            self.kind.name(),
            violations.join("\n")
        );
    }

    pub async fn close(self) {
        let _ = self.client.close().await;
    }
}
