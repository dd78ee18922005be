//! A headless Chromium for the page tests, driven over WebDriver
//! (`fantoccini`) through a `chromedriver` the test starts on a loopback
//! port. Each `Browser` is a session of its own with a fresh profile (a
//! person of their own: no shared storage). Without chromium the test
//! fails, unless `DUET_SKIP_BROWSER=1` says to skip it.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Whether the browser tests must be skipped: chromium is missing and
/// the environment says so. Missing without it fails the test.
pub fn skipped() -> bool {
    let present =
        std::path::Path::new(CHROMIUM).exists() && std::path::Path::new(CHROMEDRIVER).exists();
    if present {
        return false;
    }
    if std::env::var("DUET_SKIP_BROWSER").as_deref() == Ok("1") {
        eprintln!("skipped: no {CHROMIUM} or {CHROMEDRIVER} and DUET_SKIP_BROWSER=1");
        return true;
    }
    panic!(
        "the page tests need Debian's chromium and chromium-driver \
         (apt-get install -y chromium chromium-driver); set DUET_SKIP_BROWSER=1 to skip them"
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

/// A chromedriver on a free loopback port, stopped when dropped.
pub struct Driver {
    child: Child,
    pub url: String,
}

impl Driver {
    pub fn start() -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        use std::os::unix::process::CommandExt;
        // A process group of its own: the browsers it starts go with it,
        // even when a failing test never closes its session.
        let mut child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(20) {
            if ureq::get(&format!("{url}/status")).call().is_ok() {
                return Driver { child, url };
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("chromedriver did not answer on {url} within 20 s");
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // chromedriver ends its sessions and their browsers on /shutdown;
        // whatever is left of its group is killed.
        let _ = ureq::get(&format!("{}/shutdown", self.url)).call();
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One browser (a person), with a profile of its own.
pub struct Browser {
    pub client: Client,
    _profile: tempfile::TempDir,
}

impl Browser {
    pub async fn open(driver: &Driver) -> Browser {
        let profile = tempfile::tempdir().expect("a profile directory");
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1280,900",
        ]
        .map(String::from)
        .into_iter()
        .chain([format!("--user-data-dir={}", profile.path().display())])
        .collect::<Vec<_>>();
        let capabilities = json!({
            "goog:chromeOptions": { "binary": CHROMIUM, "args": args }
        });
        let serde_json::Value::Object(capabilities) = capabilities else {
            unreachable!("a JSON object")
        };
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(capabilities)
            .connect(&driver.url)
            .await
            .expect("a chromium session");
        Browser {
            client,
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
    /// and answers where.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("pages");
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
            "{page}: serious accessibility violations:\n{}",
            violations.join("\n")
        );
    }

    pub async fn close(self) {
        let _ = self.client.close().await;
    }
}
