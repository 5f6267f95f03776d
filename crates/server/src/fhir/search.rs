//! Search (`GET /fhir/{Type}?…`): the parameters each type supports, `_include` and
//! `_revinclude`, paging, and the handling of unknown parameters (`Prefer: handling=strict`
//! refuses them; otherwise each is named in a warning).

use std::collections::BTreeSet;

use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use careplan_fhir::{ResourceKind, resources};
use careplan_model::{PlanId, Section, Timestamp};
use careplan_store::StoreError;
use careplan_store::handle::Handle;
use serde_json::{Value, json};

use super::read::{provenances, withheld_issue};
use super::{
    FhirError, FhirResult, Issue, Who, base_url, fhir_response, outcome, params_of, plan_kind,
};

/// Results per page unless `_count` says otherwise, and the most `_count` may ask for.
pub(crate) const DEFAULT_COUNT: usize = 50;
pub(crate) const MAX_COUNT: usize = 500;

/// The most plans one search or type-level history reads without a `patient`, `subject` or
/// `_id` to narrow it.
pub(crate) const MAX_PLANS: u32 = 100;

/// Parameters every search understands besides the type's own.
const CONTROL: [&str; 5] = ["_count", "_offset", "_include", "_revinclude", "_format"];

/// The search parameters of a type: name, FHIR type, what it matches.
pub(crate) fn search_params(kind: ResourceKind) -> Vec<(&'static str, &'static str, &'static str)> {
    let mut out = vec![
        (
            "_id",
            "token",
            "The resource id (comma-separated ids: any of them)",
        ),
        (
            "_lastUpdated",
            "date",
            "meta.lastUpdated (the plan's last change), with eq, ne, lt, le, gt, ge prefixes",
        ),
    ];
    if kind == ResourceKind::Patient {
        out.push((
            "identifier",
            "token",
            "An identifier such as the NHS number (https://fhir.nhs.uk/Id/nhs-number|9434765919)",
        ));
        return out;
    }
    if patient_path(kind).is_some() {
        out.push((
            "patient",
            "reference",
            "The person whose plan it is (Patient/id or id)",
        ));
        out.push(("subject", "reference", "Same as patient"));
    }
    if let Some((name, _)) = status_param(kind) {
        out.push((name, "token", "The resource's status code"));
    }
    if category_path(kind).is_some() {
        out.push((
            "category",
            "token",
            "A category coding (system|code or code)",
        ));
    }
    out
}

/// The element holding the reference to the Patient.
fn patient_path(kind: ResourceKind) -> Option<&'static str> {
    match kind {
        ResourceKind::Patient | ResourceKind::Provenance => None,
        ResourceKind::Task => Some("for.reference"),
        ResourceKind::Consent => Some("patient.reference"),
        _ => Some("subject.reference"),
    }
}

/// The status parameter of a type (FHIR R4's name for it) and the element with the code.
fn status_param(kind: ResourceKind) -> Option<(&'static str, &'static str)> {
    match kind {
        ResourceKind::CarePlan
        | ResourceKind::Task
        | ResourceKind::Observation
        | ResourceKind::Consent
        | ResourceKind::List
        | ResourceKind::DocumentReference
        | ResourceKind::CareTeam => Some(("status", "status")),
        ResourceKind::Goal => Some(("lifecycle-status", "lifecycleStatus")),
        ResourceKind::Condition => Some(("clinical-status", "clinicalStatus.coding[].code")),
        ResourceKind::Patient | ResourceKind::Provenance => None,
    }
}

fn category_path(kind: ResourceKind) -> Option<&'static str> {
    match kind {
        ResourceKind::CarePlan
        | ResourceKind::Condition
        | ResourceKind::Goal
        | ResourceKind::Observation
        | ResourceKind::Consent
        | ResourceKind::DocumentReference
        | ResourceKind::CareTeam => Some("category[].coding[]"),
        _ => None,
    }
}

