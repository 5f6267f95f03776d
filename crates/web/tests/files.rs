//! CSP-2 and CSP-7 from the browser: attaching a file with the upload form, and building the
//! weekly schedule one time at a time. The real router on a loopback port, forms posted as a
//! browser posts them.

mod support;

use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION};
use support::fixture::NURSE;
use support::{App, Browser, Page, spawn};

/// A JPEG with a GPS position in its EXIF block.
fn photo() -> Vec<u8> {
    let mut exif = b"Exif\0\0MM\0\x2a\0\0\0\x08".to_vec();
    exif.extend(1u16.to_be_bytes());
    exif.extend(0x8825u16.to_be_bytes());
    exif.extend(4u16.to_be_bytes());
    exif.extend(1u32.to_be_bytes());
    exif.extend(26u32.to_be_bytes());
    exif.extend(0u32.to_be_bytes());
    exif.extend(1u16.to_be_bytes());
    exif.extend(1u16.to_be_bytes());
    exif.extend(2u16.to_be_bytes());
    exif.extend(2u32.to_be_bytes());
    exif.extend(b"N\0\0\0");
    exif.extend(0u32.to_be_bytes());
    let mut v = vec![0xFF, 0xD8, 0xFF, 0xE1];
    v.extend(((exif.len() + 2) as u16).to_be_bytes());
    v.extend(exif);
    v.extend([0xFF, 0xC0, 0, 11, 8, 0, 1, 0, 1, 1, 1, 0x11, 0]);
    v.extend([
        0xFF, 0xDA, 0, 8, 1, 1, 0, 0, 0x3F, 0, 0x12, 0x34, 0xFF, 0xD9,
    ]);
    v
}

/// Posts the upload form at `form_path` as a browser would: its hidden fields, then `fields`,
/// then the file last (as the form orders them).
async fn upload(
    b: &mut Browser,
    form_path: &str,
    fields: &[(&str, &str)],
    file: Option<(&str, &str, Vec<u8>)>,
) -> Page {
    let form = b.page(form_path).await;
    let action = form
        .attr("main form[enctype='multipart/form-data']", "action")
        .expect("an upload form");
    let mut parts = reqwest::multipart::Form::new();
    for name in ["csrf_token", "base_version", "on", "section", "item"] {
        let value = form
            .attr(&format!("main form input[name={name}]"), "value")
            .unwrap_or_default();
        parts = parts.text(name, value);
    }
    for (name, value) in fields {
        parts = parts.text(name.to_string(), value.to_string());
    }
    let part = match file {
        Some((name, mime, bytes)) => reqwest::multipart::Part::bytes(bytes)
            .file_name(name.to_owned())
            .mime_str(mime)
            .unwrap(),
        // No file chosen: browsers send an empty part with an empty file name.
        None => reqwest::multipart::Part::bytes(Vec::new())
            .file_name(String::new())
            .mime_str("application/octet-stream")
            .unwrap(),
    };
    parts = parts.part("file", part);
    let resp = b
        .http
        .post(format!("{}{action}", b.base))
        .header(COOKIE, b.cookie.clone().unwrap())
        .multipart(parts)
        .send()
        .await
        .unwrap();
    Page {
        status: resp.status(),
        location: resp
            .headers()
            .get(LOCATION)
            .map(|v| v.to_str().unwrap().to_owned()),
        headers: resp.headers().clone(),
        html: resp.text().await.unwrap(),
    }
}

/// Posts the schedule's "Add a time" form with `fields` (and its CSRF token and base version).
async fn add_time(b: &mut Browser, link: &str, fields: &[(&str, &str)]) -> Page {
    let form = b.page(link).await;
    let csrf = form.attr("input[name=csrf_token]", "value").unwrap();
    let base = form.attr("input[name=base_version]", "value").unwrap();
    let mut all = vec![
        ("csrf_token", csrf.as_str()),
        ("base_version", base.as_str()),
    ];
    all.extend_from_slice(fields);
    b.post_form(link, &all).await
}

async fn version(b: &mut Browser, app: &App) -> String {
    let plan = b.page(&app.plan()).await;
    plan.text(".app-summary-version, dl")
}

#[tokio::test]
async fn csp2_a_practitioner_attaches_a_photo_to_a_goal_and_the_plan_shows_it_with_its_description()
{
    let app = spawn().await;
    let mut b = app.signed_in(NURSE).await;
    let plan = b.page(&app.plan()).await;
    let link = plan
        .attr("a[href$='/attach?on=item&item=goal-allotment']", "href")
        .expect("an Attach a file link on the goal");
    let form = b.page(&link).await;
    assert!(
        form.text("h1").contains("Attach a file to"),
        "{}",
        form.text("h1")
    );
    let done = upload(
        &mut b,
        &link,
        &[
            ("title", "Digging the first bed"),
            ("purpose", "progress_picture"),
            ("description", "Edith at the allotment with a spade"),
        ],
        Some(("allotment.jpg", "image/jpeg", photo())),
    )
    .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.html);
    let to = done.location.unwrap();
    assert!(to.contains("#attachment-"), "{to}");
    let plan = b.page(to.split('#').next().unwrap()).await;
    let alt = plan
        .attr("img[alt='Edith at the allotment with a spade']", "src")
        .expect("the photo shown inline with its description as alt text");
    assert!(alt.starts_with("/api/v1/people/"), "{alt}");
    assert!(plan.body_text().contains("Digging the first bed"));
}

