//! Headless Debian Chromium driven over WebDriver: `chromedriver` on a free
//! loopback port, a fresh profile, no network beyond what the page loads.
//! `install-chromium.sh` beside this file installs both when missing.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;

/// A Chromium session and the chromedriver behind it; both end on drop.
pub struct Chromium {
    pub client: Client,
    driver: Child,
    profile: PathBuf,
}

impl Chromium {
    /// Starts chromedriver and a headless Chromium with `javascript` on or off.
    pub async fn start(javascript: bool) -> Chromium {
        install();
        let port = {
            let probe = TcpListener::bind("127.0.0.1:0").expect("a free port");
            probe.local_addr().expect("an address").port()
        };
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let webdriver = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not listen");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profile =
            std::env::temp_dir().join(format!("keygate-chromium-{}-{port}", std::process::id()));
        let mut args = vec![
            "--headless".to_owned(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-dev-shm-usage".into(),
            "--window-size=1280,860".into(),
            format!("--user-data-dir={}", profile.display()),
        ];
        if !javascript {
            args.push("--blink-settings=scriptEnabled=false".into());
        }
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({"binary": "/usr/bin/chromium", "args": args}),
        );
        // chromedriver speaks plain HTTP on loopback.
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&webdriver)
            .await
            .expect("a Chromium session");
        Chromium {
            client,
            driver,
            profile,
        }
    }

    /// Clicks the element `css` finds.
    pub async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    /// Waits up to 10 s for an element `css` finds.
    pub async fn wait_for(&self, css: &str) -> Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("waited for {css}: {e}"))
    }

    /// Saves a PNG of the viewport under `target/console-screenshots/`.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/console-screenshots");
        std::fs::create_dir_all(&dir).expect("the screenshot folder");
        let path = dir.join(format!("{name}.png"));
        let png = self.client.screenshot().await.expect("a screenshot");
        std::fs::write(&path, png).expect("the screenshot is saved");
        path
    }

    /// Ends the session, then chromedriver.
    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        let _ = self.driver.kill();
    }
}

/// Runs `install-chromium.sh` when chromium or chromedriver is missing.
fn install() {
    let present = |tool: &str| {
        Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if present("chromium") && present("chromedriver") {
        return;
    }
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/support/install-chromium.sh"
    );
    let status = Command::new("bash")
        .arg(script)
        .status()
        .expect("the install script runs");
    assert!(
        status.success(),
        "{script} failed: install chromium and chromium-driver"
    );
}