/// `_include` and `_revinclude` paths: source type, parameter, element, target type.
pub(crate) const REFERENCES: &[(ResourceKind, &str, &str, ResourceKind)] = &[
    (
        ResourceKind::CarePlan,
        "goal",
        "goal[].reference",
        ResourceKind::Goal,
    ),
    (
        ResourceKind::CarePlan,
        "addresses",
        "addresses[].reference",
        ResourceKind::Condition,
    ),
    (
        ResourceKind::CarePlan,
        "subject",
        "subject.reference",
        ResourceKind::Patient,
    ),
    (
        ResourceKind::CarePlan,
        "patient",
        "subject.reference",
        ResourceKind::Patient,
    ),
    (
        ResourceKind::CarePlan,
        "care-team",
        "careTeam[].reference",
        ResourceKind::CareTeam,
    ),
    (
        ResourceKind::CarePlan,
        "activity-reference",
        "activity[].reference.reference",
        ResourceKind::Task,
    ),
    (
        ResourceKind::Goal,
        "subject",
        "subject.reference",
        ResourceKind::Patient,
    ),
    (
        ResourceKind::Goal,
        "patient",
        "subject.reference",
        ResourceKind::Patient,
    ),
    (
        ResourceKind::Condition,
        "subject",
        "subject.reference",
        ResourceKind::Patient,
    ),
    (
        ResourceKind::Condition,
        "patient",
        "subject.reference",
        ResourceKind::Patient,
    ),
    (
        ResourceKind::Observation,
        "subject",
        "subject.reference",
        ResourceKind::Patient,
    ),
    (
        ResourceKind::Observation,
        "patient",
        "subject.reference",
        ResourceKind::Patient,
    ),
    (
        ResourceKind::Observation,
        "focus",
        "focus[].reference",
        ResourceKind::Goal,
    ),
    (
        ResourceKind::Task,
        "patient",
        "for.reference",
        ResourceKind::Patient,
    ),
    (
        ResourceKind::Task,
        "based-on",
        "basedOn[].reference",
        ResourceKind::CarePlan,
    ),
    (
        ResourceKind::Task,
        "focus",
        "focus.reference",
        ResourceKind::CarePlan,
    ),
    (
        ResourceKind::Consent,
        "patient",
        "patient.reference",
        ResourceKind::Patient,
    ),
    (
        ResourceKind::List,
        "subject",
        "subject.reference",
        ResourceKind::Patient,
    ),
    (
        ResourceKind::List,
        "patient",
        "subject.reference",
        ResourceKind::Patient,
    ),
    (
        ResourceKind::List,
        "item",
        "entry[].item.reference",
        ResourceKind::Goal,
    ),
    (
        ResourceKind::CareTeam,
        "subject",
        "subject.reference",
        ResourceKind::Patient,
    ),
    (
        ResourceKind::CareTeam,
        "patient",
        "subject.reference",
        ResourceKind::Patient,
    ),
    (
        ResourceKind::Provenance,
        "target",
        "target[].reference",
        ResourceKind::CarePlan,
    ),
];

/// `_revinclude`s a search of the target type accepts: (source, parameter, target).
pub(crate) const REVINCLUDES: &[(ResourceKind, &str, ResourceKind)] = &[
    (ResourceKind::Goal, "subject", ResourceKind::Patient),
    (ResourceKind::CarePlan, "subject", ResourceKind::Patient),
    (ResourceKind::Condition, "subject", ResourceKind::Patient),
    (ResourceKind::Task, "based-on", ResourceKind::CarePlan),
    (ResourceKind::Provenance, "target", ResourceKind::CarePlan),
    (ResourceKind::Observation, "focus", ResourceKind::Goal),
    (ResourceKind::List, "item", ResourceKind::Goal),
    (ResourceKind::CarePlan, "goal", ResourceKind::Goal),
    (ResourceKind::CarePlan, "addresses", ResourceKind::Condition),
];

/// The `_include` parameters of a type.
pub(crate) fn includes_of(kind: ResourceKind) -> Vec<&'static str> {
    REFERENCES
        .iter()
        .filter(|(source, ..)| *source == kind)
        .map(|(_, p, ..)| *p)
        .collect()
}

fn reference_path(source: ResourceKind, param: &str) -> Option<&'static str> {
    REFERENCES
        .iter()
        .find(|(s, p, ..)| *s == source && *p == param)
        .map(|(_, _, path, _)| *path)
}

