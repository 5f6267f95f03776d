//! What every page shares: the title, the signed-in user in the header, the navigation and the
//! asset addresses.

use crate::assets::asset;
use crate::session::Session;

/// The signed-in user as the header shows them.
#[derive(Debug, Clone)]
pub struct UserNav {
    pub name: String,
    pub role: String,
    pub csrf: String,
    /// Navigation links: (href, text, current).
    pub links: Vec<(String, String, bool)>,
}

/// The page frame: `<title>`, header, navigation, stylesheets.
#[derive(Debug, Clone)]
pub struct Chrome {
    pub title: String,
    pub user: Option<UserNav>,
    pub css: String,
    pub app_css: String,
    pub js: String,
    pub favicon: String,
    pub favicon_svg: String,
    /// Extra class on `<body>` (the person's large-type view, the print view).
    pub body_class: String,
}

impl Chrome {
    /// A page for someone not signed in (sign-in, errors).
    pub fn plain(title: &str) -> Chrome {
        Chrome {
            title: format!("{title} – Care and support plan – NHS"),
            user: None,
            css: asset("nhsuk.css"),
            app_css: asset("app.css"),
            js: asset("app.js"),
            favicon: asset("images/favicon.ico"),
            favicon_svg: asset("images/favicon.svg"),
            body_class: String::new(),
        }
    }

    /// A page for a signed-in user; `section` names the current navigation item.
    pub fn signed_in(title: &str, session: &Session, section: &str) -> Chrome {
        let mut links = Vec::new();
        if session.is_person_side() {
            if let Some(person) = &session.account.person_id {
                links.push((
                    format!("/people/{person}/my-plan"),
                    "My plan".to_owned(),
                    section == "my-plan",
                ));
                links.push((
                    format!("/people/{person}/sharing"),
                    "Who can see my plan".to_owned(),
                    section == "sharing",
                ));
                links.push((
                    format!("/people/{person}/audit"),
                    "Who has looked at my plan".to_owned(),
                    section == "audit",
                ));
            }
        } else {
            links.push((
                "/people".to_owned(),
                match session.role() {
                    careplan_model::Role::Practitioner => "My caseload".to_owned(),
                    _ => "People".to_owned(),
                },
                section == "people",
            ));
            if session.role() == careplan_model::Role::Practitioner {
                links.push((
                    "/people/new".to_owned(),
                    "Add a person".to_owned(),
                    section == "new-person",
                ));
            }
        }
        Chrome {
            user: Some(UserNav {
                name: session.account.display_name.clone(),
                role: session.role().label().to_owned(),
                csrf: session.csrf.clone(),
                links,
            }),
            ..Chrome::plain(title)
        }
    }

    pub fn with_body_class(mut self, class: &str) -> Chrome {
        self.body_class = class.to_owned();
        self
    }
}
