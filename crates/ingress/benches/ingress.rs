//! Throughput and p99 latency through the ingress proxy vs Debian's nginx as a reverse proxy,
//! both in front of the same busybox httpd, measured with wrk in one run.
//!
//! `cargo bench -p rkube-ingress --bench ingress`; env `BENCH_SECS` (default 10),
//! `BENCH_CONNS` (default 32), `BENCH_ROUNDS` (default 2). CPU per request is read from
//! /proc: the proxy's worker threads here, nginx's worker processes there.

/// The allocator the rkube binary runs the proxy with.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use rkube_ingress::annotations::Options;
use rkube_ingress::model::{Backend, IngressInfo, PathMatch, Route, RoutingTable};
use rkube_ingress::Proxy;
use tokio_util::sync::CancellationToken;

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        // SIGTERM, not SIGKILL: nginx's master must stop its workers on the way out.
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn wait_listening(port: u16) -> bool {
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[derive(Debug)]
struct Figures {
    rps: f64,
    requests: u64,
    p50: String,
    p99: String,
    errors: String,
}

/// CPU time (user + system) in clock ticks of the threads in `/proc/<pid>/task` whose name
/// starts with `prefix` (all threads when empty).
fn cpu_ticks(pid: u32, prefix: &str) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("stat")).ok())
        .filter_map(|stat| {
            // comm is in parentheses and may hold spaces; fields follow the last ')'.
            let open = stat.find('(')?;
            let close = stat.rfind(')')?;
            let comm = &stat[open + 1..close];
            if !comm.starts_with(prefix) {
                return None;
            }
            let f: Vec<&str> = stat[close + 2..].split_whitespace().collect();
            // utime and stime are fields 14 and 15 of stat, 12 and 13 after comm and state.
            Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
        })
        .sum()
}

/// The processes whose parent is `parent` (nginx's workers).
fn children(parent: u32) -> Vec<u32> {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    procs
        .flatten()
        .filter_map(|p| p.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/status")).is_ok_and(|s| {
                s.lines()
                    .any(|l| l.strip_prefix("PPid:").map(str::trim) == Some(&parent.to_string()))
            })
        })
        .collect()
}

/// CPU ticks of a proxy: the ingress worker threads of this process, or nginx's workers.
fn proxy_ticks(target: &Target) -> u64 {
    match target {
        Target::Rkube => cpu_ticks(std::process::id(), "ingress-"),
        Target::Nginx(master) => children(*master).iter().map(|p| cpu_ticks(*p, "")).sum(),
        Target::Direct => 0,
    }
}

enum Target {
    Direct,
    Rkube,
    Nginx(u32),
}

