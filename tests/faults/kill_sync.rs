//! kill -9 during `sync once` and `sync watch` against moto, with concurrent writers.

use super::*;

/// `cliproxy` with the machine's environment, not waited for.
fn machine_command(m: &support_s3::Machine, args: &[&str], log: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.args(args).env_clear();
    for (k, v) in m.env().iter() {
        c.env(k, v);
    }
    c.env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", testlog::RUST_LOG)
        .current_dir(m.home.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap());
    c
}

fn version(email: &str, n: u64) -> Vec<u8> {
    let t = jiff::Timestamp::from_second(1_767_225_600 + n as i64).unwrap();
    format!(
        "{{\"type\":\"claude\",\"email\":\"{email}\",\"access_token\":\"at-sync-{n}\",\"refresh_token\":\"rt-fault-sync-{n:08}\",\"last_refresh\":\"{}\",\"expired\":\"2030-01-01T00:00:00Z\"}}\n",
        t.strftime("%Y-%m-%dT%H:%M:%SZ")
    )
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_during_sync_never_loses_or_regresses_a_token() {
    let moto = crate::require_moto!();
    moto.create_bucket().await;
    let m = support_s3::Machine::new(&moto.endpoint());
    let names: Vec<String> = (0..6)
        .map(|i| format!("claude-k{i}@example.com.json"))
        .collect();
    std::fs::create_dir_all(m.local()).unwrap();
    let mut counter = 0u64;
    // The freshest version written of each name (writers only ever write fresher ones).
    let mut freshest: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for (i, n) in names.iter().enumerate() {
        counter += 1;
        let v = version(&format!("k{i}@example.com"), counter);
        common::write_file(&m.local().join(n), &v);
        freshest.insert(n.clone(), v);
    }
    let rounds = iters(10);
    let mut kills = 0;
    for round in 0..rounds {
        let watch = round % 2 == 1;
        let log = testlog::log_path(m.home.path(), "sync-killed");
        let args: &[&str] = if watch {
            &["sync", "watch"]
        } else {
            &["sync", "once"]
        };
        let mut child = machine_command(&m, args, &log).spawn().unwrap();
        // Writers while it runs: a local refresh, the CCS tool, another machine's upload.
        let deadline = tokio::time::Instant::now() + millis(50, if watch { 1500 } else { 600 });
        while tokio::time::Instant::now() < deadline {
            let i = rand::random_range(0..names.len());
            counter += 1;
            let v = version(&format!("k{i}@example.com"), counter);
            match rand::random_range(0..3) {
                0 => common::write_file(&m.local().join(&names[i]), &v),
                1 => common::write_file(&m.ccs().join(&names[i]), &v),
                _ => moto.put(&format!("auths/{}", names[i]), &v).await,
            }
            freshest.insert(names[i].clone(), v);
            tokio::time::sleep(millis(10, 120)).await;
        }
        kill9(&mut child);
        kills += 1;
        let when = format!("after kill {kills} ({})", args.join(" "));
        for d in [m.local(), m.ccs(), m.dotfiles()] {
            assert_all_parse(&d, &when);
        }
        for n in &names {
            for prefix in ["auths/", "backup/auths/"] {
                if let Some(b) = moto.get(&format!("{prefix}{n}")).await {
                    assert!(
                        AuthFile::parse(Path::new(n), &b).is_ok(),
                        "{when}: {prefix}{n} in the bucket does not parse"
                    );
                }
            }
        }
    }
    // Temp files of the killed writers are swept once they are a moment old.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let out = m.cmd(&["sync", "once"]);
    assert!(out.status.success(), "final sync failed");
    let out = m.cmd(&["sync", "once"]);
    assert!(out.status.success(), "second final sync failed");
    for (n, v) in &freshest {
        for d in [m.local(), m.ccs(), m.dotfiles()] {
            assert_eq!(
                std::fs::read(d.join(n)).ok().as_deref(),
                Some(v.as_slice()),
                "{n} in {}: not the freshest version",
                d.display()
            );
        }
        for prefix in ["auths/", "backup/auths/"] {
            assert_eq!(
                moto.get(&format!("{prefix}{n}")).await.as_deref(),
                Some(v.as_slice()),
                "{prefix}{n}: not the freshest version"
            );
        }
    }
    for d in [m.local(), m.ccs(), m.dotfiles()] {
        assert_eq!(temp_files(&d), Vec::<PathBuf>::new(), "temp files left");
    }
    let state_dir = m.home.path().join(".cli-proxy-api/sync-state");
    for f in std::fs::read_dir(&state_dir)
        .into_iter()
        .flatten()
        .flatten()
    {
        if f.file_name().to_string_lossy().starts_with("state-") {
            testlog::save("sync-state", &std::fs::read(f.path()).unwrap());
        }
    }
    eprintln!(
        "faults: sync survived {kills} kill -9 ({} once, {} watch) with {counter} versions written concurrently",
        rounds.div_ceil(2),
        rounds / 2
    );
}