/// Every value at a simple path: `a.b` descends into objects, `a[]` into every array element.
pub(crate) fn values_at<'v>(v: &'v Value, path: &str) -> Vec<&'v Value> {
    let mut current = vec![v];
    for segment in path.split('.') {
        let (name, many) = match segment.strip_suffix("[]") {
            Some(n) => (n, true),
            None => (segment, false),
        };
        let mut next = Vec::new();
        for c in current {
            match c.get(name) {
                Some(Value::Array(items)) if many => next.extend(items.iter()),
                Some(x) if !many => next.push(x),
                _ => {}
            }
        }
        current = next;
    }
    current
}

/// `Type/id` of a reference (`Goal/g1`, `https://…/fhir/Goal/g1`, `CarePlan/p/_history/3`).
pub(crate) fn type_and_id(reference: &str) -> Option<(String, String)> {
    let r = reference.split("/_history/").next().unwrap_or(reference);
    let mut parts = r.rsplit('/');
    let id = parts.next()?;
    let kind = parts.next()?;
    (!id.is_empty() && !kind.is_empty()).then(|| (kind.to_owned(), id.to_owned()))
}

fn key(r: &Value) -> (String, String) {
    (
        r["resourceType"].as_str().unwrap_or_default().to_owned(),
        r["id"].as_str().unwrap_or_default().to_owned(),
    )
}

/// A comparison of `_lastUpdated`.
#[derive(Debug, Clone, Copy)]
struct DateBound {
    prefix: &'static str,
    /// The start and (exclusive) end of the instant or day named.
    from: Timestamp,
    to: Timestamp,
}

fn parse_date_bound(raw: &str) -> Result<DateBound, String> {
    const PREFIXES: [&str; 6] = ["eq", "ne", "lt", "le", "gt", "ge"];
    let (prefix, rest) = PREFIXES
        .iter()
        .find_map(|p| raw.strip_prefix(p).map(|r| (*p, r)))
        .unwrap_or(("eq", raw));
    let bad = || {
        format!(
            "_lastUpdated must be a date or date-time with an optional prefix (ge2026-01-01), not “{raw}”"
        )
    };
    if rest.len() == 10 {
        let from = Timestamp::parse(&format!("{rest}T00:00:00Z")).map_err(|_| bad())?;
        let to = Timestamp::from_datetime(from.datetime() + time::Duration::days(1));
        Ok(DateBound { prefix, from, to })
    } else {
        let at = Timestamp::parse(rest).map_err(|_| bad())?;
        Ok(DateBound {
            prefix,
            from: at,
            to: at,
        })
    }
}

impl DateBound {
    fn holds(&self, t: Timestamp) -> bool {
        let instant = self.from == self.to;
        let within = if instant {
            t == self.from
        } else {
            t >= self.from && t < self.to
        };
        match self.prefix {
            "ne" => !within,
            "lt" => t < self.from,
            "le" => {
                if instant {
                    t <= self.to
                } else {
                    t < self.to
                }
            }
            "gt" => {
                if instant {
                    t > self.to
                } else {
                    t >= self.to
                }
            }
            "ge" => t >= self.from,
            _ => within,
        }
    }
}

/// A token matches a coding, or a plain code: `system|code`, `|code` (no system), or `code`.
fn token_matches(token: &str, found: &Value) -> bool {
    let (system, code) = match token.split_once('|') {
        Some((s, c)) => (Some(s), c),
        None => (None, token),
    };
    match found {
        Value::String(s) => system.is_none_or(str::is_empty) && s == code,
        Value::Object(o) => {
            let code_ok = o.get("code").and_then(Value::as_str) == Some(code)
                || o.get("value").and_then(Value::as_str) == Some(code);
            let sys = o.get("system").and_then(Value::as_str);
            code_ok
                && match system {
                    None => true,
                    Some("") => sys.is_none(),
                    Some(s) => sys == Some(s),
                }
        }
        _ => false,
    }
}

