//! A small stand-in for the Hugging Face Hub on 127.0.0.1, started by each test on a random
//! port and stopped when dropped. It serves what hf-hub 0.5's blocking client reads:
//!
//! - `GET /api/models/{repo}/revision/{rev}?blobs=true`: JSON with `sha` and `siblings`
//!   (`rfilename`, `size`, `lfs.sha256`), in the order the test listed the files;
//! - `GET /{repo}/resolve/{rev}/{path}`: for an LFS file a 302 to `/cdn/{sha256}` carrying
//!   `X-Repo-Commit`, `X-Linked-Etag`, `X-Linked-Size` and `ETag`; for other files the body
//!   itself with `ETag` and `X-Repo-Commit`;
//! - `GET /cdn/{sha256}`: the LFS content, honouring `Range: bytes=START-[END]` with 206 and
//!   `Content-Range`, as the metadata probe (`bytes=0-0`) and resumed downloads need.
//!
//! Unknown repositories answer 404 with `X-Error-Code: RepositoryNotFound`, gated ones 403 and
//! private ones 401 unless the request carries the right bearer token.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use sha2::{Digest, Sha256};

pub const COMMIT: &str = "4f1e2d3c4b5a69788796a5b4c3d2e1f00112233a";

/// Where a served file's bytes come from.
#[derive(Clone)]
pub enum Content {
    Bytes(Arc<Vec<u8>>),
    File(PathBuf),
}

impl Content {
    fn len(&self) -> u64 {
        match self {
            Content::Bytes(bytes) => bytes.len() as u64,
            Content::File(path) => std::fs::metadata(path).unwrap().len(),
        }
    }

    fn sha256(&self) -> String {
        let mut hasher = Sha256::new();
        match self {
            Content::Bytes(bytes) => hasher.update(bytes.as_slice()),
            Content::File(path) => {
                let mut file = std::fs::File::open(path).unwrap();
                std::io::copy(&mut file, &mut hasher).unwrap();
            }
        }
        format!("{:x}", hasher.finalize())
    }

    fn write_range(&self, out: &mut impl Write, start: u64, len: u64) -> std::io::Result<()> {
        match self {
            Content::Bytes(bytes) => out.write_all(&bytes[start as usize..(start + len) as usize]),
            Content::File(path) => {
                let mut file = std::fs::File::open(path)?;
                file.seek(SeekFrom::Start(start))?;
                std::io::copy(&mut file.take(len), out).map(|_| ())
            }
        }
    }
}

/// How a file misbehaves when served.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    None,
    /// The first full-body download announces the full length, sends half the bytes, then
    /// closes the connection.
    CutOnce,
    /// Like `CutOnce`, but without `Content-Length`, so the client cannot tell the body
    /// was cut short.
    CutOnceUnannounced,
    /// Listed, but `resolve` returns 404.
    Vanished,
}

/// One file of a served repository.
#[derive(Clone)]
pub struct ServedFile {
    pub path: String,
    pub content: Content,
    pub lfs: bool,
    pub fault: Fault,
    sha256: String,
    size: u64,
}

impl ServedFile {
    pub fn lfs(path: &str, content: Content) -> ServedFile {
        ServedFile::new(path, content, true)
    }

    pub fn plain(path: &str, bytes: &[u8]) -> ServedFile {
        ServedFile::new(path, Content::Bytes(Arc::new(bytes.to_vec())), false)
    }

    fn new(path: &str, content: Content, lfs: bool) -> ServedFile {
        ServedFile {
            path: path.to_string(),
            sha256: content.sha256(),
            size: content.len(),
            content,
            lfs,
            fault: Fault::None,
        }
    }

    pub fn with_fault(mut self, fault: Fault) -> ServedFile {
        self.fault = fault;
        self
    }

    pub fn sha256(&self) -> &str {
        &self.sha256
    }
}

/// Who may read a repository.
#[derive(Clone, PartialEq, Eq)]
pub enum Access {
    Public,
    /// Listing is open, files need the token (403 without it).
    Gated(String),
    /// Everything needs the token (401 without it).
    Private(String),
}

#[derive(Clone)]
pub struct ServedRepo {
    pub files: Vec<ServedFile>,
    pub access: Access,
}

struct State {
    repos: HashMap<String, ServedRepo>,
    /// `METHOD path range` of every request, for tests that check what was asked.
    log: Mutex<Vec<String>>,
    cut_done: Mutex<Vec<String>>,
}

