//! The headless-Chromium harness (`telemetry_tests::browser`) against a
//! tiny HTTP server started here: titles, a click that runs JavaScript, a
//! form posted without JavaScript, a cookie that reaches the server,
//! keyboard focus with Tab, a PNG screenshot, axe-core finding a missing
//! `alt` (and nothing on a clean page), and the cleanup on drop.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::json;
use telemetry_tests::browser::{Browser, keys};

// ---- the site -----------------------------------------------------------------------------------

const HOME: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Harness home</title></head>
<body><main>
<h1>Home</h1>
<p id="message">before</p>
<button id="change" type="button"
  onclick="document.getElementById('message').textContent = 'after'">Change</button>
<button id="later" type="button"
  onclick="setTimeout(function () { var p = document.createElement('p'); p.id = 'late';
    p.textContent = 'arrived'; document.querySelector('main').appendChild(p); }, 300)">Later</button>
<a id="to-form" href="/form">Form</a>
</main></body></html>
"#;

const FORM: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Consent form</title></head>
<body><main>
<h1>Consent</h1>
<form method="post" action="/submit">
  <label><input type="checkbox" id="consent" name="consent" value="yes"> I agree</label>
  <label for="name">Name</label> <input id="name" name="name">
  <button id="send" type="submit">Send</button>
</form>
</main></body></html>
"#;

/// Clean for axe: language, title, one main landmark, one h1, labelled
/// image.
const GOOD: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Accessible page</title></head>
<body><main>
<h1>Accessible</h1>
<img src="/pixel.gif" alt="A transparent pixel" width="1" height="1">
<p>Everything here has a name.</p>
</main></body></html>
"#;

/// The same page with the image's `alt` left out.
const BAD: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Inaccessible page</title></head>
<body><main>
<h1>Inaccessible</h1>
<img id="no-alt" src="/pixel.gif" width="1" height="1">
<p>The image has no text alternative.</p>
</main></body></html>
"#;

/// A 1×1 transparent GIF.
const PIXEL: &[u8] = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;";

#[derive(Debug, Clone)]
struct Request {
    method: String,
    path: String,
    cookie: Option<String>,
    body: String,
}

/// A static site on 127.0.0.1:0; one thread per connection, one request
/// per connection. Keeps every request.
struct Site {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<Request>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Site {
    fn start() -> Site {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        listener.set_nonblocking(true).unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let requests = Arc::clone(&requests);
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let requests = Arc::clone(&requests);
                            std::thread::spawn(move || serve(stream, &requests));
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(10)),
                    }
                }
            })
        };
        Site {
            addr,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn requests_to(&self, path: &str) -> Vec<Request> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title></head>\n<body><main><h1>{title}</h1>{body}</main></body></html>\n"
    )
}

fn serve(stream: TcpStream, requests: &Mutex<Vec<Request>>) {
    stream.set_nonblocking(false).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    // Chromium opens spare connections that it may close unused.
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let path = parts.next().unwrap_or_default().to_owned();
    let (mut length, mut cookie) = (0usize, None);
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            match name.trim().to_ascii_lowercase().as_str() {
                "content-length" => length = value.trim().parse().unwrap(),
                "cookie" => cookie = Some(value.trim().to_owned()),
                _ => {}
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    let request = Request {
        method,
        path,
        cookie,
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    requests.lock().unwrap().push(request.clone());

    let (status, content_type, content): (&str, &str, Vec<u8>) =
        match (request.method.as_str(), request.path.as_str()) {
            ("GET", "/") => ("200 OK", "text/html", HOME.into()),
            ("GET", "/form") => ("200 OK", "text/html", FORM.into()),
            ("GET", "/good") => ("200 OK", "text/html", GOOD.into()),
            ("GET", "/bad") => ("200 OK", "text/html", BAD.into()),
            ("GET", "/pixel.gif") => ("200 OK", "image/gif", PIXEL.into()),
            ("POST", "/submit") => (
                "200 OK",
                "text/html",
                page(
                    "Received",
                    &format!("<p id=\"received\">{}</p>", escape(&request.body)),
                )
                .into(),
            ),
            ("GET", "/cookie") => (
                "200 OK",
                "text/html",
                page(
                    "Cookie",
                    &format!(
                        "<p id=\"cookie\">{}</p>",
                        escape(request.cookie.as_deref().unwrap_or("none"))
                    ),
                )
                .into(),
            ),
            _ => ("404 Not Found", "text/plain", b"not found".to_vec()),
        };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}; charset=utf-8\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
        content.len()
    );
    let _ = writer.write_all(head.as_bytes());
    let _ = writer.write_all(&content);
    let _ = writer.flush();
}

