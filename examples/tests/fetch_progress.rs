//! What a person sees: `lockfetch fetch` run in a pseudo terminal (`script` from util-linux), its
//! screen output checked; and no bars at all when stderr is not a terminal.

mod common;

use std::process::Stdio;

use common::{World, wait_with_deadline};

/// The pseudo terminal's width.
const COLUMNS: usize = 150;

/// Runs `lockfetch fetch` (no `--json`) in a 40×150 pseudo terminal; returns what it drew.
fn run_in_terminal(world: &World) -> (i32, String) {
    let run = wait_with_deadline(spawn_in_terminal(world, None));
    (run.code, run.stdout)
}

/// Starts `lockfetch fetch` (no `--json`) in a 40×150 pseudo terminal (stdout piped: what it
/// draws); with `pid_file`, its process id is written there first.
fn spawn_in_terminal(world: &World, pid_file: Option<&std::path::Path>) -> std::process::Child {
    let args = world.fetch_args(&[]);
    let args: Vec<String> = args
        .into_iter()
        .filter(|a| a != "--json")
        .map(|a| shell_quote(&a))
        .collect();
    let record_pid = pid_file.map_or(String::new(), |p| {
        format!("echo $$ > {}; ", shell_quote(&p.display().to_string()))
    });
    let cmd = world.command(&[], &[]);
    // `script` and `stty` come from the machine's PATH; lockfetch gets the world's.
    let world_path = cmd
        .get_envs()
        .find(|(k, _)| *k == "PATH")
        .and_then(|(_, v)| v)
        .map(|v| v.to_string_lossy().into_owned())
        .unwrap_or_default();
    let inner = format!(
        "{record_pid}stty rows 40 cols {COLUMNS}; exec env PATH={} {} {}",
        shell_quote(&world_path),
        env!("CARGO_BIN_EXE_lockfetch"),
        args.join(" ")
    );
    let mut script = std::process::Command::new("script");
    script
        .args(["-q", "-e", "-c", &inner, "/dev/null"])
        .current_dir(world.work())
        .env_clear()
        .envs(
            cmd.get_envs()
                .filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned()))),
        )
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("TERM", "xterm-256color")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    script.spawn().expect("run `script` (util-linux)")
}

/// The text lines of a terminal transcript: escape sequences and carriage returns split lines.
fn plain_lines(screen: &str) -> Vec<String> {
    let mut lines = vec![String::new()];
    let mut chars = screen.chars();
    while let Some(c) = chars.next() {
        match c {
            '\x1b' => {
                // CSI: ESC [ parameters final-letter.
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
                lines.push(String::new());
            }
            '\r' | '\n' => lines.push(String::new()),
            c => lines.last_mut().expect("one line").push(c),
        }
    }
    // indicatif pads each line to the terminal's width instead of ending it.
    let mut out = Vec::new();
    for line in lines {
        let chars: Vec<char> = line.chars().collect();
        out.extend(chars.chunks(COLUMNS).map(|c| c.iter().collect::<String>()));
    }
    out.retain(|l| !l.trim().is_empty());
    out
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

#[test]
fn progress_in_a_terminal() {
    // ~1.5 s of downloads, so the bars are drawn many times.
    let world = World::slow(40, 200_000);
    let (code, screen) = run_in_terminal(&world);
    assert_eq!(code, 0, "{screen}");

    // Every frame starts with the overall line: bytes, packages done/total, rate, ETA.
    let lines = plain_lines(&screen);
    let frames: Vec<&str> = lines
        .iter()
        .map(String::as_str)
        .filter(|l| l.starts_with('[') && l.contains("/40 packages"))
        .collect();
    assert!(frames.len() >= 5, "{screen}");
    assert!(
        frames.iter().any(|f| f.contains(" kB/s ETA ")),
        "{frames:#?}"
    );
    assert!(!screen.contains("0 B/0 B"), "{screen}");

    // A row per running download, with its whole name (the terminal is wide enough).
    let keys: Vec<String> = world.universe.packages.iter().map(|p| p.key()).collect();
    let rows: Vec<&str> = lines
        .iter()
        .map(String::as_str)
        .filter(|l| l.starts_with("  ") && l.contains(" kB/"))
        .collect();
    assert!(!rows.is_empty(), "{screen}");
    for row in &rows {
        let name = row.rsplit("] ").next().unwrap().trim_end();
        let name = name.split(" (try ").next().unwrap();
        assert!(
            keys.iter().any(|k| k == name),
            "row {row:?} is not a whole name"
        );
    }

    // The bars are cleared; the summary is what stays; at most 20 redraws a second.
    let after_clear = screen.rsplit("\x1b[2K").next().unwrap();
    assert!(!after_clear.contains(" packages ETA"), "{after_clear:?}");
    let last = lines.last().unwrap().trim_end();
    assert!(last.starts_with("40 packages: 40 fetched ("), "{last:?}");
    let secs: f64 = last
        .rsplit(" in ")
        .next()
        .and_then(|t| t.trim().strip_suffix(" s"))
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("no run time in {last:?}"));
    assert!(
        frames.len() as f64 <= 20.0 * secs.max(1.0),
        "{} frames in {secs} s",
        frames.len()
    );
}

#[test]
fn quiet_when_not_a_terminal() {
    let world = World::new(5);
    let args = world.fetch_args(&[]);
    let args: Vec<&str> = args
        .iter()
        .filter(|a| *a != "--json")
        .map(String::as_str)
        .collect();
    let run = world.run(&args, &[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.is_empty(), "{run:?}");
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "only the summary: {run:?}");
    assert!(lines[0].starts_with("5 packages: 5 fetched ("), "{run:?}");
    assert!(!run.stderr.contains('\x1b'), "{run:?}");
}

#[test]
fn ctrl_c_in_a_terminal_clears_the_bars_and_says_one_line() {
    // ~16 s of downloads: surely running when interrupted.
    let world = World::slow(100, 50_000);
    let pid_file = world.dir.path().join("pid");
    let child = spawn_in_terminal(&world, Some(&pid_file));
    let start = std::time::Instant::now();
    // Wait for some packages, so bars are on screen.
    while world.entries() < 5 {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(30),
            "no progress within 30 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    let status = std::process::Command::new("sh")
        .args(["-c", &format!("kill -INT {}", pid.trim())])
        .status()
        .unwrap();
    assert!(status.success());
    let run = wait_with_deadline(child);
    assert_eq!(run.code, 130, "{run:?}");

    let screen = run.stdout;
    let lines = plain_lines(&screen);
    assert!(
        lines.iter().any(|l| l.contains("/100 packages")),
        "bars were drawn: {screen:?}"
    );
    // After the last clear, only the one line is left.
    let after_clear = screen.rsplit("\x1b[2K").next().unwrap();
    let text: Vec<String> = plain_lines(after_clear)
        .into_iter()
        .map(|l| l.trim_end().to_string())
        .collect();
    let had = world.check_cache().len();
    assert_eq!(
        text,
        [format!(
            "interrupted: {had} of 100 fetched; run again to finish"
        )],
        "{screen:?}"
    );
}
