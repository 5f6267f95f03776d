//! Obtains the NHS.UK design system (`nhsuk-frontend`) from the npm registry at build time and
//! prepares the files the binary embeds.
//!
//! `frontend/package.json` and `frontend/package-lock.json` are copied into `OUT_DIR`, where
//! `npm ci` installs them (nothing is written into the source tree, and nothing of
//! nhsuk-frontend is committed). The compiled CSS has its web-font rules removed (they point at
//! a CDN; the design system's font stack falls back to Arial), and its image URLs are rewritten
//! under the asset prefix. `OUT_DIR/assets.rs` lists every embedded file with its content type.
//! The script reruns only when the package files or our own assets change.

use std::collections::hash_map::DefaultHasher;
use std::env;
use std::fs;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;

const NPM_MISSING: &str = "npm is needed to build careplan-web (it installs the NHS.UK design system from the npm registry): install Node.js 20 or newer with npm, then build again";

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));
    let frontend = manifest.join("frontend");
    for file in [
        "frontend/package.json",
        "frontend/package-lock.json",
        "assets/app.css",
        "assets/app.js",
        "build.rs",
    ] {
        println!("cargo:rerun-if-changed={file}");
    }

    let npm = if cfg!(windows) { "npm.cmd" } else { "npm" };
    if Command::new(npm).arg("--version").output().is_err() {
        println!("cargo:warning={NPM_MISSING}");
        panic!("{NPM_MISSING}");
    }

    let work = out.join("frontend");
    fs::create_dir_all(&work).expect("create OUT_DIR/frontend");
    // Install again whenever the package files differ from those last installed here.
    let same = |name: &str| fs::read(frontend.join(name)).ok() == fs::read(work.join(name)).ok();
    let unchanged = same("package.json") && same("package-lock.json");
    fs::copy(frontend.join("package.json"), work.join("package.json")).expect("copy package.json");
    let locked = frontend.join("package-lock.json").exists();
    if locked {
        fs::copy(
            frontend.join("package-lock.json"),
            work.join("package-lock.json"),
        )
        .expect("copy package-lock.json");
    }
    let dist = work.join("node_modules/nhsuk-frontend/dist/nhsuk");
    if !unchanged || !dist.join("nhsuk-frontend.min.css").exists() {
        let mut cmd = Command::new(npm);
        cmd.current_dir(&work)
            .arg(if locked { "ci" } else { "install" })
            .args([
                "--ignore-scripts",
                "--no-audit",
                "--no-fund",
                "--loglevel=error",
            ]);
        let status = cmd.status().unwrap_or_else(|e| {
            println!("cargo:warning={NPM_MISSING} ({e})");
            panic!("{NPM_MISSING} ({e})")
        });
        if !status.success() {
            let msg = "npm could not install nhsuk-frontend from the npm registry for careplan-web: check the network and crates/web/frontend/package-lock.json, then build again";
            println!("cargo:warning={msg}");
            panic!("{msg}");
        }
    }

    // Every embedded file: (URL path under the prefix, source path, content type).
    let mut files: Vec<(String, Vec<u8>, &'static str)> = Vec::new();
    let css = fs::read_to_string(dist.join("nhsuk-frontend.min.css")).expect("nhsuk css");
    let js = fs::read(dist.join("nhsuk-frontend.min.js")).expect("nhsuk js");
    let app_css = fs::read(manifest.join("assets/app.css")).expect("assets/app.css");
    let app_js = fs::read(manifest.join("assets/app.js")).expect("assets/app.js");
    let mut images: Vec<(String, Vec<u8>)> = Vec::new();
    let mut entries: Vec<_> = fs::read_dir(dist.join("assets/images"))
        .expect("nhsuk images")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        images.push((name, fs::read(&path).expect("image")));
    }
    let manifest_json = fs::read(dist.join("assets/manifest.json")).expect("manifest.json");

    // The prefix names the content, so assets can be cached for a year.
    let mut hasher = DefaultHasher::new();
    css.hash(&mut hasher);
    js.hash(&mut hasher);
    app_css.hash(&mut hasher);
    app_js.hash(&mut hasher);
    for (n, b) in &images {
        n.hash(&mut hasher);
        b.hash(&mut hasher);
    }
    let prefix = format!("/assets/{:012x}", hasher.finish() & 0xffff_ffff_ffff);

    let css =
        strip_remote_fonts(&css).replace("url(/assets/images/", &format!("url({prefix}/images/"));
    assert!(
        !css.contains("https://"),
        "the nhsuk-frontend CSS still refers to a remote address after removing its web fonts"
    );
    files.push((
        "nhsuk.css".into(),
        css.into_bytes(),
        "text/css; charset=utf-8",
    ));
    files.push(("nhsuk.js".into(), js, "text/javascript; charset=utf-8"));
    files.push(("app.css".into(), app_css, "text/css; charset=utf-8"));
    files.push(("app.js".into(), app_js, "text/javascript; charset=utf-8"));
    files.push((
        "manifest.json".into(),
        manifest_json,
        "application/manifest+json",
    ));
    for (name, bytes) in images {
        let ty = match Path::new(&name).extension().and_then(|e| e.to_str()) {
            Some("svg") => "image/svg+xml",
            Some("png") => "image/png",
            Some("ico") => "image/x-icon",
            _ => "application/octet-stream",
        };
        files.push((format!("images/{name}"), bytes, ty));
    }

    let assets_dir = out.join("assets");
    fs::create_dir_all(&assets_dir).expect("create OUT_DIR/assets");
    let mut table = String::new();
    table.push_str(&format!(
        "/// Where the embedded assets are served: named after their content.\npub const ASSET_PREFIX: &str = {prefix:?};\n"
    ));
    table.push_str("/// Every embedded asset: path under the prefix, bytes, content type.\npub static ASSETS: &[(&str, &[u8], &str)] = &[\n");
    for (i, (name, bytes, ty)) in files.iter().enumerate() {
        let file = assets_dir.join(format!("{i}.bin"));
        write_if_changed(&file, bytes);
        table.push_str(&format!(
            "    ({name:?}, include_bytes!({:?}), {ty:?}),\n",
            file.display().to_string()
        ));
    }
    table.push_str("];\n");
    write_if_changed(&out.join("assets.rs"), table.as_bytes());
}

/// Removes every `@font-face { … }` rule (nhsuk-frontend's load Frutiger from a CDN).
fn strip_remote_fonts(css: &str) -> String {
    let mut out = String::with_capacity(css.len());
    let mut rest = css;
    while let Some(start) = rest.find("@font-face") {
        out.push_str(&rest[..start]);
        let after = &rest[start..];
        match after.find('}') {
            Some(end) => rest = &after[end + 1..],
            None => {
                rest = "";
                break;
            }
        }
    }
    out.push_str(rest);
    out
}

fn write_if_changed(path: &Path, bytes: &[u8]) {
    if fs::read(path).ok().as_deref() != Some(bytes) {
        fs::write(path, bytes).expect("write OUT_DIR file");
    }
}