#[tokio::test]
async fn csp2_the_upload_form_says_what_is_wrong_keeps_what_was_typed_and_changes_nothing() {
    let app = spawn().await;
    let mut b = app.signed_in(NURSE).await;
    let before = version(&mut b, &app).await;
    let form = format!("{}/attach", app.plan());
    // Nothing filled in, no file.
    let page = upload(&mut b, &form, &[("title", ""), ("purpose", "")], None).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    let summary = page.texts(".nhsuk-error-summary__list a");
    assert_eq!(
        summary,
        [
            "Enter a title for the file",
            "Select why the file is attached",
            "Choose a file to attach"
        ]
    );
    assert!(page.text("title").starts_with("Error:"));
    assert_eq!(
        page.attr(".nhsuk-error-summary__list a", "href").as_deref(),
        Some("#title")
    );
    // A PDF that says it is a photo: refused, the title kept.
    let page = upload(
        &mut b,
        &form,
        &[("title", "Falls leaflet"), ("purpose", "guidance")],
        Some((
            "leaflet.jpg",
            "image/jpeg",
            b"%PDF-1.4\nleaflet\n%%EOF\n".to_vec(),
        )),
    )
    .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.text("#file-error").contains("does not match"),
        "{}",
        page.text("#file-error")
    );
    assert_eq!(
        page.attr("input[name=title]", "value").as_deref(),
        Some("Falls leaflet")
    );
    assert_eq!(
        page.attr("input[name=purpose][checked]", "value")
            .as_deref(),
        Some("guidance")
    );
    assert_eq!(version(&mut b, &app).await, before, "nothing was saved");
}

#[tokio::test]
async fn csp7_the_weekly_schedule_is_built_one_time_at_a_time_and_shown_as_a_table() {
    let app = spawn().await;
    let mut b = app.signed_in(NURSE).await;
    let plan = b.page(&app.plan()).await;
    assert!(plan.body_text().contains("No weekly schedule yet"));
    let link = plan
        .attr("a[href$='/schedule']", "href")
        .expect("a link to the schedule");
    let done = add_time(
        &mut b,
        &link,
        &[
            ("start", "08:00"),
            ("end", "09:00"),
            ("label", "Getting up"),
            ("monday-what", "Help to wash and dress"),
            ("monday-who", "Home care"),
            ("thursday-what", "Help to wash and dress"),
        ],
    )
    .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.html);
    let plan = b.page(&app.plan()).await;
    assert_eq!(
        plan.text(".app-schedule caption"),
        "Weekly schedule: what happens when, and who helps"
    );
    assert_eq!(plan.count(".app-schedule th[scope=col]"), 8);
    assert!(
        plan.text(".app-schedule td")
            .contains("Who helps: Home care")
    );
    // A time that overlaps the first is refused with the rule, what was typed kept.
    let page = add_time(
        &mut b,
        &link,
        &[
            ("start", "08:30"),
            ("label", "Breakfast"),
            ("tuesday-what", "Breakfast"),
        ],
    )
    .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.text(".nhsuk-error-summary__list").contains("overlaps"),
        "{}",
        page.text(".nhsuk-error-summary__list")
    );
    assert_eq!(
        page.attr("input[name=label]", "value").as_deref(),
        Some("Breakfast")
    );
    // Who helps without what happens is refused for that day.
    let page = add_time(&mut b, &link, &[("start", "12:00"), ("friday-who", "Amy")]).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.text("#friday-what-error")
            .contains("Say what happens on Friday")
    );
    // Removing the only time empties the schedule.
    let form = b.page(&link).await;
    let csrf = form.attr("input[name=csrf_token]", "value").unwrap();
    let base = form.attr("input[name=base_version]", "value").unwrap();
    let done = b
        .post_form(
            &format!("{link}/remove"),
            &[
                ("csrf_token", &csrf),
                ("base_version", &base),
                ("remove", "0"),
            ],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.html);
    let plan = b.page(&app.plan()).await;
    assert!(plan.body_text().contains("No weekly schedule yet"));
}

#[tokio::test]
async fn csp7_why_a_goal_matters_is_markdown_shown_as_safe_html() {
    let app = spawn().await;
    let mut b = app.signed_in(NURSE).await;
    let plan = b.page(&app.plan()).await;
    let link = plan
        .attr("a[href*='/change/edit-goal?item=goal-allotment']", "href")
        .expect("a link to change the goal");
    let done = b
        .submit(
            &link,
            &[(
                "why_it_matters",
                "It is **where I feel most like myself** <script>alert(1)</script> \
                 [click](javascript:alert(2)) <img src=x onerror=alert(3)>",
            )],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.html);
    let plan = b.page(&app.plan()).await;
    assert_eq!(
        plan.text(".app-markdown strong"),
        "where I feel most like myself"
    );
    let why = plan.texts(".app-markdown").join(" ");
    assert!(why.contains("click"), "{why}");
    assert!(
        !plan.html.contains("<script>alert"),
        "script tags are neutralised"
    );
    assert!(
        !plan.html.contains("javascript:"),
        "javascript: links are dropped"
    );
    // Raw HTML is shown as the text it is, never as markup.
    assert!(
        !plan.html.contains("<img src=x"),
        "no element made from the note"
    );
    assert!(why.contains("<img src=x onerror=alert(3)>"), "{why}");
}
