//! HTTP load benchmark (`cargo bench -p careplan --bench load`): the real `careplan serve` on a
//! loopback port with the demo plan; keep-alive clients read the current plan and, in the same
//! run, a trivial endpoint (`/health`), for a fixed time each, at 16, 32 and 64 concurrent
//! clients; then versioned edits per second. Prints throughput, p50 and p99 latency at each
//! concurrency, and the ratio plan ÷ trivial at each and at each one's peak throughput. Bounded in
//! time and count, loopback only.

#[path = "../tests/support/binary.rs"]
mod binary;

use std::process::Command;
use std::time::{Duration, Instant};

use binary::{run, start};
use serde_json::{Value, json};

/// Concurrent keep-alive clients, unless `CAREPLAN_BENCH_CLIENTS` names one count.
const CLIENTS: [usize; 3] = [16, 32, 64];

fn client_counts() -> Vec<usize> {
    std::env::var("CAREPLAN_BENCH_CLIENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or_else(|| CLIENTS.to_vec(), |n| vec![n])
}
/// How long each read phase runs.
const PHASE: Duration = Duration::from_secs(8);
/// Edits in the write phase (sequential: each is based on the version the previous one made).
const EDITS: usize = 300;

struct Stats {
    requests: usize,
    per_second: f64,
    p50: Duration,
    p99: Duration,
}

async fn hammer(url: &str, token: &str, clients: usize) -> Stats {
    let deadline = Instant::now() + PHASE;
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (url, token) = (url.to_owned(), token.to_owned());
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .build()
                .unwrap();
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let started = Instant::now();
                let r = http.get(&url).bearer_auth(&token).send().await.unwrap();
                assert!(r.status().is_success(), "{url}: {}", r.status());
                r.bytes().await.unwrap();
                latencies.push(started.elapsed());
            }
            latencies
        }));
    }
    let started = Instant::now();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let elapsed = started.elapsed().max(PHASE);
    all.sort();
    let at = |q: f64| all[((all.len() as f64 * q) as usize).min(all.len() - 1)];
    Stats {
        requests: all.len(),
        per_second: all.len() as f64 / elapsed.as_secs_f64(),
        p50: at(0.50),
        p99: at(0.99),
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    run(data, &["demo"], "");
    run(
        data,
        &["user", "add", "bench", "--role", "practitioner"],
        "bench-password-long\n",
    );
    run(
        data,
        &["plan", "apply", "9997654323", "-"],
        r#"{"type": "add_care_team_member", "name": "Bench", "role": "Nurse", "account": "bench"}"#,
    );
    let token = run(data, &["token", "create", "bench"], "")
        .trim()
        .to_owned();
    let mut server = start(data);
    let base = server.base.clone();

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let plan_url = format!("{base}/api/v1/people/9997654323/plan");
        let plan_bytes = reqwest::Client::new().get(&plan_url).bearer_auth(&token).send().await.unwrap().bytes().await.unwrap().len();
        // Warm up, then measure both paths one after the other at each concurrency.
        let counts = client_counts();
        let _ = hammer(&format!("{base}/health"), &token, counts[0]).await;
        let mut runs = Vec::new();
        for &n in &counts {
            let trivial = hammer(&format!("{base}/health"), &token, n).await;
            let plan = hammer(&plan_url, &token, n).await;
            runs.push((n, trivial, plan));
        }
        // For reference: a large body that costs nothing to make (the OpenAPI document, built
        // once), to separate what moving the bytes costs from what the plan read costs.
        let static_url = format!("{base}/api/v1/openapi.json");
        let static_bytes = reqwest::Client::new().get(&static_url).send().await.unwrap().bytes().await.unwrap().len();
        let large = hammer(&static_url, &token, counts[0]).await;

        let http = reqwest::Client::new();
        let mut version = http.get(&plan_url).bearer_auth(&token).send().await.unwrap().json::<Value>().await.unwrap()["version"]
            .as_u64()
            .unwrap();
        let started = Instant::now();
        for i in 0..EDITS {
            let r = http
                .post(format!("{plan_url}/commands"))
                .bearer_auth(&token)
                .header("If-Match", format!("W/\"{version}\""))
                .json(&json!({"type": "edit_need", "id": "need-inhalers", "importance": 1 + (i % 10)}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
            version = r.json::<Value>().await.unwrap()["version"].as_u64().unwrap();
        }
        let edits_per_second = EDITS as f64 / started.elapsed().as_secs_f64();

        println!("\nHTTP load, keep-alive clients on loopback, {}s per phase, SQLite", PHASE.as_secs());
        println!("| clients | endpoint | requests | per second | p50 ms | p99 ms |");
        println!("|---:|---|---:|---:|---:|---:|");
        for (n, trivial, plan) in &runs {
            for (name, s) in [
                ("GET /health (trivial)", trivial),
                (&*format!("GET current demo plan ({plan_bytes} bytes)"), plan),
            ] {
                println!("| {n} | {name} | {} | {:.0} | {:.2} | {:.2} |", s.requests, s.per_second, ms(s.p50), ms(s.p99));
            }
        }
        let (n, s) = (counts[0], &large);
        println!("| {n} | GET /api/v1/openapi.json (static, {static_bytes} bytes) | {} | {:.0} | {:.2} | {:.2} |", s.requests, s.per_second, ms(s.p50), ms(s.p99));
        for (n, trivial, plan) in &runs {
            println!("ratio plan read ÷ trivial throughput, {n} clients: {:.1} %", 100.0 * plan.per_second / trivial.per_second);
        }
        let peak = |pick: fn(&(usize, Stats, Stats)) -> &Stats| {
            runs.iter().map(|r| (r.0, pick(r).per_second)).fold((0, 0.0), |a, b| if b.1 > a.1 { b } else { a })
        };
        let (trivial_at, trivial_peak) = peak(|r| &r.1);
        let (plan_at, plan_peak) = peak(|r| &r.2);
        println!(
            "ratio of peak throughputs, plan read ({plan_peak:.0}/s at {plan_at} clients) ÷ trivial ({trivial_peak:.0}/s at {trivial_at} clients): {:.1} % (target ≥ 50 %)",
            100.0 * plan_peak / trivial_peak
        );
        println!("ratio static large body ÷ trivial throughput, {n} clients: {:.1} % (reference, no bar)", 100.0 * large.per_second / runs[0].1.per_second);
        println!("versioned edits through the API, one client: {edits_per_second:.0} per second ({EDITS} edits)");
    });
    let _ = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status();
    let _ = server.child.wait();
}
