//! CSP-2 attachments through the real server: uploads of each kind of file (streamed), ranged
//! downloads, refusals that leave nothing behind, and consent over attachments and comments.

mod support;

use careplan_model::{PersonId, Role};
use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use support::{App, spawn_app, spawn_app_with_upload_limit};

/// A practitioner adds Ada with a need, a concern and a goal; returns (token, person, version).
async fn plan(app: &App) -> (String, String, u64) {
    let (nurse, created) = app.nurse_adds_ada().await;
    let person = created["person_id"].as_str().unwrap().to_owned();
    let (status, body) = app
        .post(&nurse, &format!("/api/v1/people/{person}/plan/commands"), created["version"].as_u64(), json!({"commands": [
            {"type": "add_need", "id": "need-1", "description": "To walk to the shops"},
            {"type": "add_concern", "id": "concern-1", "description": "Damp flat", "raised_by": "person", "domain": "social"},
            {"type": "add_goal", "id": "goal-1", "description": "Walk to the corner shop", "priority": 7, "addresses": ["need-1"]}
        ]}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (nurse, person, body["version"].as_u64().unwrap())
}

async fn upload(
    app: &App,
    token: &str,
    person: &str,
    version: u64,
    query: &str,
    content_type: &str,
    body: impl Into<reqwest::Body>,
) -> (StatusCode, Value) {
    let r = app
        .http
        .post(format!(
            "{}/api/v1/people/{person}/plan/attachments?{query}",
            app.base
        ))
        .bearer_auth(token)
        .header("If-Match", format!("W/\"{version}\""))
        .header("Content-Type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    if !status.is_success() {
        assert_eq!(
            r.headers()["content-type"],
            "application/problem+json",
            "errors are problem+json"
        );
    }
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn download(
    app: &App,
    token: &str,
    person: &str,
    id: &str,
    range: Option<&str>,
) -> reqwest::Response {
    let mut req = app
        .http
        .get(format!(
            "{}/api/v1/people/{person}/plan/attachments/{id}/content",
            app.base
        ))
        .bearer_auth(token);
    if let Some(range) = range {
        req = req.header("Range", range);
    }
    req.send().await.unwrap()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A JPEG whose EXIF block holds a GPS position, and whose XMP block names a place.
fn photo_with_location() -> Vec<u8> {
    let mut exif = b"Exif\0\0MM\0\x2a\0\0\0\x08".to_vec();
    exif.extend(1u16.to_be_bytes()); // one entry in IFD0: the GPS IFD pointer
    exif.extend(0x8825u16.to_be_bytes());
    exif.extend(4u16.to_be_bytes());
    exif.extend(1u32.to_be_bytes());
    exif.extend(26u32.to_be_bytes());
    exif.extend(0u32.to_be_bytes());
    exif.extend(1u16.to_be_bytes()); // GPS IFD: GPSLatitudeRef "N"
    exif.extend(1u16.to_be_bytes());
    exif.extend(2u16.to_be_bytes());
    exif.extend(2u32.to_be_bytes());
    exif.extend(b"N\0\0\0");
    exif.extend(0u32.to_be_bytes());
    let xmp = b"http://ns.adobe.com/xap/1.0/\0<x:xmpmeta><City>Ada's home town</City></x:xmpmeta>";
    let mut v = vec![0xFF, 0xD8];
    for segment in [&exif[..], &xmp[..]] {
        v.extend([0xFF, 0xE1]);
        v.extend(((segment.len() + 2) as u16).to_be_bytes());
        v.extend(segment);
    }
    v.extend([0xFF, 0xC0, 0, 11, 8, 0, 1, 0, 1, 1, 1, 0x11, 0]);
    v.extend([
        0xFF, 0xDA, 0, 8, 1, 1, 0, 0, 0x3F, 0, 0x12, 0x34, 0xFF, 0xD9,
    ]);
    v
}

/// A small but well-formed PDF.
fn pdf() -> Vec<u8> {
    b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n".to_vec()
}

/// A WAV clip: a second of a 440 Hz tone, 8 kHz, 8-bit mono.
fn wav() -> Vec<u8> {
    let samples: Vec<u8> = (0..8000)
        .map(|i| (128.0 + 100.0 * (i as f64 * 440.0 * std::f64::consts::TAU / 8000.0).sin()) as u8)
        .collect();
    let mut v = b"RIFF".to_vec();
    v.extend((36 + samples.len() as u32).to_le_bytes());
    v.extend(b"WAVEfmt ");
    v.extend(16u32.to_le_bytes());
    v.extend(1u16.to_le_bytes()); // PCM
    v.extend(1u16.to_le_bytes()); // mono
    v.extend(8000u32.to_le_bytes());
    v.extend(8000u32.to_le_bytes());
    v.extend(1u16.to_le_bytes());
    v.extend(8u16.to_le_bytes());
    v.extend(b"data");
    v.extend((samples.len() as u32).to_le_bytes());
    v.extend(samples);
    v
}

/// The bytes of a generated MP4 "video" of `len` bytes: an `ftyp` box, then an `mdat` box of a
/// repeatable pattern, so any range can be recomputed without keeping the file.
fn video_byte(i: u64) -> u8 {
    const HEADER: &[u8] = b"\0\0\0\x18ftypisom\0\0\x02\0isomiso2";
    if (i as usize) < HEADER.len() {
        HEADER[i as usize]
    } else {
        (i.wrapping_mul(2_654_435_761) >> 13) as u8
    }
}

fn video_stream(
    len: u64,
) -> impl futures_util::Stream<Item = Result<Vec<u8>, std::io::Error>> + Send + 'static {
    const CHUNK: u64 = 256 * 1024;
    futures_util::stream::iter((0..len.div_ceil(CHUNK)).map(move |c| {
        let start = c * CHUNK;
        let end = (start + CHUNK).min(len);
        Ok((start..end).map(video_byte).collect::<Vec<u8>>())
    }))
}

#[tokio::test]
async fn csp2_an_image_a_pdf_and_an_audio_clip_go_up_and_come_back() {
    let app = spawn_app().await;
    let (nurse, person, v) = plan(&app).await;

    // A photo of progress on the goal: its location data is removed before it is stored.
    let photo = photo_with_location();
    let (status, body) = upload(&app, &nurse, &person, v, "title=Walking%20with%20a%20frame&purpose=progress_picture&on=item&item=goal-1&description=Ada%20at%20her%20gate", "image/jpeg", photo.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["location_data_removed"], true);
    assert_eq!(body["attachment"]["content_type"], "image/jpeg");
    assert_eq!(
        body["attachment"]["target"],
        json!({"on": "item", "item": "goal-1"})
    );
    assert_eq!(
        body["attachment"]["meta"]["added"]["by"]["role"],
        "practitioner"
    );
    let photo_id = body["attachment"]["id"].as_str().unwrap().to_owned();
    let v = body["version"].as_u64().unwrap();
    let r = download(&app, &nurse, &person, &photo_id, None).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "image/jpeg");
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("inline; filename=\"Walking with a frame.jpg\"")
    );
    let got = r.bytes().await.unwrap();
    assert!(
        !got.windows(4).any(|w| w == b"City"),
        "the XMP place is gone"
    );
    assert!(
        !got.windows(2).any(|w| w == [0x88, 0x25]),
        "the GPS pointer is gone"
    );
    assert!(got.ends_with(&[0x12, 0x34, 0xFF, 0xD9]), "pixels untouched");
    assert_eq!(body["attachment"]["sha256"], hex(&Sha256::digest(&got)));

    // A PDF of guidance on the plan, stored exactly as sent.
    let (status, body) = upload(
        &app,
        &nurse,
        &person,
        v,
        "title=Falls%20leaflet&purpose=guidance",
        "application/pdf",
        pdf(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["location_data_removed"], false);
    let pdf_id = body["attachment"]["id"].as_str().unwrap().to_owned();
    let v = body["version"].as_u64().unwrap();
    let r = download(&app, &nurse, &person, &pdf_id, None).await;
    assert_eq!(r.headers()["content-type"], "application/pdf");
    assert_eq!(r.bytes().await.unwrap(), pdf());

    // A recording on the goals section, read back by range as a browser's player does.
    let clip = wav();
    let (status, body) = upload(
        &app,
        &nurse,
        &person,
        v,
        "title=Breathing%20exercise&purpose=recording&on=section&section=goals",
        "audio/x-wav",
        clip.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["attachment"]["content_type"], "audio/wav");
    let clip_id = body["attachment"]["id"].as_str().unwrap().to_owned();
    let r = download(&app, &nurse, &person, &clip_id, Some("bytes=44-1043")).await;
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        r.headers()["content-range"],
        format!("bytes 44-1043/{}", clip.len()).as_str()
    );
    assert_eq!(r.headers()["accept-ranges"], "bytes");
    assert_eq!(&r.bytes().await.unwrap()[..], &clip[44..1044]);

    // All three are records of the plan, with when and by whom.
    let (_, plan, _) = app
        .get(&nurse, &format!("/api/v1/people/{person}/plan"))
        .await;
    let attachments = &plan["items"]["attachments"];
    for id in [&photo_id, &pdf_id, &clip_id] {
        assert!(attachments[id]["meta"]["added"]["at"].is_string(), "{plan}");
    }
    assert_eq!(app.blobs.digests().await.unwrap().len(), 3);
    assert_eq!(app.blobs.spooled(), 0, "no upload is left in the spool");
}

#[tokio::test]
async fn csp2_a_100_mb_video_is_streamed_up_and_down_and_seeks() {
    let app = spawn_app().await;
    let (nurse, person, v) = plan(&app).await;
    let len: u64 = 100 * 1024 * 1024;
    let mut expected = Sha256::new();
    let mut generated = Box::pin(video_stream(len));
    while let Some(chunk) = generated.next().await {
        expected.update(chunk.unwrap());
    }
    let expected = hex(&expected.finalize());

    let body = reqwest::Body::wrap_stream(video_stream(len));
    let (status, created) = upload(
        &app,
        &nurse,
        &person,
        v,
        "title=Getting%20up%20from%20a%20chair&purpose=learning_material&on=item&item=goal-1",
        "video/mp4",
        body,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["attachment"]["size_bytes"], len);
    assert_eq!(created["attachment"]["sha256"], expected);
    let id = created["attachment"]["id"].as_str().unwrap().to_owned();

    // The whole file, streamed back and hashed as it arrives.
    let r = download(&app, &nurse, &person, &id, None).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "video/mp4");
    assert_eq!(r.headers()["content-length"], len.to_string().as_str());
    let mut got = Sha256::new();
    let mut received = 0u64;
    let mut stream = r.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        received += chunk.len() as u64;
        got.update(&chunk);
    }
    assert_eq!(received, len);
    assert_eq!(hex(&got.finalize()), expected);

    // Seeking to the middle reads just those bytes.
    let start = 50 * 1024 * 1024 + 17;
    let r = download(
        &app,
        &nurse,
        &person,
        &id,
        Some(&format!("bytes={start}-{}", start + 4095)),
    )
    .await;
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    let part = r.bytes().await.unwrap();
    let want: Vec<u8> = (start..start + 4096).map(video_byte).collect();
    assert_eq!(&part[..], &want[..]);
    // The last bytes, as players ask for to find an index at the end.
    let r = download(&app, &nurse, &person, &id, Some("bytes=-10")).await;
    assert_eq!(
        r.headers()["content-range"],
        format!("bytes {}-{}/{len}", len - 10, len - 1).as_str()
    );
    assert_eq!(app.blobs.spooled(), 0);
}