// ---- the tests ----------------------------------------------------------------------------------

#[test]
fn browser_harness_clicks_submits_forms_sends_cookies_and_tabs() {
    let site = Site::start();
    let started = Instant::now();
    let browser = Browser::start().unwrap();
    eprintln!("browser started in {:?}", started.elapsed());

    // A page, its title and URL, its source.
    browser.goto(&site.url("/")).unwrap();
    assert_eq!(browser.title().unwrap(), "Harness home");
    assert_eq!(browser.url().unwrap(), site.url("/"));
    assert!(browser.page_source().unwrap().contains("id=\"message\""));
    let err = browser.find("#does-not-exist").unwrap_err();
    assert!(err.contains("no such element"), "{err}");
    assert_eq!(browser.find_all("button").unwrap().len(), 2);
    assert!(browser.find_all("table").unwrap().is_empty());

    // A click runs the page's JavaScript.
    let message = browser.find("#message").unwrap();
    assert_eq!(message.text().unwrap(), "before");
    browser.find("#change").unwrap().click().unwrap();
    assert_eq!(message.text().unwrap(), "after");
    assert_eq!(message.attribute("id").unwrap().as_deref(), Some("message"));
    assert_eq!(message.attribute("data-none").unwrap(), None);

    // Something that appears later is waited for; nothing is not.
    browser.find("#later").unwrap().click().unwrap();
    let late = browser.wait_for("#late", Duration::from_secs(5)).unwrap();
    assert_eq!(late.text().unwrap(), "arrived");
    let err = browser
        .wait_for("#never", Duration::from_millis(300))
        .unwrap_err();
    assert!(err.contains("#never"), "{err}");

    // Scripts, sync and async, with arguments and elements.
    assert_eq!(
        browser
            .execute("return arguments[0] + arguments[1];", &[json!(2), json!(3)])
            .unwrap(),
        json!(5)
    );
    assert_eq!(
        browser
            .execute("return arguments[0].tagName;", &[message.arg()])
            .unwrap(),
        json!("P")
    );
    assert_eq!(
        browser
            .execute_async(
                "const done = arguments[arguments.length - 1]; setTimeout(() => done(arguments[0] * 2), 50);",
                &[json!(21)],
            )
            .unwrap(),
        json!(42)
    );
    let err = browser
        .execute("throw new Error('boom');", &[])
        .unwrap_err();
    assert!(err.contains("boom"), "{err}");

    // Keyboard: Tab moves the focus through the page's controls in order;
    // Enter on the focused button activates it.
    browser.goto(&site.url("/")).unwrap();
    let body = browser.active_element().unwrap();
    assert_eq!(
        browser
            .execute("return arguments[0].tagName;", &[body.arg()])
            .unwrap(),
        json!("BODY")
    );
    let mut order = Vec::new();
    for _ in 0..3 {
        browser.press_key(keys::TAB).unwrap();
        order.push(browser.active_element().unwrap().attribute("id").unwrap());
    }
    assert_eq!(
        order,
        [
            Some("change".into()),
            Some("later".into()),
            Some("to-form".into())
        ]
    );
    let change = browser.find("#change").unwrap();
    change.press_key(keys::ENTER).unwrap();
    assert_eq!(browser.find("#message").unwrap().text().unwrap(), "after");
    // Enter on the focused link follows it.
    let link = browser.find("#to-form").unwrap();
    link.press_key(keys::ENTER).unwrap();
    browser.wait_for("form", Duration::from_secs(10)).unwrap();
    assert_eq!(browser.title().unwrap(), "Consent form");

    // A form posted without JavaScript.
    let checkbox = browser.find("#consent").unwrap();
    assert_eq!(checkbox.property("checked").unwrap(), json!(false));
    checkbox.click().unwrap();
    assert_eq!(checkbox.property("checked").unwrap(), json!(true));
    let name = browser.find("#name").unwrap();
    name.send_keys("Ada Lovelace").unwrap();
    assert_eq!(name.property("value").unwrap(), json!("Ada Lovelace"));
    browser.find("#send").unwrap().click().unwrap();
    let received = browser
        .wait_for("#received", Duration::from_secs(10))
        .unwrap();
    assert_eq!(received.text().unwrap(), "consent=yes&name=Ada+Lovelace");
    let posts = site.requests_to("/submit");
    assert_eq!(posts.len(), 1, "{posts:?}");
    assert_eq!(posts[0].method, "POST");
    assert_eq!(posts[0].body, "consent=yes&name=Ada+Lovelace");
    assert_eq!(browser.url().unwrap(), site.url("/submit"));

    // A cookie set in the browser reaches the server.
    assert!(browser.cookies().unwrap().is_empty());
    browser.add_cookie("consent", "granted").unwrap();
    assert_eq!(
        browser.cookies().unwrap(),
        [("consent".to_owned(), "granted".to_owned())]
    );
    browser.goto(&site.url("/cookie")).unwrap();
    assert_eq!(
        browser.find("#cookie").unwrap().text().unwrap(),
        "consent=granted"
    );
    let got = site.requests_to("/cookie");
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].cookie.as_deref(), Some("consent=granted"));
    // No cookie went out before it was set.
    assert!(site.requests_to("/").iter().all(|r| r.cookie.is_none()));
}