/// The search as parsed: filters on the resources, includes, paging.
#[derive(Debug, Default)]
struct Query {
    ids: Option<Vec<String>>,
    patient: Option<String>,
    status: Option<Vec<String>>,
    category: Option<Vec<String>>,
    identifier: Option<Vec<String>>,
    last_updated: Vec<DateBound>,
    count: usize,
    offset: usize,
    include: Vec<(ResourceKind, String)>,
    revinclude: Vec<(ResourceKind, String)>,
}

/// Parses the parameters: errors are 400; unknown parameters are returned for the caller to
/// refuse (strict) or warn about (lenient).
fn parse(kind: ResourceKind, params: &[(String, String)]) -> FhirResult<(Query, Vec<Issue>)> {
    let known: BTreeSet<&str> = search_params(kind).iter().map(|(n, ..)| *n).collect();
    let mut q = Query {
        count: DEFAULT_COUNT,
        ..Query::default()
    };
    let mut unknown = Vec::new();
    let list = |v: &str| -> Vec<String> { v.split(',').map(|s| s.trim().to_owned()).collect() };
    for (name, value) in params {
        let name = name.as_str();
        if !known.contains(name) && !CONTROL.contains(&name) {
            unknown.push(
                Issue::warning(
                    "not-supported",
                    format!("The search parameter “{name}” is not supported for {} and was not used: see /fhir/metadata", kind.as_str()),
                )
                .at(name.to_owned()),
            );
            continue;
        }
        match name {
            "_id" => q.ids = Some(list(value)),
            "patient" | "subject" => {
                let id = match type_and_id(value) {
                    Some((t, id)) if t == "Patient" => id,
                    Some(_) => {
                        return Err(FhirError::bad_request(format!(
                            "{name} must name a Patient (Patient/id or id), not “{value}”"
                        )));
                    }
                    None => value.clone(),
                };
                q.patient = Some(id);
            }
            "identifier" => q.identifier = Some(list(value)),
            "category" => q.category = Some(list(value)),
            "_lastUpdated" => q
                .last_updated
                .push(parse_date_bound(value).map_err(FhirError::bad_request)?),
            "_count" => {
                q.count = value
                    .parse::<usize>()
                    .map_err(|_| {
                        FhirError::bad_request(format!(
                            "_count must be a whole number, not “{value}”"
                        ))
                    })?
                    .min(MAX_COUNT)
            }
            "_offset" => {
                q.offset = value.parse::<usize>().map_err(|_| {
                    FhirError::bad_request(format!("_offset must be a whole number, not “{value}”"))
                })?
            }
            "_include" | "_revinclude" => {
                let parsed = value
                    .split_once(':')
                    .and_then(|(t, p)| ResourceKind::parse(t).map(|t| (t, p.to_owned())));
                let supported = match (&parsed, name) {
                    (Some((t, p)), "_include") => *t == kind && reference_path(*t, p).is_some(),
                    (Some((t, p)), _) => REVINCLUDES
                        .iter()
                        .any(|(s, rp, target)| s == t && rp == p && *target == kind),
                    (None, _) => false,
                };
                match parsed {
                    Some(include) if supported => {
                        if name == "_include" {
                            q.include.push(include);
                        } else {
                            q.revinclude.push(include);
                        }
                    }
                    _ => unknown.push(
                        Issue::warning(
                            "not-supported",
                            format!("{name}={value} is not supported for {} and was not used: see searchInclude and searchRevInclude in /fhir/metadata", kind.as_str()),
                        )
                        .at(format!("{name}={value}")),
                    ),
                }
            }
            "_format" => {}
            status => {
                debug_assert_eq!(Some(status), status_param(kind).map(|s| s.0));
                q.status = Some(list(value));
            }
        }
    }
    Ok((q, unknown))
}