#[tokio::test]
async fn csp2_bytes_that_contradict_the_claimed_type_are_refused_and_leave_nothing() {
    let app = spawn_app().await;
    let (nurse, person, v) = plan(&app).await;
    // A PDF claimed to be a photo.
    let (status, problem) = upload(
        &app,
        &nurse,
        &person,
        v,
        "title=Holiday&purpose=progress_picture",
        "image/jpeg",
        pdf(),
    )
    .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{problem}");
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains("does not match") && detail.contains("PDF"),
        "{detail}"
    );
    // A web page claimed to be text, and a program with no claim at all.
    for (bytes, claimed) in [
        (
            &b"<!DOCTYPE html><script>fetch('/api')</script>"[..],
            "text/plain",
        ),
        (b"MZ\x90\0\x03\0\0\0\x04\0\0\0\xff\xff\0\0 program", ""),
    ] {
        let (status, problem) = upload(
            &app,
            &nurse,
            &person,
            v,
            "title=x&purpose=other",
            claimed,
            bytes.to_vec(),
        )
        .await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{problem}");
        assert!(problem["detail"].as_str().unwrap().contains("not accepted"));
    }
    // Binary bytes sent as plain text are refused even when the difference comes late.
    let mut text = "Line of notes\n".repeat(10_000).into_bytes();
    text.extend([0u8, 1, 2]);
    let (status, _) = upload(
        &app,
        &nurse,
        &person,
        v,
        "title=Notes&purpose=document",
        "text/plain",
        text,
    )
    .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let (_, now, _) = app
        .get(&nurse, &format!("/api/v1/people/{person}/plan"))
        .await;
    assert_eq!(now["version"], v, "no version was made");
    assert!(
        app.blobs.digests().await.unwrap().is_empty(),
        "no blob left"
    );
    assert_eq!(app.blobs.spooled(), 0, "no spool file left");
}

