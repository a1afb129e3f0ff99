//! A minimal Chrome DevTools Protocol client for tests: it starts headless Chromium with
//! `--remote-debugging-pipe`, so commands go over file descriptors 3 (to the browser) and 4
//! (from it) as NUL-terminated JSON, with no port and no download.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::os::fd::{FromRawFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// Finds the Chromium binary: `SLM_QUANT_CHROMIUM` when set, else `chromium` on PATH.
pub fn find_chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("SLM_QUANT_CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| ["chromium", "chromium-browser"].map(|name| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

/// A running headless Chromium and the DevTools events it has sent so far.
pub struct Browser {
    child: Child,
    to_browser: std::fs::File,
    from_browser: Receiver<Value>,
    next_id: u64,
    /// Events received while waiting for command replies, oldest first.
    pub events: Vec<Value>,
    _profile: tempfile::TempDir,
}

/// One page (tab) of the browser, addressed by its flat-mode session id.
pub struct Page {
    pub session: String,
}

impl Browser {
    /// Starts Chromium headless with a fresh profile and every background network feature
    /// turned off, so it contacts nothing but the pages it is sent to.
    pub fn launch(chromium: &Path) -> Browser {
        let profile = tempfile::tempdir().expect("temporary Chromium profile");
        let (command_read, command_write) = pipe();
        let (reply_read, reply_write) = pipe();

        let mut command = Command::new(chromium);
        command
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--disable-features=Translate,MediaRouter,OptimizationHints",
                "--hide-scrollbars",
                "--remote-debugging-pipe",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: between fork and exec only fcntl, dup2 and close run, which are
        // async-signal-safe. The pipe ends are first copied above 10, because either may
        // itself be 3 or 4, and then put on the descriptors Chromium reads (3) and writes (4).
        // dup2 clears close-on-exec on its copies, so they survive exec.
        unsafe {
            command.pre_exec(move || {
                let high_read = libc::fcntl(command_read, libc::F_DUPFD, 10);
                let high_write = libc::fcntl(reply_write, libc::F_DUPFD, 10);
                if high_read < 0
                    || high_write < 0
                    || libc::dup2(high_read, 3) < 0
                    || libc::dup2(high_write, 4) < 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                libc::close(high_read);
                libc::close(high_write);
                Ok(())
            });
        }
        let child = command.spawn().expect("Chromium starts");
        // SAFETY: the parent owns these descriptors; the child has its own copies.
        unsafe {
            libc::close(command_read);
            libc::close(reply_write);
        }

        // SAFETY: each descriptor is owned by exactly one File from here on.
        let to_browser = unsafe { std::fs::File::from_raw_fd(command_write) };
        let mut replies = unsafe { std::fs::File::from_raw_fd(reply_read) };
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            let mut pending = Vec::new();
            let mut buffer = [0u8; 65536];
            loop {
                let read = match replies.read(&mut buffer) {
                    Ok(0) | Err(_) => return,
                    Ok(read) => read,
                };
                pending.extend_from_slice(&buffer[..read]);
                while let Some(end) = pending.iter().position(|b| *b == 0) {
                    let message: Vec<u8> = pending.drain(..=end).collect();
                    let Ok(value) = serde_json::from_slice(&message[..message.len() - 1]) else {
                        continue;
                    };
                    if sender.send(value).is_err() {
                        return;
                    }
                }
            }
        });

        Browser {
            child,
            to_browser,
            from_browser: receiver,
            next_id: 0,
            events: Vec::new(),
            _profile: profile,
        }
    }

    /// Sends `method` (to `session`, or to the browser when `None`) and returns its result;
    /// panics with the browser's error message when the command fails.
    pub fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({"id": id, "method": method, "params": params});
        if let Some(session) = session {
            message["sessionId"] = json!(session);
        }
        let mut bytes = serde_json::to_vec(&message).unwrap();
        bytes.push(0);
        self.to_browser
            .write_all(&bytes)
            .unwrap_or_else(|error| panic!("cannot send {method} to Chromium: {error}"));

        let deadline = Instant::now() + COMMAND_TIMEOUT;
        loop {
            let message = self.receive_until(deadline, method);
            if message.get("id").and_then(Value::as_u64) == Some(id) {
                if let Some(error) = message.get("error") {
                    panic!("Chromium rejected {method}: {error}");
                }
                return message["result"].clone();
            }
            self.events.push(message);
        }
    }

    /// Waits for an event named `method` from `session`, looking first at events already
    /// received, and removes it from the list.
    pub fn wait_for_event(&mut self, session: &str, method: &str) -> Value {
        let matches = |event: &Value| {
            event["method"] == method && event["sessionId"].as_str() == Some(session)
        };
        if let Some(index) = self.events.iter().position(matches) {
            return self.events.remove(index);
        }
        let deadline = Instant::now() + COMMAND_TIMEOUT;
        loop {
            let message = self.receive_until(deadline, method);
            if matches(&message) {
                return message;
            }
            self.events.push(message);
        }
    }

    fn receive_until(&mut self, deadline: Instant, waiting_for: &str) -> Value {
        let left = deadline.saturating_duration_since(Instant::now());
        match self.from_browser.recv_timeout(left) {
            Ok(message) => message,
            Err(RecvTimeoutError::Timeout) => {
                panic!("Chromium did not answer {waiting_for} within {COMMAND_TIMEOUT:?}")
            }
            Err(RecvTimeoutError::Disconnected) => {
                panic!("Chromium closed its DevTools pipe while waiting for {waiting_for}")
            }
        }
    }

    /// Opens a new page at `about:blank` with its Runtime, Log and Page domains enabled.
    pub fn new_page(&mut self, width: u32, height: u32) -> Page {
        let target = self.call(None, "Target.createTarget", json!({"url": "about:blank"}));
        let attached = self.call(
            None,
            "Target.attachToTarget",
            json!({"targetId": target["targetId"], "flatten": true}),
        );
        let session = attached["sessionId"].as_str().unwrap().to_string();
        for domain in ["Runtime.enable", "Log.enable", "Page.enable"] {
            self.call(Some(&session), domain, json!({}));
        }
        self.call(
            Some(&session),
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": false}),
        );
        Page { session }
    }

    /// Loads `url` in `page` and waits for its load event.
    pub fn navigate(&mut self, page: &Page, url: &str) {
        let result = self.call(Some(&page.session), "Page.navigate", json!({"url": url}));
        if let Some(error) = result.get("errorText") {
            panic!("Chromium could not open {url}: {error}");
        }
        self.wait_for_event(&page.session, "Page.loadEventFired");
    }

    /// Evaluates `expression` in `page` and returns its value as JSON.
    pub fn evaluate(&mut self, page: &Page, expression: &str) -> Value {
        let result = self.call(
            Some(&page.session),
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
        );
        if let Some(exception) = result.get("exceptionDetails") {
            panic!("evaluating `{expression}` threw: {exception}");
        }
        result["result"]["value"].clone()
    }

    /// Clicks with the mouse at the centre of the first element matching `selector`, after
    /// scrolling it into view, as a person would.
    pub fn click(&mut self, page: &Page, selector: &str) {
        let expression = format!(
            "(() => {{ const e = document.querySelector({selector:?}); if (!e) return null; \
             e.scrollIntoView({{block: 'center'}}); const r = e.getBoundingClientRect(); \
             return [r.left + r.width / 2, r.top + r.height / 2]; }})()"
        );
        let point = self.evaluate(page, &expression);
        let (x, y) = match point.as_array().map(Vec::as_slice) {
            Some([x, y]) => (x.as_f64().unwrap(), y.as_f64().unwrap()),
            _ => panic!("no element matches {selector}"),
        };
        for kind in ["mousePressed", "mouseReleased"] {
            self.call(
                Some(&page.session),
                "Input.dispatchMouseEvent",
                json!({"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1}),
            );
        }
    }

    /// Takes a PNG of the whole page, not just the viewport.
    pub fn screenshot(&mut self, page: &Page) -> Vec<u8> {
        use base64::Engine as _;
        let clip = self.full_page_clip(page);
        let result = self.call(
            Some(&page.session),
            "Page.captureScreenshot",
            json!({"format": "png", "captureBeyondViewport": true, "clip": clip}),
        );
        let data = result["data"].as_str().expect("screenshot data");
        base64::engine::general_purpose::STANDARD
            .decode(data)
            .expect("screenshot is base64")
    }

    /// Takes a PNG of the first element matching `selector`, with a margin of 8 px.
    pub fn screenshot_element(&mut self, page: &Page, selector: &str) -> Vec<u8> {
        use base64::Engine as _;
        let expression = format!(
            "(() => {{ const e = document.querySelector({selector:?}); if (!e) return null; \
             const r = e.getBoundingClientRect(); \
             return {{x: Math.max(0, r.left + scrollX - 8), y: Math.max(0, r.top + scrollY - 8), \
                      width: r.width + 16, height: r.height + 16, scale: 1}}; }})()"
        );
        let clip = self.evaluate(page, &expression);
        assert!(clip.is_object(), "no element matches {selector}");
        let result = self.call(
            Some(&page.session),
            "Page.captureScreenshot",
            json!({"format": "png", "captureBeyondViewport": true, "clip": clip}),
        );
        let data = result["data"].as_str().expect("screenshot data");
        base64::engine::general_purpose::STANDARD
            .decode(data)
            .expect("screenshot is base64")
    }

    fn full_page_clip(&mut self, page: &Page) -> Value {
        let metrics = self.call(Some(&page.session), "Page.getLayoutMetrics", json!({}));
        let size = &metrics["cssContentSize"];
        json!({"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1})
    }

    /// Events of `session` named `method` received so far.
    pub fn events_named(&self, session: &str, method: &str) -> Vec<&Value> {
        self.events
            .iter()
            .filter(|e| e["method"] == method && e["sessionId"].as_str() == Some(session))
            .collect()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let mut close = serde_json::to_vec(&json!({"id": 0, "method": "Browser.close"})).unwrap();
        close.push(0);
        let _ = self.to_browser.write_all(&close);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Creates a pipe whose two ends close on exec. The child gets its copies through dup2.
fn pipe() -> (RawFd, RawFd) {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    let status = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(
        status,
        0,
        "pipe2 failed: {}",
        std::io::Error::last_os_error()
    );
    (fds[0], fds[1])
}
