//! The web interface as a browser uses it: the real router on a loopback port, a temporary
//! SQLite store with a fictional plan, sign-in through the form, pages read as HTML and forms
//! posted with their CSRF token.

mod support;

use reqwest::StatusCode;
use support::fixture::{CONTROLLER, NHS_NUMBER, NURSE, OTHER_NURSE, PERSON, REPRESENTATIVE};
use support::spawn;

#[tokio::test]
async fn sign_in_with_a_wrong_password_shows_an_error_summary_linked_to_the_field() {
    let app = spawn().await;
    let mut b = app.browser();
    let page = b.page("/sign-in").await;
    assert_eq!(page.text("h1"), "Sign in");
    assert_eq!(page.count("label[for=username]"), 1);
    assert_eq!(page.count("label[for=password]"), 1);
    let page = b
        .post_form(
            "/sign-in",
            &[("username", NURSE), ("password", "not-the-password")],
        )
        .await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    assert!(
        page.text(".nhsuk-error-summary")
            .contains("The username or password is not right")
    );
    assert_eq!(
        page.attr(".nhsuk-error-summary a", "href").as_deref(),
        Some("#password")
    );
    assert_eq!(
        page.attr("#username", "value").as_deref(),
        Some(NURSE),
        "the username is kept"
    );
    assert!(b.cookie.is_none());
}

#[tokio::test]
async fn pages_need_sign_in_and_come_back_afterwards() {
    let app = spawn().await;
    let mut b = app.browser();
    let plan = app.plan();
    let page = b.get(&plan).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let to = page.location.unwrap();
    assert!(to.starts_with("/sign-in?next="), "{to}");
    let page = b
        .post_form(
            "/sign-in",
            &[
                ("username", NURSE),
                ("password", support::fixture::PASSWORD),
                ("next", &plan),
            ],
        )
        .await;
    assert_eq!(page.location.as_deref(), Some(plan.as_str()));
    let cookie = page
        .headers
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        cookie.starts_with("careplan_session="),
        "the API's session cookie: {cookie}"
    );
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    // An address on another site is never followed.
    let mut other = app.browser();
    let page = other
        .post_form(
            "/sign-in",
            &[
                ("username", NURSE),
                ("password", support::fixture::PASSWORD),
                ("next", "//evil.example/"),
            ],
        )
        .await;
    assert_eq!(page.location.as_deref(), Some("/"));
}