/// A running test Hub; stops when dropped.
pub struct TestHub {
    pub url: String,
    state: Arc<State>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl TestHub {
    pub fn start(repos: Vec<(&str, ServedRepo)>) -> TestHub {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let state = Arc::new(State {
            repos: repos
                .into_iter()
                .map(|(name, repo)| (name.to_string(), repo))
                .collect(),
            log: Mutex::new(Vec::new()),
            cut_done: Mutex::new(Vec::new()),
        });
        let stop = Arc::new(AtomicBool::new(false));
        let url = format!("http://{address}");
        let thread = {
            let state = Arc::clone(&state);
            let stop = Arc::clone(&stop);
            let url = url.clone();
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let state = Arc::clone(&state);
                    let url = url.clone();
                    std::thread::spawn(move || serve_connection(stream, &state, &url));
                }
            })
        };
        TestHub {
            url,
            state,
            stop,
            thread: Some(thread),
        }
    }

    pub fn requests(&self) -> Vec<String> {
        self.state.log.lock().unwrap().clone()
    }
}

impl Drop for TestHub {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it reads the flag.
        let _ = TcpStream::connect(self.url.trim_start_matches("http://"));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct Request {
    path: String,
    query: String,
    headers: HashMap<String, String>,
}

fn read_request(stream: &TcpStream) -> Option<Request> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let _method = parts.next()?;
    let target = parts.next()?.to_string();
    let mut headers = HashMap::new();
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
        }
    }
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path.to_string(), query.to_string()),
        None => (target, String::new()),
    };
    Some(Request {
        path,
        query,
        headers,
    })
}

fn serve_connection(mut stream: TcpStream, state: &State, url: &str) {
    let Some(request) = read_request(&stream) else {
        return;
    };
    let range = request.headers.get("range").cloned().unwrap_or_default();
    state
        .log
        .lock()
        .unwrap()
        .push(format!("GET {} {range}", request.path));
    let _ = route(&mut stream, state, url, &request);
    let _ = stream.flush();
    let _ = stream.shutdown(Shutdown::Both);
}

fn route(
    stream: &mut TcpStream,
    state: &State,
    url: &str,
    request: &Request,
) -> std::io::Result<()> {
    if let Some(rest) = request.path.strip_prefix("/api/models/") {
        let Some((repo, _revision)) = rest.split_once("/revision/") else {
            return respond(stream, 400, &[], b"bad listing path");
        };
        return listing(stream, state, repo, request);
    }
    if let Some(sha) = request.path.strip_prefix("/cdn/") {
        return cdn(stream, state, sha, request);
    }
    if let Some((repo, rest)) = request.path[1..].split_once("/resolve/") {
        let Some((_revision, file)) = rest.split_once('/') else {
            return respond(stream, 400, &[], b"bad resolve path");
        };
        return resolve(stream, state, url, repo, file, request);
    }
    respond(stream, 404, &[], b"no such route")
}

fn authorised(repo: &ServedRepo, request: &Request, for_file: bool) -> Option<u16> {
    let sent = request.headers.get("authorization");
    let token_ok = |token: &String| sent == Some(&format!("Bearer {token}"));
    match &repo.access {
        Access::Public => None,
        Access::Gated(token) if for_file && !token_ok(token) => Some(403),
        Access::Gated(_) => None,
        Access::Private(token) if !token_ok(token) => Some(401),
        Access::Private(_) => None,
    }
}

fn listing(
    stream: &mut TcpStream,
    state: &State,
    repo: &str,
    request: &Request,
) -> std::io::Result<()> {
    let Some(served) = state.repos.get(repo) else {
        return respond(
            stream,
            404,
            &[("X-Error-Code", "RepositoryNotFound".into())],
            b"{}",
        );
    };
    if let Some(status) = authorised(served, request, false) {
        return respond(stream, status, &[], b"{\"error\":\"Invalid credentials\"}");
    }
    assert!(
        request.query.contains("blobs=true"),
        "listing without blobs"
    );
    let siblings: Vec<serde_json::Value> = served
        .files
        .iter()
        .map(|file| {
            let mut sibling = serde_json::json!({
                "rfilename": file.path,
                "size": file.size,
                "blobId": &file.sha256[..40],
            });
            if file.lfs {
                sibling["lfs"] = serde_json::json!({
                    "sha256": file.sha256,
                    "size": file.size,
                    "pointerSize": 134
                });
            }
            sibling
        })
        .collect();
    let body = serde_json::json!({ "id": repo, "sha": COMMIT, "siblings": siblings });
    respond(
        stream,
        200,
        &[("Content-Type", "application/json".into())],
        body.to_string().as_bytes(),
    )
}