impl Query {
    fn matches(&self, kind: ResourceKind, r: &Value) -> bool {
        if r["resourceType"] != kind.as_str() {
            return false;
        }
        if let Some(ids) = &self.ids
            && !ids.iter().any(|id| r["id"] == id.as_str())
        {
            return false;
        }
        if let Some(p) = &self.patient {
            let wanted = format!("Patient/{p}");
            let found = patient_path(kind)
                .map(|path| values_at(r, path))
                .unwrap_or_default();
            if !found.iter().any(|v| v.as_str() == Some(&wanted)) {
                return false;
            }
        }
        if let (Some(tokens), Some((_, path))) = (&self.status, status_param(kind)) {
            let found = values_at(r, path);
            if !tokens
                .iter()
                .any(|t| found.iter().any(|f| token_matches(t, f)))
            {
                return false;
            }
        }
        if let (Some(tokens), Some(path)) = (&self.category, category_path(kind)) {
            let found = values_at(r, path);
            if !tokens
                .iter()
                .any(|t| found.iter().any(|f| token_matches(t, f)))
            {
                return false;
            }
        }
        if let Some(tokens) = &self.identifier {
            let found = values_at(r, "identifier[]");
            if !tokens
                .iter()
                .any(|t| found.iter().any(|f| token_matches(t, f)))
            {
                return false;
            }
        }
        if !self.last_updated.is_empty() {
            let Some(t) = r["meta"]["lastUpdated"]
                .as_str()
                .and_then(|s| Timestamp::parse(s).ok())
            else {
                return false;
            };
            if !self.last_updated.iter().all(|b| b.holds(t)) {
                return false;
            }
        }
        true
    }
}

/// Whether the request asked for strict handling of unknown parameters.
pub(crate) fn strict(headers: &HeaderMap) -> bool {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split([',', ';']))
        .any(|p| p.trim().eq_ignore_ascii_case("handling=strict"))
}

/// Unknown parameters: refused with 400 under `handling=strict`, otherwise warnings.
pub(crate) fn handle_unknown(headers: &HeaderMap, unknown: Vec<Issue>) -> FhirResult<Vec<Issue>> {
    if strict(headers) && !unknown.is_empty() {
        return Err(FhirError {
            status: StatusCode::BAD_REQUEST,
            issues: unknown
                .into_iter()
                .map(|i| Issue {
                    severity: "error",
                    ..i
                })
                .collect(),
        });
    }
    Ok(unknown)
}

/// One plan as a requester sees it, with every resource of it a search may return or include.
pub(crate) struct Opened {
    pub resources: Vec<Value>,
    pub withheld: Vec<Section>,
}

/// Opens the plan as the requester and lists its resources (with each version's Provenance
/// when `with_provenance`).
pub(crate) async fn open_plan(
    h: &Handle,
    plan_id: &PlanId,
    with_provenance: bool,
) -> Result<Opened, StoreError> {
    let viewed = h.current(plan_id).await?;
    let mut all = resources(&viewed.value);
    if with_provenance {
        all.extend(provenances(h, &viewed.value).await?);
    }
    Ok(Opened {
        resources: all,
        withheld: viewed.withheld,
    })
}

/// The plans a search looks in: the one the query names, or every plan the requester may open.
/// `explicit` is true when the query named them (then a refusal is an error, not a skip).
async fn plans_for(h: &Handle, kind: ResourceKind, q: &Query) -> FhirResult<(Vec<PlanId>, bool)> {
    let found = |r: Result<PlanId, StoreError>| -> FhirResult<Vec<PlanId>> {
        match r {
            Ok(p) => Ok(vec![p]),
            Err(StoreError::NotFound(_)) => Ok(Vec::new()),
            Err(e) => Err(e.into()),
        }
    };
    if let Some(p) = &q.patient {
        return Ok((found(h.find_plan(p).await)?, true));
    }
    if let (ResourceKind::Patient, Some(ids)) = (kind, &q.identifier) {
        let mut plans = Vec::new();
        for token in ids {
            let value = token.rsplit('|').next().unwrap_or(token);
            plans.extend(found(h.find_plan(value).await)?);
        }
        return Ok((plans, false));
    }
    if let Some(ids) = &q.ids {
        let mut plans = Vec::new();
        for id in ids {
            match kind {
                ResourceKind::Patient | ResourceKind::CarePlan => {
                    plans.extend(found(h.find_plan(id).await)?)
                }
                _ => match super::read::derived_plan(h, kind, id).await? {
                    Some(p) => plans.push(p),
                    None => plans.extend(h.plans_with_item(id).await?),
                },
            }
        }
        plans.sort();
        plans.dedup();
        return Ok((plans, false));
    }
    let people = h.people(None, MAX_PLANS + 1, 0).await?;
    if people.len() > MAX_PLANS as usize {
        return Err(FhirError::new(
            StatusCode::BAD_REQUEST,
            "too-costly",
            format!(
                "You may see more than {MAX_PLANS} plans: narrow the search with patient, subject or _id"
            ),
        ));
    }
    let mut plans = Vec::new();
    for p in people {
        plans.push(PlanId::parse(&p.plan_id).map_err(|e| StoreError::Corrupt(e.to_string()))?);
    }
    Ok((plans, false))
}