#[tokio::test]
async fn sign_out_ends_the_session_and_needs_the_csrf_token() {
    let app = spawn().await;
    let mut b = app.signed_in(NURSE).await;
    let old_cookie = b.cookie.clone();
    let refused = b.post_form("/sign-out", &[("csrf_token", "wrong")]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let csrf = b.csrf().await;
    let page = b.post_form("/sign-out", &[("csrf_token", &csrf)]).await;
    assert_eq!(page.location.as_deref(), Some("/sign-in?signed_out=1"));
    assert!(b.cookie.is_none());
    b.cookie = old_cookie;
    assert_eq!(
        b.get("/people").await.status,
        StatusCode::SEE_OTHER,
        "the old session is over"
    );
}

#[tokio::test]
async fn a_practitioners_caseload_lists_their_people_and_searches_by_name_or_nhs_number() {
    let app = spawn().await;
    let mut b = app.signed_in(NURSE).await;
    let page = b.page("/people").await;
    assert_eq!(page.text("h1"), "Your caseload");
    assert!(page.text("table").contains("Edith Marlowe"));
    assert!(page.text("table").contains("999 765 4323"));
    assert_eq!(page.count("table caption"), 1);
    assert_eq!(page.count("th[scope=col]"), 4);
    let page = b.page(&format!("/people?q={NHS_NUMBER}")).await;
    assert!(page.text("table").contains("Edith Marlowe"));
    let page = b.page("/people?q=marl").await;
    assert!(page.text("table").contains("Edith Marlowe"));
    let page = b.page("/people?q=nobody-like-this").await;
    assert!(page.body_text().contains("Nobody matches"));
    // A practitioner not on Edith's care team does not see her, nor may open her plan.
    let mut gary = app.signed_in(OTHER_NURSE).await;
    assert!(!gary.page("/people").await.html.contains("Edith"));
    let page = gary.get(&app.plan()).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert_eq!(page.text("h1"), "You cannot see or do this");
}

#[tokio::test]
async fn csp14_csp6_csp9_the_plan_page_shows_the_summary_and_every_section_linked() {
    let app = spawn().await;
    let mut b = app.signed_in(NURSE).await;
    let page = b.page(&app.plan()).await;
    let summary = page.text("#summary");
    assert!(summary.contains("Last updated"), "{summary}");
    assert!(
        summary.contains("(version 20)"),
        "last updated is derived from the latest version: {summary}"
    );
    assert!(summary.contains("Not yet agreed"));
    assert!(summary.contains("15 January 2027"));
    assert!(summary.contains("Personal budget"));
    // Goals in priority order, with why they matter, their needs and their actions.
    let goals = page.texts("#goals h3");
    assert_eq!(goals[0], "Get back to the allotment twice a week");
    assert_eq!(goals[1], "Sing with the choir at the Christmas concert");
    let allotment = page.text("#goal-allotment");
    assert!(allotment.contains("It is where I feel most like myself"));
    assert!(allotment.contains("Strength and balance exercises with the physiotherapist"));
    assert!(allotment.contains("7 out of 10"), "confidence: {allotment}");
    // Links between sections point at anchors that exist on the page.
    assert_eq!(
        page.attr("#goal-allotment a[href='#need-mobility']", "href")
            .as_deref(),
        Some("#need-mobility")
    );
    assert_eq!(page.count("#need-mobility"), 1);
    assert_eq!(
        page.count("#need-mobility a[href='#goal-allotment']"),
        1,
        "need → goal"
    );
    assert_eq!(page.count("#concern-falls"), 1);
    assert!(page.text("#problem-knee").contains("239873007"));
    assert!(page.text("#strengths").contains("Loves gardening"));
    // Actions as a table with who, when, status and confidence.
    assert_eq!(page.count("#actions table caption"), 1);
    assert!(page.text("#actions table").contains("Tuesdays at 10am"));
    // Progress as a chart with a text alternative, and as a table.
    assert_eq!(
        page.count("#goal-allotment svg title"),
        3,
        "chart title and one per point"
    );
    assert!(
        page.text("#goal-allotment table caption")
            .contains("Progress records")
    );
    // Comments are Markdown, rendered safely.
    assert!(page.html.contains("<em>January</em>"));
    // What a practitioner can do from here.
    for form in [
        "edit-person",
        "rank-goals",
        "add-goal",
        "add-need",
        "review-date",
        "funding",
    ] {
        assert_eq!(
            page.count(&format!("main a[href$='/change/{form}']")),
            1,
            "a link to {form}"
        );
    }
    assert_eq!(
        page.count("main a[href$='/change/comment?section=needs']"),
        1
    );
    // Headings in order: one h1, sections as h2.
    assert_eq!(page.count("h1"), 1);
    assert!(page.texts("h2").contains(&"Needs".to_owned()));
}

#[tokio::test]
async fn csp9_a_goal_without_a_need_is_refused_with_an_error_summary_and_the_values_kept() {
    let app = spawn().await;
    let mut b = app.signed_in(NURSE).await;
    let path = format!("{}/change/add-goal", app.plan());
    let page = b
        .submit(
            &path,
            &[
                ("label", "goal"),
                ("description", "Walk to the post office"),
                ("priority", "11"),
                ("status", "active"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.text("title").starts_with("Error:"));
    let summary = page.text(".nhsuk-error-summary");
    assert!(summary.contains("Select at least one need"), "{summary}");
    assert!(
        summary.contains("Priority must be a whole number from 1 to 10"),
        "{summary}"
    );
    assert_eq!(page.count(".nhsuk-error-summary a[href='#addresses']"), 1);
    assert_eq!(page.count("#priority-error"), 1);
    assert_eq!(
        page.attr("#priority", "value").as_deref(),
        Some("11"),
        "entered values are kept"
    );
    assert_eq!(page.text("#description"), "Walk to the post office");
    // Corrected, it is added, linked to its need, and the plan says so.
    let page = b
        .submit(
            &path,
            &[
                ("label", "goal"),
                ("description", "Walk to the post office"),
                ("priority", "6"),
                ("status", "active"),
                ("addresses", "need-mobility"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.html);
    let to = page.location.unwrap();
    assert!(to.contains("?saved=21#goal-"), "{to}");
    let page = b.page(&to).await;
    assert!(
        page.text(".nhsuk-notification-banner")
            .contains("version 21")
    );
    assert!(page.text("#goals").contains("Walk to the post office"));
}

#[tokio::test]
async fn csp4_csp5_csp8_add_need_strength_and_action_then_complete_the_action() {
    let app = spawn().await;
    let mut b = app.signed_in(NURSE).await;
    let plan = app.plan();
    let page = b
        .submit(
            &format!("{plan}/change/add-need"),
            &[
                ("description", "To cook a hot meal each day"),
                ("importance", "6"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.html);
    let page = b
        .submit(
            &format!("{plan}/change/add-strength"),
            &[("description", "Makes a very good soup")],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let page = b
        .submit(
            &format!("{plan}/change/add-action?item=goal-choir"),
            &[
                ("description", "Practise with the choir's recordings"),
                ("performer_kind", "person"),
                ("timing", "Daily"),
                ("confidence", "9"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.html);
    let page = b.page(&plan).await;
    assert!(page.text("#needs").contains("To cook a hot meal each day"));
    assert!(page.text("#strengths").contains("Makes a very good soup"));
    assert!(
        page.text("#goal-choir")
            .contains("Practise with the choir's recordings")
    );
    // Complete an action with its one-click form.
    let csrf = page.attr("input[name=csrf_token]", "value").unwrap();
    let done = b
        .post_form(
            &format!("{plan}/change/complete-action"),
            &[("csrf_token", &csrf), ("item", "action-lift")],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    let page = b.page(&plan).await;
    assert!(page.text("#action-lift").contains("Completed"));
}

#[tokio::test]
async fn csp11_archiving_a_goal_moves_a_chosen_action_and_archives_the_rest() {
    let app = spawn().await;
    let mut b = app.signed_in(NURSE).await;
    let plan = app.plan();
    let form = b
        .page(&format!("{plan}/change/archive-goal?item=goal-allotment"))
        .await;
    assert_eq!(form.count("fieldset"), 2, "one choice per action");
    assert_eq!(
        form.count("input[name=move-action-physio][value=goal-choir]"),
        1
    );
    let page = b
        .submit(
            &format!("{plan}/change/archive-goal?item=goal-allotment"),
            &[
                ("move-action-physio", "goal-choir"),
                ("move-action-lift", "archive"),
                ("reason", "Edith has moved house"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.html);
    let page = b.page(&plan).await;
    assert_eq!(
        page.count("#goal-allotment"),
        0,
        "gone from the current plan"
    );
    assert!(
        page.text("#goal-choir")
            .contains("Strength and balance exercises"),
        "moved"
    );
    assert!(
        !page.html.contains("Amy drives Edith"),
        "archived with the goal"
    );
    // Still there in the earlier version, and in the archived view.
    let old = b.page(&format!("{plan}/versions/20")).await;
    assert!(
        old.text("#goals")
            .contains("Get back to the allotment twice a week")
    );
    assert!(old.text(".nhsuk-warning-callout").contains("version 20"));
    let archived = b.page(&format!("{plan}?archived=1")).await;
    assert!(archived.text("#goal-allotment").contains("Archived"));
    assert!(
        archived
            .text("#goal-allotment")
            .contains("Edith has moved house")
    );
}

#[tokio::test]
async fn csp15_history_lists_every_version_and_a_diff_shows_what_changed() {
    let app = spawn().await;
    let mut b = app.signed_in(NURSE).await;
    let plan = app.plan();
    let history = b.page(&format!("{plan}/history")).await;
    assert_eq!(history.count("tbody tr"), 20);
    let first = history.texts("tbody tr").into_iter().next().unwrap();
    assert!(first.starts_with("Version 20"), "{first}");
    assert!(first.contains("Priya Shah"), "who: {first}");
    assert!(first.contains("Added link"), "what: {first}");
    assert_eq!(history.count(&format!("a[href='{plan}/versions/12']")), 1);
    // Version 11 has no goals yet; version 12 adds the first.
    let v11 = b.page(&format!("{plan}/versions/11")).await;
    assert!(
        v11.text("#goals")
            .contains("No goals or hopes recorded yet")
    );
    let diff = b.page(&format!("{plan}/diff?from=11&to=12")).await;
    assert!(
        diff.text("main")
            .contains("Added Goal or hope: Get back to the allotment twice a week"),
        "{}",
        diff.text("main")
    );
    // A change shows before and after.
    let page = b
        .submit(
            &format!("{plan}/change/edit-need?item=need-company"),
            &[
                ("description", "To see friends every week"),
                ("importance", "8"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.html);
    let diff = b.page(&format!("{plan}/diff")).await;
    let text = diff.text("main");
    assert!(text.contains("Changed Need"), "{text}");
    assert!(
        text.contains("To see friends more often") && text.contains("To see friends every week"),
        "{text}"
    );
    assert_eq!(
        b.get(&format!("{plan}/diff?from=0&to=3")).await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        b.get(&format!("{plan}/versions/999")).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_stale_write_is_explained_and_nothing_entered_is_lost() {
    let app = spawn().await;
    let mut b = app.signed_in(NURSE).await;
    let plan = app.plan();
    let form = b.page(&format!("{plan}/change/add-strength")).await;
    let csrf = form.attr("input[name=csrf_token]", "value").unwrap();
    let action = form.attr("main form[method=post]", "action").unwrap();
    // Someone else changes the plan meanwhile.
    let mut other = app.signed_in(NURSE).await;
    let page = other
        .submit(
            &format!("{plan}/change/add-strength"),
            &[("description", "Good listener")],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let page = b
        .post_form(
            &action,
            &[
                ("csrf_token", &csrf),
                ("base_version", "20"),
                ("description", "Tells wonderful stories"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::CONFLICT);
    assert!(
        page.text(".nhsuk-warning-callout")
            .contains("it is now at version 21")
    );
    assert_eq!(page.text("#description"), "Tells wonderful stories", "kept");
    assert_eq!(
        page.attr("input[name=base_version]", "value").as_deref(),
        Some("21")
    );
    // Saving again applies it on top.
    let page = b
        .post_form(
            &action,
            &[
                ("csrf_token", &csrf),
                ("base_version", "21"),
                ("description", "Tells wonderful stories"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let page = b.page(&plan).await;
    assert!(page.text("#strengths").contains("Good listener"));
    assert!(page.text("#strengths").contains("Tells wonderful stories"));
}

#[tokio::test]
async fn a_form_without_its_csrf_token_changes_nothing() {
    let app = spawn().await;
    let mut b = app.signed_in(NURSE).await;
    let plan = app.plan();
    let page = b
        .post_form(
            &format!("{plan}/change/add-strength"),
            &[("base_version", "20"), ("description", "Forged")],
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(!b.page(&plan).await.html.contains("Forged"));
}

#[tokio::test]
async fn csp3_progress_comments_and_suggested_changes_from_the_person() {
    let app = spawn().await;
    let plan = app.plan();
    let mut edith = app.signed_in(PERSON).await;
    let page = edith
        .submit(
            &format!("{plan}/change/record-progress?item=goal-allotment"),
            &[
                ("scale", "goal_attainment"),
                ("value", "0"),
                ("date-day", "20"),
                ("date-month", "11"),
                ("date-year", "2026"),
                ("note", "Went twice this week"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.html);
    assert!(
        page.location
            .unwrap()
            .starts_with(&format!("{plan}/my-plan?saved="))
    );
    let page = edith
        .submit(
            &format!("{plan}/change/comment?item=goal-choir"),
            &[("text", "I would like to sing a **solo**")],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let page = edith
        .submit(
            &format!("{plan}/change/suggest?item=action-physio"),
            &[
                ("timing", "Wednesdays at 2pm"),
                ("note", "Tuesdays clash with choir"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.html);
    // An out-of-range value is explained beside the field.
    let page = edith
        .submit(
            &format!("{plan}/change/record-progress?item=goal-allotment"),
            &[
                ("scale", "goal_attainment"),
                ("value", "5"),
                ("date-day", "20"),
                ("date-month", "11"),
                ("date-year", "2026"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.text("#value-error").contains("from -2 to 2"),
        "{}",
        page.text("#value-error")
    );
    // The person may not edit the plan itself.
    let page = edith
        .submit(
            &format!("{plan}/change/add-strength"),
            &[("description", "Knits")],
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(page.text(".nhsuk-error-summary").contains("may not"));

    let mut nurse = app.signed_in(NURSE).await;
    let page = nurse.page(&plan).await;
    assert_eq!(page.count("#goal-allotment svg circle"), 3);
    assert!(page.html.contains("<strong>solo</strong>"));
    let actions = page.text("#actions");
    assert!(actions.contains("Wednesdays at 2pm"), "{actions}");
    let suggestion = page
        .attr(
            "#actions form[action$='accept-suggestion'] input[name=item]",
            "value",
        )
        .unwrap();
    let csrf = page.attr("input[name=csrf_token]", "value").unwrap();
    let done = nurse
        .post_form(
            &format!("{plan}/change/accept-suggestion"),
            &[("csrf_token", &csrf), ("item", &suggestion)],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    let page = nurse.page(&plan).await;
    assert!(page.text("#action-physio").contains("Wednesdays at 2pm"));
    assert!(page.text("#actions").contains("Accepted"));
}

#[tokio::test]
async fn csp12_agreement_by_a_representative_then_a_change_shows_it_is_for_an_earlier_version() {
    let app = spawn().await;
    let plan = app.plan();
    let mut susan = app.signed_in(REPRESENTATIVE).await;
    let page = susan
        .submit(
            &format!("{plan}/change/agreement"),
            &[("who", "representative")],
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.text(".nhsuk-error-summary")
            .contains("Enter the representative's name")
    );
    let page = susan
        .submit(
            &format!("{plan}/change/agreement"),
            &[
                ("who", "representative"),
                ("rep_name", "Susan Marlowe"),
                ("rep_relationship", "Daughter"),
                (
                    "rep_authority",
                    "lasting_power_of_attorney_health_and_welfare",
                ),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.html);
    let mut nurse = app.signed_in(NURSE).await;
    let page = nurse.page(&plan).await;
    let summary = page.text("#summary");
    assert!(summary.contains("Agreed by Susan Marlowe (Daughter, lasting power of attorney for health and welfare) – version 21"), "{summary}");
    assert!(!summary.contains("changed since"));
    nurse
        .submit(
            &format!("{plan}/change/add-strength"),
            &[("description", "Cheerful")],
        )
        .await;
    let page = nurse.page(&plan).await;
    assert!(
        page.text("#summary")
            .contains("The plan has changed since it was agreed")
    );
    assert!(page.text("#agreement").contains("For an earlier version"));
}

#[tokio::test]
async fn csp12_capacity_assessment_and_best_interest_decision() {
    let app = spawn().await;
    let plan = app.plan();
    let mut b = app.signed_in(NURSE).await;
    let page = b
        .submit(
            &format!("{plan}/change/capacity-assessment"),
            &[
                ("decision", "Where to live"),
                ("outcome", "lacks_capacity"),
                ("assessed_by", "Dr Helen Ward"),
                ("reasoning", "Could not retain the information"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.html);
    let form = b.page(&format!("{plan}/change/best-interest")).await;
    let assessment = form.attr("#assessment option", "value").unwrap();
    let page = b
        .submit(
            &format!("{plan}/change/best-interest"),
            &[
                ("decision", "Move to extra-care housing"),
                ("assessment", &assessment),
                ("decision_maker", "Tom Okafor"),
                ("consulted", "Susan Marlowe\nDr Helen Ward"),
                ("rationale", "Safer, and near the allotment"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.html);
    let page = b.page(&plan).await;
    let capacity = page.text("#capacity");
    assert!(
        capacity.contains("Lacks capacity for this decision"),
        "{capacity}"
    );
    assert!(
        capacity.contains("Susan Marlowe; Dr Helen Ward"),
        "{capacity}"
    );
}

#[tokio::test]
async fn csp1_the_person_withholds_a_section_and_the_practitioner_sees_a_notice_instead() {
    let app = spawn().await;
    let plan = app.plan();
    let mut edith = app.signed_in(PERSON).await;
    let own = edith.page(&format!("{plan}/my-plan")).await;
    assert_eq!(own.text("h1"), "Your care and support plan");
    assert_eq!(
        own.texts("main h2")[0],
        "What you want to do",
        "goals first"
    );
    let page = edith
        .submit(
            &format!("{plan}/change/sharing"),
            &[
                ("scope", "concerns"),
                ("audience_kind", "role"),
                ("role", "practitioner"),
                ("visible", "false"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.html);
    let sharing = edith.page(&format!("{plan}/sharing")).await;
    assert!(sharing.text("table").contains("Concerns"));
    assert!(sharing.text("table").contains("No, kept from them"));

    let mut nurse = app.signed_in(NURSE).await;
    let page = nurse.page(&plan).await;
    assert!(
        page.text("#concerns")
            .contains("withheld from you under the person's consent choices")
    );
    assert!(!page.html.contains("Worried about falling again"));
    assert!(
        !page
            .text("#goal-allotment")
            .contains("Worried about falling"),
        "links into the withheld section are not shown"
    );
    // …on every read path.
    let old = nurse.page(&format!("{plan}/versions/12")).await;
    assert!(!old.html.contains("Worried about falling again"));
    let history = nurse.page(&format!("{plan}/history")).await;
    assert!(!history.html.contains("Worried about falling"));
    let print = nurse.page(&format!("{plan}/print")).await;
    assert!(!print.html.contains("Worried about falling again"));
}

#[tokio::test]
async fn csp1_a_data_controller_releases_a_withheld_section_with_a_reason_and_the_audit_trail_shows_it()
 {
    let app = spawn().await;
    let plan = app.plan();
    let mut edith = app.signed_in(PERSON).await;
    edith
        .submit(
            &format!("{plan}/change/sharing"),
            &[
                ("scope", "concerns"),
                ("audience_kind", "role"),
                ("role", "practitioner"),
                ("visible", "false"),
            ],
        )
        .await;
    let mut dana = app.signed_in(CONTROLLER).await;
    let form = dana.page(&format!("{plan}/releases?new=1")).await;
    assert_eq!(form.text("h1"), "Release part of a restricted plan");
    let page = dana
        .submit(
            &format!("{plan}/releases?new=1"),
            &[
                ("scope", "concerns"),
                ("audience_kind", "role"),
                ("role", "practitioner"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.text(".nhsuk-error-summary")
            .contains("Enter the legitimate reason")
    );
    let page = dana
        .submit(
            &format!("{plan}/releases?new=1"),
            &[
                ("scope", "concerns"),
                ("audience_kind", "role"),
                ("role", "practitioner"),
                (
                    "reason",
                    "Discharge planning while Edith is unable to consent",
                ),
                ("expires-day", "1"),
                ("expires-month", "1"),
                ("expires-year", "2099"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.html);
    let releases = dana.page(&format!("{plan}/releases")).await;
    assert!(releases.text("table").contains("Discharge planning"));

    let mut nurse = app.signed_in(NURSE).await;
    let page = nurse.page(&plan).await;
    assert!(
        page.html.contains("Worried about falling again"),
        "released"
    );
    assert!(
        page.body_text()
            .contains("because a data controller released them")
    );

    let audit = dana.page(&format!("{plan}/audit")).await;
    let text = audit.text("table");
    assert!(text.contains("Released a restricted record"), "{text}");
    assert!(text.contains("Used a release"), "{text}");
    assert!(text.contains("Discharge planning"), "{text}");
    // The person sees the release and the audit trail of their own plan; a practitioner does not.
    let sharing = edith.page(&format!("{plan}/sharing")).await;
    assert!(sharing.text("main").contains("Discharge planning"));
    assert!(
        edith
            .page(&format!("{plan}/audit"))
            .await
            .text("table")
            .contains("Priya Shah")
    );
    assert_eq!(
        nurse.get(&format!("{plan}/audit")).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        nurse.get(&format!("{plan}/releases")).await.status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn a_practitioner_adds_a_person_with_their_details_checked() {
    let app = spawn().await;
    let mut b = app.signed_in(NURSE).await;
    let page = b
        .submit(
            "/people/new",
            &[
                ("given_name", "Ada"),
                ("family_name", ""),
                ("nhs_number", "943 476 5918"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    let summary = page.text(".nhsuk-error-summary");
    assert!(summary.contains("Enter their family name"), "{summary}");
    assert!(summary.contains("Enter their date of birth"), "{summary}");
    assert!(summary.contains("check digit is wrong"), "{summary}");
    assert_eq!(
        page.attr(".nhsuk-error-summary a[href='#date_of_birth-day']", "href")
            .as_deref(),
        Some("#date_of_birth-day")
    );
    assert_eq!(page.attr("#given_name", "value").as_deref(), Some("Ada"));
    let page = b
        .submit(
            "/people/new",
            &[
                ("given_name", "Ada"),
                ("family_name", "Lovelace"),
                ("date_of_birth-day", "10"),
                ("date_of_birth-month", "12"),
                ("date_of_birth-year", "1950"),
                ("nhs_number", "943 476 5919"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.html);
    let plan = b.page(&page.location.unwrap()).await;
    assert_eq!(plan.text("h1"), "Care and support plan for Ada Lovelace");
    assert!(plan.text("#care-team").contains("Priya Shah"));
    assert!(
        b.page("/people")
            .await
            .text("table")
            .contains("Ada Lovelace")
    );
}

#[tokio::test]
async fn the_print_view_is_the_whole_plan_with_a_print_stylesheet() {
    let app = spawn().await;
    let mut b = app.signed_in(NURSE).await;
    let page = b.page(&format!("{}/print", app.plan())).await;
    assert!(
        page.text(".app-print-only")
            .contains("Printed from version 20")
    );
    assert_eq!(page.count("main form"), 0, "no forms on paper");
    assert_eq!(
        page.count("a[href*='/change/']"),
        0,
        "no editing links on paper"
    );
    let css = page.attr("link[href$='app.css']", "href").unwrap();
    let css = b.get(&css).await;
    assert!(css.html.contains("@media print"));
}

#[tokio::test]
async fn assets_are_embedded_cached_for_a_year_and_never_from_a_cdn() {
    let app = spawn().await;
    let mut b = app.browser();
    let page = b.page("/sign-in").await;
    let css = page.attr("link[href$='nhsuk.css']", "href").unwrap();
    assert!(css.starts_with("/assets/"));
    let resp = b.get(&css).await;
    assert_eq!(resp.status, StatusCode::OK);
    assert_eq!(resp.headers["content-type"], "text/css; charset=utf-8");
    assert!(
        resp.headers["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age=31536000")
    );
    assert!(
        resp.html.contains(".nhsuk-header"),
        "the NHS.UK design system"
    );
    assert!(!resp.html.contains("https://"), "no remote fonts or images");
    for path in ["nhsuk.js", "app.js", "images/favicon.svg"] {
        let p = css.replace("nhsuk.css", path);
        assert_eq!(b.get(&p).await.status, StatusCode::OK, "{p}");
    }
    assert_eq!(
        b.get("/assets/nope/nhsuk.css").await.status,
        StatusCode::NOT_FOUND
    );
    assert!(
        !page.html.contains("https://"),
        "pages load nothing from elsewhere"
    );
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert_eq!(
        page.headers["cache-control"], "no-store",
        "personal pages are not cached"
    );
}

#[tokio::test]
async fn csp2_attachments_show_as_images_players_or_downloads_and_links_say_who_added_them() {
    let app = spawn().await;
    let plan_id = careplan_model::PlanId::parse(&app.fixture.plan_id).unwrap();
    let nurse = &app.fixture.nurse;
    let handle = app.store.handle(nurse.requester(), nurse.actor());
    let sha = "a".repeat(64);
    let commands: Vec<careplan_model::Command> = serde_json::from_value(serde_json::json!([
        {"type": "add_attachment", "id": "photo-1", "target": {"on": "item", "item": "goal-allotment"},
         "title": "The allotment in May", "purpose": "progress_picture", "content_type": "image/jpeg",
         "size_bytes": 120000, "sha256": sha, "description": "Raised beds with runner beans"},
        {"type": "add_attachment", "id": "clip-1", "target": {"on": "plan"},
         "title": "Edith explains her plan", "purpose": "recording", "content_type": "audio/mpeg",
         "size_bytes": 2000000, "sha256": sha},
        {"type": "add_attachment", "id": "doc-1", "target": {"on": "plan"},
         "title": "Physio exercise sheet", "purpose": "guidance", "content_type": "application/pdf",
         "size_bytes": 40000, "sha256": sha}
    ]))
    .unwrap();
    let version = careplan_model::VersionNumber::new(20).unwrap();
    handle
        .apply(&plan_id, version, commands, None)
        .await
        .unwrap();
    let mut b = app.signed_in(NURSE).await;
    let page = b.page(&app.plan()).await;
    let content = format!("/api/v1/people/{}/plan/attachments/", app.fixture.person_id);
    assert_eq!(
        page.attr("#goal-allotment img", "alt").as_deref(),
        Some("Raised beds with runner beans"),
        "images inline with their text alternative"
    );
    assert!(
        page.attr("#goal-allotment img", "src")
            .unwrap()
            .starts_with(&content)
    );
    assert_eq!(page.count("#plan-comments audio[controls]"), 1);
    assert!(
        page.attr("#plan-comments a[download]", "href")
            .unwrap()
            .ends_with("doc-1/content")
    );
    let links = page.text("#plan-comments");
    assert!(
        links.contains("Preventing falls (NHS guidance)")
            && links.contains("added by Priya Shah on"),
        "{links}"
    );
}

#[tokio::test]
async fn csp6_goals_are_put_in_the_persons_order_and_personal_details_are_versioned() {
    let app = spawn().await;
    let plan = app.plan();
    let mut b = app.signed_in(NURSE).await;
    let page = b
        .submit(
            &format!("{plan}/change/rank-goals"),
            &[("rank-goal-allotment", "2"), ("rank-goal-choir", "1")],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.html);
    let page = b.page(&plan).await;
    assert_eq!(
        page.texts("#goals h3")[0],
        "Sing with the choir at the Christmas concert"
    );
    let page = b
        .submit(
            &format!("{plan}/change/rank-goals"),
            &[("rank-goal-allotment", "7")],
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.text("#rank-goal-allotment-error")
            .contains("from 1 to 2")
    );
    let page = b
        .submit(
            &format!("{plan}/change/edit-person"),
            &[("preferred_name", "")],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.html);
    let page = b.page(&plan).await;
    assert_eq!(page.text("h1"), "Care and support plan for Edith Marlowe");
    let history = b.page(&format!("{plan}/history")).await;
    assert!(
        history
            .text("tbody")
            .contains("Updated the person's details")
    );
}