fn resolve(
    stream: &mut TcpStream,
    state: &State,
    url: &str,
    repo: &str,
    file: &str,
    request: &Request,
) -> std::io::Result<()> {
    let Some(served) = state.repos.get(repo) else {
        return respond(
            stream,
            404,
            &[("X-Error-Code", "RepositoryNotFound".into())],
            b"",
        );
    };
    if let Some(status) = authorised(served, request, true) {
        return respond(stream, status, &[], b"Access restricted");
    }
    let found = served
        .files
        .iter()
        .find(|f| f.path == file && f.fault != Fault::Vanished);
    let Some(found) = found else {
        return respond(
            stream,
            404,
            &[("X-Error-Code", "EntryNotFound".into())],
            b"",
        );
    };
    let common = vec![("X-Repo-Commit", COMMIT.to_string())];
    if found.lfs {
        let mut headers = common;
        headers.push(("X-Linked-Etag", format!("\"{}\"", found.sha256)));
        headers.push(("X-Linked-Size", found.size.to_string()));
        headers.push(("ETag", format!("\"{}\"", &found.sha256[..40])));
        headers.push(("Location", format!("{url}/cdn/{}", found.sha256)));
        return respond(stream, 302, &headers, b"");
    }
    let mut headers = common;
    headers.push(("ETag", format!("\"{}\"", &found.sha256[..40])));
    send_content(stream, found, request, headers, None, true)
}

fn cdn(stream: &mut TcpStream, state: &State, sha: &str, request: &Request) -> std::io::Result<()> {
    let found = state
        .repos
        .values()
        .flat_map(|repo| repo.files.iter())
        .find(|file| file.lfs && file.sha256 == sha);
    let Some(found) = found else {
        return respond(stream, 404, &[], b"");
    };
    let cuts = matches!(found.fault, Fault::CutOnce | Fault::CutOnceUnannounced);
    let cut = if cuts {
        let mut done = state.cut_done.lock().unwrap();
        let first = !done.contains(&found.path);
        let range_start = parse_range(request, found.size).map_or(0, |(start, _)| start);
        let full_body = range_start == 0
            && request.headers.get("range").map(String::as_str) != Some("bytes=0-0");
        if first && full_body {
            done.push(found.path.clone());
            Some(found.size / 2)
        } else {
            None
        }
    } else {
        None
    };
    let announce = !(cut.is_some() && found.fault == Fault::CutOnceUnannounced);
    send_content(stream, found, request, vec![], cut, announce)
}

fn parse_range(request: &Request, size: u64) -> Option<(u64, u64)> {
    let spec = request.headers.get("range")?.strip_prefix("bytes=")?;
    let (start, end) = spec.split_once('-')?;
    let start: u64 = start.parse().ok()?;
    let end: u64 = if end.is_empty() {
        size.saturating_sub(1)
    } else {
        end.parse::<u64>().ok()?.min(size.saturating_sub(1))
    };
    Some((start, end))
}

/// Sends a file's content, or the requested range of it. With `cut_after`, only that many
/// bytes are sent before the connection closes. `announce_length` sets whether the head
/// carries `Content-Length` at all.
fn send_content(
    stream: &mut TcpStream,
    file: &ServedFile,
    request: &Request,
    mut headers: Vec<(&str, String)>,
    cut_after: Option<u64>,
    announce_length: bool,
) -> std::io::Result<()> {
    let (status, start, len) = match parse_range(request, file.size) {
        Some((start, end)) if start <= end => {
            headers.push((
                "Content-Range",
                format!("bytes {start}-{end}/{}", file.size),
            ));
            (206, start, end - start + 1)
        }
        Some(_) => {
            headers.push(("Content-Range", format!("bytes */{}", file.size)));
            return respond(stream, 416, &headers, b"");
        }
        None => (200, 0, file.size),
    };
    write_head(stream, status, &headers, announce_length.then_some(len))?;
    let sent = cut_after.map_or(len, |cut| cut.min(len));
    file.content.write_range(stream, start, sent)
}

fn write_head(
    stream: &mut TcpStream,
    status: u16,
    headers: &[(&str, String)],
    len: Option<u64>,
) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        206 => "Partial Content",
        302 => "Found",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        416 => "Range Not Satisfiable",
        _ => "Other",
    };
    let mut head = format!("HTTP/1.1 {status} {reason}\r\nConnection: close\r\n");
    if let Some(len) = len {
        head.push_str(&format!("Content-Length: {len}\r\n"));
    }
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())
}

fn respond(
    stream: &mut TcpStream,
    status: u16,
    headers: &[(&str, String)],
    body: &[u8],
) -> std::io::Result<()> {
    write_head(stream, status, headers, Some(body.len() as u64))?;
    stream.write_all(body)
}