fn wrk(url: &str, secs: u64, conns: u32) -> Result<Figures, String> {
    let out = Command::new("wrk")
        .args([
            "-t2",
            &format!("-c{conns}"),
            &format!("-d{secs}s"),
            "--latency",
            url,
        ])
        .output()
        .map_err(|e| format!("running wrk: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let requests = text
        .lines()
        .find(|l| l.contains(" requests in "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let field = |prefix: &str| {
        text.lines()
            .map(str::trim)
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.split_whitespace().nth(1).map(str::to_string))
    };
    let rps = field("Requests/sec:")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("no Requests/sec in wrk output:\n{text}"))?;
    let errors = text
        .lines()
        .filter(|l| l.contains("Non-2xx") || l.contains("Socket errors"))
        .map(str::trim)
        .collect::<Vec<_>>()
        .join("; ");
    Ok(Figures {
        rps,
        requests,
        p50: field("50%").unwrap_or_default(),
        p99: field("99%").unwrap_or_default(),
        errors,
    })
}

fn nginx_conf(dir: &std::path::Path, port: u16, backend: u16) -> String {
    format!(
        r#"worker_processes auto;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    upstream backend {{ server 127.0.0.1:{backend}; keepalive 64; }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Real-IP $remote_addr;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_set_header X-Forwarded-Proto $scheme;
        }}
    }}
}}
"#,
        dir = dir.display()
    )
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing useful either way.
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    if let Err(e) = run() {
        eprintln!("ingress bench: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let secs: u64 = std::env::var("BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let conns: u32 = std::env::var("BENCH_CONNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(32);
    for tool in ["wrk", "nginx", "busybox"] {
        if Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .stdout(Stdio::null())
            .status()
            .map(|s| !s.success())
            .unwrap_or(true)
        {
            return Err(format!(
                "`{tool}` is not installed (scripts/install-deps.sh installs wrk, nginx-light and busybox-static)"
            ));
        }
    }
    let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
    let www = tmp.path().join("www");
    std::fs::create_dir_all(&www).map_err(|e| e.to_string())?;
    // About the size of nginx's default index page.
    std::fs::write(www.join("index.html"), "x".repeat(612)).map_err(|e| e.to_string())?;

    let be_port = free_port().map_err(|e| e.to_string())?;
    let _httpd = Killed(
        Command::new("busybox")
            .args(["httpd", "-f", "-p", &format!("127.0.0.1:{be_port}"), "-h"])
            .arg(&www)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("starting busybox httpd: {e}"))?,
    );
    if !wait_listening(be_port) {
        return Err("busybox httpd did not start".into());
    }

    let ng_port = free_port().map_err(|e| e.to_string())?;
    let conf = tmp.path().join("nginx.conf");
    std::fs::write(&conf, nginx_conf(tmp.path(), ng_port, be_port)).map_err(|e| e.to_string())?;
    let nginx = Killed(
        Command::new("nginx")
            .args(["-e", &tmp.path().join("error.log").display().to_string()])
            .args(["-g", "daemon off;", "-p"])
            .arg(tmp.path())
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("starting nginx: {e}"))?,
    );
    if !wait_listening(ng_port) {
        return Err("nginx did not start".into());
    }

    let cancel = CancellationToken::new();
    let mut table = RoutingTable::default();
    let be: SocketAddr = ([127, 0, 0, 1], be_port).into();
    table.host_mut(None).push(Route {
        path: PathMatch::prefix("/"),
        backend: Arc::new(Backend::new("bench/httpd:80", vec![be])),
        ingress: Arc::new(IngressInfo::new("bench/ing", Options::default())),
    });
    let (proxy, _table) = Proxy::from_table(table.finish(), None);
    let rk_port = free_port().map_err(|e| e.to_string())?;
    // Served as the agent serves it: one single-threaded worker per core.
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let _threads = proxy
        .serve_workers(
            ([127, 0, 0, 1], rk_port).into(),
            None,
            cancel.clone(),
            workers,
        )
        .map_err(|e| e.to_string())?;
    if !wait_listening(rk_port) {
        return Err("rkube-ingress did not start".into());
    }

    let rounds: u32 = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    println!(
        "wrk -t2 -c{conns} -d{secs}s, 612-byte file from busybox httpd on 127.0.0.1, \
         {rounds} rounds (targets interleaved; figures are the mean)"
    );
    let targets = [
        ("direct (busybox httpd)", be_port, Target::Direct),
        ("rkube-ingress", rk_port, Target::Rkube),
        ("nginx reverse proxy", ng_port, Target::Nginx(nginx.0.id())),
    ];
    for (_, port, _) in &targets {
        // Warm up connection pools and caches.
        let _ = wrk(&format!("http://127.0.0.1:{port}/index.html"), 1, conns);
    }
    // Per target: figures of each round and CPU ticks spent by the proxy.
    let mut runs: Vec<Vec<(Figures, u64)>> = targets.iter().map(|_| Vec::new()).collect();
    for _ in 0..rounds.max(1) {
        for (i, (_, port, target)) in targets.iter().enumerate() {
            let url = format!("http://127.0.0.1:{port}/index.html");
            let before = proxy_ticks(target);
            let f = wrk(&url, secs, conns)?;
            runs[i].push((f, proxy_ticks(target).saturating_sub(before)));
        }
    }
    // /proc reports in USER_HZ ticks, 100 per second on Linux.
    let us_per_tick = 10_000.0;
    println!();
    println!(
        "| {:<24} | {:>12} | {:>10} | {:>10} | {:>13} | errors",
        "target", "requests/s", "p50", "p99", "CPU µs / req"
    );
    println!(
        "|{:-<26}|{:->14}|{:->12}|{:->12}|{:->15}|-------",
        "", "", "", "", ""
    );
    for ((name, _, target), rs) in targets.iter().zip(&runs) {
        let n = rs.len() as f64;
        let rps = rs.iter().map(|(f, _)| f.rps).sum::<f64>() / n;
        let requests: u64 = rs.iter().map(|(f, _)| f.requests).sum();
        let ticks: u64 = rs.iter().map(|(_, t)| t).sum();
        let cpu = match target {
            Target::Direct => "-".to_string(),
            _ if requests == 0 => "?".to_string(),
            _ => format!("{:.1}", ticks as f64 * us_per_tick / requests as f64),
        };
        let join = |g: &dyn Fn(&Figures) -> &str| {
            rs.iter().map(|(f, _)| g(f)).collect::<Vec<_>>().join(" ")
        };
        println!(
            "| {:<24} | {:>12.0} | {:>10} | {:>10} | {:>13} | {}",
            name,
            rps,
            join(&|f| &f.p50),
            join(&|f| &f.p99),
            cpu,
            join(&|f| &f.errors)
        );
    }
    cancel.cancel();
    Ok(())
}
