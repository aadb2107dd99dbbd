//! A real browser for the board's tests: Debian's Chromium, headless, driven through
//! ChromeDriver's W3C WebDriver endpoints (a few JSON calls over loopback HTTP). Both are
//! installed by `scripts/bootstrap --browser` (which `scripts/test` runs); a test that
//! needs them fails with that advice when they are missing.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A headless Chromium session.
pub struct Browser {
    base: String,
    session: String,
    driver: Child,
    profile: std::path::PathBuf,
    http: Client<HttpConnector, Full<bytes::Bytes>>,
}

fn find(program: &str) -> std::path::PathBuf {
    for dir in ["/usr/bin", "/usr/local/bin", "/usr/lib/chromium"] {
        let p = std::path::Path::new(dir).join(program);
        if p.is_file() {
            return p;
        }
    }
    panic!(
        "{program} is not installed: run `scripts/bootstrap --browser` (as root, it installs Debian's chromium and chromium-driver)"
    )
}

impl Browser {
    /// Start ChromeDriver on a free port and open a session with a fresh profile.
    pub async fn start() -> Browser {
        let (chromium, chromedriver) = (find("chromium"), find("chromedriver"));
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let profile = std::env::temp_dir().join(format!("firedrill-chromium-{}-{port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&profile);
        let http = Client::builder(hyper_util::rt::TokioExecutor::new()).build_http();
        let mut b = Browser { base: format!("http://127.0.0.1:{port}"), session: String::new(), driver, profile, http };
        let deadline = Instant::now() + Duration::from_secs(20);
        while b.raw("GET", "/status", None).await.is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not answer in 20 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let args = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--window-size=1600,1000",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([format!("--user-data-dir={}", b.profile.display())])
        .collect::<Vec<_>>();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": args}
        }}});
        let v = b.raw("POST", "/session", Some(caps)).await.expect("a WebDriver session");
        b.session = v["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("no session: {v}")).to_owned();
        b
    }

    async fn raw(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let req = hyper::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(Full::new(bytes::Bytes::from(body)))
            .unwrap();
        let res = self.http.request(req).await.map_err(|e| e.to_string())?;
        let bytes = res.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
        serde_json::from_slice(&bytes).map_err(|e| format!("{e}: {}", String::from_utf8_lossy(&bytes)))
    }

    /// A command of this session; panics with WebDriver's error.
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let v = self.raw(method, &format!("/session/{}{path}", self.session), body).await.unwrap();
        if v["value"].get("error").is_some() {
            panic!("WebDriver {method} {path}: {}", v["value"]);
        }
        v["value"].clone()
    }

    pub async fn goto(&self, url: &str) {
        self.call("POST", "/url", Some(json!({ "url": url }))).await;
    }

    /// Run `script` in the page (`arguments[0..]` are `args`); its return value.
    pub async fn exec(&self, script: &str, args: Value) -> Value {
        self.call("POST", "/execute/sync", Some(json!({ "script": script, "args": args }))).await
    }

    /// Click the first element `css` selects, as a person would (WebDriver's click).
    pub async fn click(&self, css: &str) {
        let el = self.call("POST", "/element", Some(json!({ "using": "css selector", "value": css }))).await;
        let id = el[ELEMENT].as_str().unwrap_or_else(|| panic!("no element {css}: {el}")).to_owned();
        self.call("POST", &format!("/element/{id}/click"), Some(json!({}))).await;
    }

    /// The page's text.
    pub async fn text(&self) -> String {
        self.exec("return document.body.innerText", json!([])).await.as_str().unwrap_or_default().to_owned()
    }

    /// Wait until `script` returns true; how long that took. Panics after `limit`, with
    /// the page's text.
    pub async fn wait_until(&self, what: &str, script: &str, args: Value, limit: Duration) -> Duration {
        let start = Instant::now();
        loop {
            if self.exec(script, args.clone()).await == Value::Bool(true) {
                return start.elapsed();
            }
            if start.elapsed() > limit {
                panic!("{what}: not within {limit:?}; the page says:\n{}", self.text().await);
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// A PNG of the page as shown.
    pub async fn screenshot(&self, path: &std::path::Path) {
        let b64 = self.call("GET", "/screenshot", None).await;
        let png = aws_smithy_types::base64::decode(b64.as_str().unwrap()).unwrap();
        std::fs::write(path, png).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}
