//! The web router on a random loopback port with a fresh SQLite store holding the fixture plan,
//! and a tiny browser: a session cookie, the CSRF token from the pages, no automatic redirects.

#![allow(dead_code)]

pub mod fixture;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use careplan_store::Store;
use careplan_store::accounts::LoginLimiter;
use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use scraper::{Html, Selector};

pub struct App {
    pub base: String,
    pub store: Store,
    pub fixture: fixture::Fixture,
    _dir: tempfile::TempDir,
}

pub async fn spawn() -> App {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_data_dir(dir.path()).await.unwrap();
    let fixture = fixture::build(&store).await;
    let state = careplan_web::WebState::new(
        store.clone(),
        careplan_blobs::BlobStore::local(
            &dir.path().join("blobs"),
            careplan_blobs::DEFAULT_MAX_UPLOAD_BYTES,
        )
        .unwrap(),
        Arc::new(LoginLimiter::default()),
        false,
        Duration::from_secs(3600),
    );
    let app: axum::Router = careplan_web::router(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    App {
        base,
        store,
        fixture,
        _dir: dir,
    }
}

/// A response as a test sees it.
pub struct Page {
    pub status: StatusCode,
    pub location: Option<String>,
    pub html: String,
    pub headers: reqwest::header::HeaderMap,
}

impl Page {
    pub fn doc(&self) -> Html {
        Html::parse_document(&self.html)
    }

    /// The text of every element matching `selector`, whitespace collapsed.
    pub fn texts(&self, selector: &str) -> Vec<String> {
        let sel = Selector::parse(selector).unwrap();
        self.doc()
            .select(&sel)
            .map(|e| e.text().collect::<Vec<_>>().join(" "))
            .map(|t| t.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect()
    }

    pub fn text(&self, selector: &str) -> String {
        self.texts(selector).join(" | ")
    }

    pub fn count(&self, selector: &str) -> usize {
        let sel = Selector::parse(selector).unwrap();
        self.doc().select(&sel).count()
    }

    /// An attribute of the first element matching `selector`.
    pub fn attr(&self, selector: &str, name: &str) -> Option<String> {
        let sel = Selector::parse(selector).unwrap();
        self.doc()
            .select(&sel)
            .next()
            .and_then(|e| e.value().attr(name).map(str::to_owned))
    }

    /// The page's text, whitespace collapsed.
    pub fn body_text(&self) -> String {
        self.text("main")
    }
}

/// One signed-in (or not) browser.
pub struct Browser {
    pub base: String,
    pub http: reqwest::Client,
    pub cookie: Option<String>,
}

impl App {
    pub fn browser(&self) -> Browser {
        Browser {
            base: self.base.clone(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookie: None,
        }
    }

    /// A browser signed in as `user`.
    pub async fn signed_in(&self, user: &str) -> Browser {
        let mut b = self.browser();
        let page = b
            .post_form(
                "/sign-in",
                &[("username", user), ("password", fixture::PASSWORD)],
            )
            .await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.html);
        assert!(b.cookie.is_some(), "no session cookie for {user}");
        b
    }

    pub fn plan(&self) -> String {
        format!("/people/{}", self.fixture.person_id)
    }
}

impl Browser {
    async fn send(&mut self, req: reqwest::RequestBuilder) -> Page {
        let req = match &self.cookie {
            Some(c) => req.header(COOKIE, c.clone()),
            None => req,
        };
        let resp = req.send().await.unwrap();
        for v in resp.headers().get_all(SET_COOKIE) {
            let v = v.to_str().unwrap();
            let pair = v.split(';').next().unwrap().to_owned();
            if pair.ends_with('=') {
                self.cookie = None;
            } else {
                self.cookie = Some(pair);
            }
        }
        let status = resp.status();
        let headers = resp.headers().clone();
        let location = headers
            .get(LOCATION)
            .map(|v| v.to_str().unwrap().to_owned());
        let html = resp.text().await.unwrap();
        Page {
            status,
            location,
            html,
            headers,
        }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let req = self.http.get(format!("{}{path}", self.base));
        self.send(req).await
    }

    /// A GET that must succeed.
    pub async fn page(&mut self, path: &str) -> Page {
        let p = self.get(path).await;
        assert_eq!(p.status, StatusCode::OK, "GET {path}: {}", p.html);
        p
    }

    pub async fn post_form(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let body: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let req = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        self.send(req).await
    }

    /// Opens the form at `path`, fills in `fields` over what it holds, and submits it with its
    /// CSRF token and base version, as a browser would.
    pub async fn submit(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let form = self.page(path).await;
        let csrf = form
            .attr("input[name=csrf_token]", "value")
            .expect("csrf field");
        let base = form
            .attr("input[name=base_version]", "value")
            .unwrap_or_default();
        let action = form
            .attr("main form[method=post]", "action")
            .expect("form action");
        // What the browser would send unchanged: filled-in inputs, checked boxes, chosen options.
        let doc = form.doc();
        let mut defaults: Vec<(String, String)> = Vec::new();
        let sel = |s: &str| Selector::parse(s).unwrap();
        for input in doc.select(&sel("main form[method=post] input")) {
            let v = input.value();
            let (Some(name), ty) = (v.attr("name"), v.attr("type").unwrap_or("text")) else {
                continue;
            };
            if name == "csrf_token" || name == "base_version" {
                continue;
            }
            let checkable = ty == "radio" || ty == "checkbox";
            if checkable && v.attr("checked").is_none() {
                continue;
            }
            defaults.push((name.to_owned(), v.attr("value").unwrap_or("").to_owned()));
        }
        for select in doc.select(&sel("main form[method=post] select")) {
            let name = select.value().attr("name").unwrap().to_owned();
            let chosen = select
                .select(&sel("option[selected]"))
                .next()
                .or_else(|| select.select(&sel("option")).next());
            if let Some(o) = chosen {
                defaults.push((name, o.value().attr("value").unwrap_or("").to_owned()));
            }
        }
        for area in doc.select(&sel("main form[method=post] textarea")) {
            let name = area.value().attr("name").unwrap().to_owned();
            defaults.push((name, area.text().collect()));
        }
        // Given fields replace the defaults of the same name.
        defaults.retain(|(n, _)| !fields.iter().any(|(f, _)| f == n));
        let mut all: Vec<(&str, &str)> = vec![("csrf_token", &csrf), ("base_version", &base)];
        all.extend(defaults.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        all.extend_from_slice(fields);
        self.post_form(&action, &all).await
    }

    /// The session's CSRF token, read from a page's sign-out form.
    pub async fn csrf(&mut self) -> String {
        let start = self.get("/").await;
        let to = start
            .location
            .expect("the start page redirects when signed in");
        let p = self.page(&to).await;
        p.attr("input[name=csrf_token]", "value").expect("csrf")
    }
}