#[tokio::test]
async fn csp2_an_oversize_file_is_refused_with_a_clear_problem_and_leaves_nothing() {
    let app = spawn_app_with_upload_limit(1024 * 1024).await;
    let (nurse, person, v) = plan(&app).await;
    let big = vec![b'a'; 2 * 1024 * 1024];
    // Declared up front: refused before the body is read.
    let (status, problem) = upload(
        &app,
        &nurse,
        &person,
        v,
        "title=Big&purpose=document",
        "text/plain",
        big.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("1048576 bytes at most")
    );
    // Streamed with no length: refused when the limit is passed.
    let chunks = futures_util::stream::iter(
        big.chunks(64 * 1024)
            .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
            .collect::<Vec<_>>(),
    );
    let (status, _) = upload(
        &app,
        &nurse,
        &person,
        v,
        "title=Big&purpose=document",
        "text/plain",
        reqwest::Body::wrap_stream(chunks),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let (_, now, _) = app
        .get(&nurse, &format!("/api/v1/people/{person}/plan"))
        .await;
    assert_eq!(now["version"], v);
    assert!(app.blobs.digests().await.unwrap().is_empty());
    assert_eq!(app.blobs.spooled(), 0);
}

#[tokio::test]
async fn csp2_uploads_need_the_current_version_and_a_right_to_change_the_plan() {
    let app = spawn_app().await;
    let (nurse, person, v) = plan(&app).await;
    // A stale version: 412, saying which version is current.
    let (status, problem) = upload(
        &app,
        &nurse,
        &person,
        v - 1,
        "title=Leaflet&purpose=guidance",
        "application/pdf",
        pdf(),
    )
    .await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(problem["current_version"], v);
    // No version at all: 428.
    let r = app
        .http
        .post(format!(
            "{}/api/v1/people/{person}/plan/attachments?title=x&purpose=guidance",
            app.base
        ))
        .bearer_auth(&nurse)
        .body(pdf())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PRECONDITION_REQUIRED);
    // Attached to an item that is not there: the rule is checked before the file is read.
    let (status, problem) = upload(
        &app,
        &nurse,
        &person,
        v,
        "title=x&purpose=guidance&on=item&item=goal-nope",
        "application/pdf",
        pdf(),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    // A bad purpose or target is a 400 naming it.
    let (status, problem) = upload(
        &app,
        &nurse,
        &person,
        v,
        "title=x&purpose=gossip",
        "application/pdf",
        pdf(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(problem["detail"].as_str().unwrap().contains("purpose"));
    // A practitioner outside the care team may not attach anything.
    let other = app
        .account("gp", Role::Practitioner, None, Some("Surgery"))
        .await;
    let (status, _) = upload(
        &app,
        &other,
        &person,
        v,
        "title=x&purpose=guidance",
        "application/pdf",
        pdf(),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // A record naming a file cannot be made without the file.
    let (status, problem) = app
        .post(&nurse, &format!("/api/v1/people/{person}/plan/commands"), Some(v), json!({"type": "add_attachment",
            "target": {"on": "plan"}, "title": "Forged", "purpose": "other", "content_type": "application/pdf",
            "size_bytes": 10, "sha256": "0".repeat(64)}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    assert!(app.blobs.digests().await.unwrap().is_empty());
    assert_eq!(app.blobs.spooled(), 0);
}

#[tokio::test]
async fn csp2_the_same_content_is_stored_once_and_archived_attachments_stay_in_old_versions() {
    let app = spawn_app().await;
    let (nurse, person, v) = plan(&app).await;
    let (_, first) = upload(
        &app,
        &nurse,
        &person,
        v,
        "title=Leaflet&purpose=guidance",
        "application/pdf",
        pdf(),
    )
    .await;
    let v = first["version"].as_u64().unwrap();
    let (status, second) = upload(
        &app,
        &nurse,
        &person,
        v,
        "title=Same%20leaflet%20for%20the%20goal&purpose=guidance&on=item&item=goal-1",
        "application/pdf",
        pdf(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        first["attachment"]["sha256"],
        second["attachment"]["sha256"]
    );
    assert_eq!(app.blobs.digests().await.unwrap().len(), 1, "stored once");

    // Archived: gone from the current plan, still readable at the version that had it.
    let id = first["attachment"]["id"].as_str().unwrap();
    let had = second["version"].as_u64().unwrap();
    let (status, _) = app
        .post(
            &nurse,
            &format!("/api/v1/people/{person}/plan/commands"),
            Some(had),
            json!({"type": "archive", "id": id, "reason": "Replaced by the new leaflet"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        download(&app, &nurse, &person, id, None).await.status(),
        StatusCode::NOT_FOUND
    );
    let r = app
        .http
        .get(format!(
            "{}/api/v1/people/{person}/plan/attachments/{id}/content?version={had}",
            app.base
        ))
        .bearer_auth(&nurse)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.bytes().await.unwrap(), pdf());
    // The other record still names the file, which is still there.
    let other = second["attachment"]["id"].as_str().unwrap();
    assert_eq!(
        download(&app, &nurse, &person, other, None).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn csp2_downloads_answer_head_ranges_beyond_the_end_and_revalidation() {
    let app = spawn_app().await;
    let (nurse, person, v) = plan(&app).await;
    let notes = "Ada prefers morning visits.\nShe likes tea with milk.\n";
    let (_, created) = upload(
        &app,
        &nurse,
        &person,
        v,
        "title=Visit%20notes&purpose=explanatory_note",
        "text/plain",
        notes,
    )
    .await;
    let id = created["attachment"]["id"].as_str().unwrap();
    let url = format!(
        "{}/api/v1/people/{person}/plan/attachments/{id}/content",
        app.base
    );
    let r = app
        .http
        .head(&url)
        .bearer_auth(&nurse)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers()["content-length"],
        notes.len().to_string().as_str()
    );
    assert_eq!(r.headers()["content-type"], "text/plain; charset=utf-8");
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment; filename=\"Visit notes.txt\"")
    );
    let tag = r.headers()["etag"].to_str().unwrap().to_owned();
    let r = app
        .http
        .get(&url)
        .bearer_auth(&nurse)
        .header("If-None-Match", &tag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    let r = download(&app, &nurse, &person, id, Some("bytes=5000-")).await;
    assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(
        r.headers()["content-range"],
        format!("bytes */{}", notes.len()).as_str()
    );
    assert_eq!(r.headers()["content-type"], "application/problem+json");
}

#[tokio::test]
async fn csp1_a_withheld_sections_attachments_and_comments_are_hidden_with_it() {
    let app = spawn_app().await;
    let (nurse, person, v) = plan(&app).await;
    let (_, created) = upload(
        &app,
        &nurse,
        &person,
        v,
        "title=Photo%20of%20the%20damp&purpose=explanatory_note&on=item&item=concern-1",
        "image/jpeg",
        photo_with_location(),
    )
    .await;
    let id = created["attachment"]["id"].as_str().unwrap().to_owned();
    let v = created["version"].as_u64().unwrap();
    let (status, body) = app
        .post(&nurse, &format!("/api/v1/people/{person}/plan/commands"), Some(v), json!({"commands": [
            {"type": "add_comment", "target": {"on": "section", "section": "concerns"}, "text": "Landlord contacted about the damp"},
            {"type": "add_comment", "target": {"on": "item", "item": "concern-1"}, "text": "Mould in the bedroom"}
        ]}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let v = body["version"].as_u64().unwrap();

    // Ada hides her concerns from practitioners.
    let ada = app
        .account(
            "ada",
            Role::Person,
            Some(&PersonId::parse(&person).unwrap()),
            None,
        )
        .await;
    let (status, _) = app
        .post(&ada, &format!("/api/v1/people/{person}/plan/commands"), Some(v), json!({"type": "set_consent_preference",
            "scope": {"section": "concerns"}, "audience": {"role": "practitioner"}, "visible": false}))
        .await;
    assert_eq!(status, StatusCode::OK);

    let (_, seen, _) = app
        .get(&nurse, &format!("/api/v1/people/{person}/plan"))
        .await;
    let text = seen.to_string();
    assert!(!text.contains("Photo of the damp"), "{seen}");
    assert!(!text.contains("Landlord contacted"));
    assert!(!text.contains("Mould in the bedroom"));
    let r = download(&app, &nurse, &person, &id, None).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let problem: Value = r.json().await.unwrap();
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("withheld from you")
    );
    let (status, _, _) = app
        .get(
            &nurse,
            &format!("/api/v1/people/{person}/plan/items/attachment/{id}"),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Ada still sees and downloads her own.
    assert_eq!(
        download(&app, &ada, &person, &id, None).await.status(),
        StatusCode::OK
    );
    // Nor can the nurse attach anything to the hidden section.
    let (_, now, _) = app
        .get(&ada, &format!("/api/v1/people/{person}/plan"))
        .await;
    let (status, _) = upload(
        &app,
        &nurse,
        &person,
        now["version"].as_u64().unwrap(),
        "title=x&purpose=other&on=section&section=concerns",
        "application/pdf",
        pdf(),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(app.blobs.digests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn csp2_attachments_work_on_postgresql_too() {
    let Some(app) = support::spawn_app_postgres().await else {
        return;
    };
    let (nurse, person, v) = plan(&app).await;
    let (status, created) = upload(
        &app,
        &nurse,
        &person,
        v,
        "title=Breathing%20exercise&purpose=recording",
        "audio/wav",
        wav(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["attachment"]["id"].as_str().unwrap().to_owned();
    let r = download(&app, &nurse, &person, &id, Some("bytes=0-3")).await;
    assert_eq!(r.bytes().await.unwrap(), &b"RIFF"[..]);
    assert!(
        app.store
            .blob_referenced(created["attachment"]["sha256"].as_str().unwrap())
            .await
            .unwrap()
    );
    app.cleanup().await;
}

#[tokio::test]
async fn csp2_an_upload_overtaken_by_another_change_is_refused_and_leaves_nothing() {
    let app = spawn_app().await;
    let (nurse, person, v) = plan(&app).await;
    // The file arrives slowly: half, then (after someone else changes the plan) the rest.
    let (go_on, wait) = tokio::sync::oneshot::channel::<()>();
    let file = pdf();
    let (first, rest) = file.split_at(20);
    let (first, rest) = (first.to_vec(), rest.to_vec());
    let body = futures_util::stream::once(async move { Ok::<_, std::io::Error>(first) }).chain(
        futures_util::stream::once(async move {
            let _ = wait.await;
            Ok(rest)
        }),
    );
    let uploading = {
        let (base, nurse, person) = (app.base.clone(), nurse.clone(), person.clone());
        let http = app.http.clone();
        tokio::spawn(async move {
            http.post(format!(
                "{base}/api/v1/people/{person}/plan/attachments?title=Leaflet&purpose=guidance"
            ))
            .bearer_auth(nurse)
            .header("If-Match", format!("W/\"{v}\""))
            .header("Content-Type", "application/pdf")
            .body(reqwest::Body::wrap_stream(body))
            .send()
            .await
            .unwrap()
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let (status, _) = app
        .post(
            &nurse,
            &format!("/api/v1/people/{person}/plan/commands"),
            Some(v),
            json!({"type": "add_strength", "description": "Loves a crossword"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    go_on.send(()).unwrap();
    let r = uploading.await.unwrap();
    assert_eq!(r.status(), StatusCode::PRECONDITION_FAILED);
    let problem: Value = r.json().await.unwrap();
    assert_eq!(problem["current_version"], v + 1);
    assert!(
        app.blobs.digests().await.unwrap().is_empty(),
        "copy removed"
    );
    assert_eq!(app.blobs.spooled(), 0);
}