/// `GET /fhir/{Type}`: search. Also serves `StructureDefinition` and `CodeSystem` (all of them).
pub(crate) async fn search(
    Path(kind): Path<String>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    who: Result<Who, FhirError>,
) -> FhirResult<Response> {
    let params = params_of(&uri);
    let base = base_url(&headers);
    if let Some(all) = super::read::conformance_all(&kind) {
        super::check_format_uri(&uri, &headers)?;
        let unknown: Vec<Issue> = params
            .iter()
            .filter(|(n, _)| n != "_format")
            .map(|(n, _)| {
                Issue::warning(
                    "not-supported",
                    format!("The search parameter “{n}” is not supported for {kind}: every {kind} is returned"),
                )
                .at(n.clone())
            })
            .collect();
        let warnings = handle_unknown(&headers, unknown)?;
        let mut entries: Vec<Value> = all
            .into_iter()
            .map(|r| {
                json!({"fullUrl": format!("{base}/{kind}/{}", r["id"].as_str().unwrap_or_default()),
                       "resource": r, "search": {"mode": "match"}})
            })
            .collect();
        let total = entries.len();
        if !warnings.is_empty() {
            entries.push(json!({"resource": outcome(&warnings), "search": {"mode": "outcome"}}));
        }
        let bundle = json!({"resourceType": "Bundle", "type": "searchset", "total": total,
            "link": [{"relation": "self", "url": format!("{base}/{kind}")}], "entry": entries});
        return Ok(fhir_response(StatusCode::OK, &bundle));
    }
    let Who(h) = who?;
    let kind = plan_kind(&kind)?;
    let (q, unknown) = parse(kind, &params)?;
    let mut warnings = handle_unknown(&headers, unknown)?;
    let (plans, explicit) = plans_for(&h, kind, &q).await?;
    let with_provenance = kind == ResourceKind::Provenance
        || q.revinclude
            .iter()
            .any(|(s, _)| *s == ResourceKind::Provenance);
    let mut opened = Vec::new();
    for plan in &plans {
        match open_plan(&h, plan, with_provenance).await {
            Ok(o) => opened.push(o),
            Err(StoreError::Forbidden(_) | StoreError::NotFound(_)) if !explicit => {}
            Err(e) => return Err(e.into()),
        }
    }
    let mut matches: Vec<(usize, &Value)> = Vec::new();
    for (i, o) in opened.iter().enumerate() {
        matches.extend(
            o.resources
                .iter()
                .filter(|r| q.matches(kind, r))
                .map(|r| (i, r)),
        );
    }
    let total = matches.len();
    let page: Vec<(usize, &Value)> = matches.into_iter().skip(q.offset).take(q.count).collect();
    let mut seen: BTreeSet<(String, String)> = page.iter().map(|(_, r)| key(r)).collect();
    let mut included: Vec<&Value> = Vec::new();
    for (i, r) in &page {
        for (source, param) in &q.include {
            let Some(path) = reference_path(*source, param) else {
                continue;
            };
            for reference in values_at(r, path).into_iter().filter_map(Value::as_str) {
                let Some(wanted) = type_and_id(reference) else {
                    continue;
                };
                if let Some(found) = opened[*i].resources.iter().find(|x| key(x) == wanted)
                    && seen.insert(wanted)
                {
                    included.push(found);
                }
            }
        }
        for (source, param) in &q.revinclude {
            let Some(path) = reference_path(*source, param) else {
                continue;
            };
            let target = key(r);
            for x in opened[*i]
                .resources
                .iter()
                .filter(|x| x["resourceType"] == source.as_str())
            {
                let points = values_at(x, path)
                    .into_iter()
                    .filter_map(Value::as_str)
                    .any(|reference| type_and_id(reference).as_ref() == Some(&target));
                if points && seen.insert(key(x)) {
                    included.push(x);
                }
            }
        }
    }
    let withheld: BTreeSet<Section> = opened
        .iter()
        .flat_map(|o| o.withheld.iter().copied())
        .collect();
    if !withheld.is_empty() {
        warnings.push(withheld_issue(&withheld.into_iter().collect::<Vec<_>>()));
    }
    let entry_of = |r: &Value, mode: &str| {
        let (t, id) = key(r);
        json!({"fullUrl": format!("{base}/{t}/{id}"), "resource": r, "search": {"mode": mode}})
    };
    let mut entries: Vec<Value> = page.iter().map(|(_, r)| entry_of(r, "match")).collect();
    entries.extend(included.into_iter().map(|r| entry_of(r, "include")));
    if !warnings.is_empty() {
        entries.push(json!({"resource": outcome(&warnings), "search": {"mode": "outcome"}}));
    }
    let path = format!("{base}/{}", kind.as_str());
    let mut links = vec![json!({"relation": "self", "url": page_url(&path, &params, None)})];
    if q.offset + q.count < total {
        links.push(
            json!({"relation": "next", "url": page_url(&path, &params, Some(q.offset + q.count))}),
        );
    }
    if q.offset > 0 {
        links.push(json!({"relation": "previous", "url": page_url(&path, &params, Some(q.offset.saturating_sub(q.count)))}));
    }
    let bundle = json!({
        "resourceType": "Bundle",
        "type": "searchset",
        "total": total,
        "link": links,
        "entry": entries,
    });
    Ok(fhir_response(StatusCode::OK, &bundle))
}