#[test]
fn browser_harness_screenshots_runs_axe_and_cleans_up() {
    let site = Site::start();
    let dir = tempfile::tempdir().unwrap();
    let browser = Browser::start().unwrap();

    // A screenshot: a PNG of the viewport (the window is 1280×800; the
    // viewport is that less the browser's own bars).
    browser.goto(&site.url("/good")).unwrap();
    let path = dir.path().join("good.png");
    let png = browser.screenshot_png(&path).unwrap();
    let file = std::fs::read(&path).unwrap();
    assert_eq!(png, file);
    assert!(file.starts_with(b"\x89PNG\r\n\x1a\n"), "{:?}", &file[..16]);
    assert_eq!(&file[12..16], b"IHDR");
    let width = u32::from_be_bytes(file[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(file[20..24].try_into().unwrap());
    let viewport = browser
        .execute(
            "return [window.innerWidth * devicePixelRatio, window.innerHeight * devicePixelRatio];",
            &[],
        )
        .unwrap();
    assert_eq!(json!([width, height]), viewport);
    assert_eq!(width, 1280);
    assert!((400..=800).contains(&height), "{height}");

    // axe: nothing on the clean page ...
    let violations = browser.axe().unwrap();
    assert!(violations.is_empty(), "{violations:#?}");
    // ... (again, with axe already in the page) ...
    assert!(browser.axe().unwrap().is_empty());
    // ... and the missing alt on the other one.
    browser.goto(&site.url("/bad")).unwrap();
    let violations = browser.axe().unwrap();
    let image_alt = violations
        .iter()
        .find(|v| v.id == "image-alt")
        .unwrap_or_else(|| panic!("no image-alt violation in {violations:#?}"));
    assert_eq!(image_alt.nodes, 1);
    assert_eq!(image_alt.targets, ["#no-alt"]);
    assert_eq!(image_alt.impact.as_deref(), Some("critical"));
    assert!(!image_alt.description.is_empty());
    assert_eq!(violations.len(), 1, "{violations:#?}");
    // Options reach axe.run: without that rule, nothing is left.
    let only_others = browser
        .axe_with(&json!({"rules": {"image-alt": {"enabled": false}}}))
        .unwrap();
    assert!(only_others.is_empty(), "{only_others:#?}");

    // Drop: no process of that profile is left, and the directory is gone.
    let profile = browser.profile_dir().to_path_buf();
    let needle = profile.to_string_lossy().into_owned();
    assert!(!processes_naming(&needle).is_empty());
    drop(browser);
    assert!(
        processes_naming(&needle).is_empty(),
        "{:?}",
        processes_naming(&needle)
    );
    assert!(!profile.exists());
}

/// Live processes whose command line contains `needle`.
fn processes_naming(needle: &str) -> Vec<String> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            if stat.rsplit_once(") ")?.1.starts_with('Z') {
                return None;
            }
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            cmd.contains(needle).then(|| format!("{pid}: {cmd}"))
        })
        .collect()
}