/// The search's URL with `_offset` set to `offset` (or as it was).
pub(crate) fn page_url(path: &str, params: &[(String, String)], offset: Option<usize>) -> String {
    let mut pairs: Vec<(String, String)> = params
        .iter()
        .filter(|(n, _)| offset.is_none() || n != "_offset")
        .cloned()
        .collect();
    if let Some(o) = offset {
        pairs.push(("_offset".into(), o.to_string()));
    }
    if pairs.is_empty() {
        return path.to_owned();
    }
    let query: Vec<String> = pairs
        .iter()
        .map(|(n, v)| format!("{}={}", encode(n), encode(v)))
        .collect();
    format!("{path}?{}", query.join("&"))
}

pub(crate) fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~:/|,".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_updated_prefixes_compare_days_and_instants() {
        let t = Timestamp::parse("2026-03-01T10:00:00Z").unwrap();
        let day = |s: &str| parse_date_bound(s).unwrap().holds(t);
        assert!(day("2026-03-01") && day("ge2026-03-01") && day("le2026-03-01"));
        assert!(!day("gt2026-03-01") && !day("lt2026-03-01") && day("ne2026-03-02"));
        assert!(day("gt2026-02-28T23:59:59Z") && !day("gt2026-03-01T10:00:00Z"));
        assert!(parse_date_bound("yesterday").is_err());
    }

    #[test]
    fn references_and_tokens() {
        assert_eq!(
            type_and_id("http://x/fhir/CarePlan/p1/_history/3"),
            Some(("CarePlan".into(), "p1".into()))
        );
        assert_eq!(type_and_id("g1"), None);
        let coding = json!({"system": "http://s", "code": "c"});
        assert!(token_matches("c", &coding) && token_matches("http://s|c", &coding));
        assert!(!token_matches("|c", &coding) && !token_matches("http://t|c", &coding));
        let r = json!({"a": [{"b": {"c": 1}}, {"b": {"c": 2}}]});
        assert_eq!(values_at(&r, "a[].b.c"), vec![&json!(1), &json!(2)]);
    }
}
