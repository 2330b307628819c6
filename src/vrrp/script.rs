//! The thin shell around [`Tracker`]: runs each track script every `interval` in its own task
//! (a slow script never delays the VRRP timers), kills it after `timeout`, and publishes the
//! scripts' health. Also runs notify hooks.

use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::process::Command;
use tokio::sync::watch;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::track::{Health, Tracker};
use crate::config::TrackScript;

/// Starts one task per script; the receiver holds each script's health in config order.
pub fn spawn(scripts: &[TrackScript], stop: &CancellationToken) -> watch::Receiver<Vec<Health>> {
    let (tx, rx) = watch::channel(vec![Health::Init; scripts.len()]);
    for (i, s) in scripts.iter().enumerate() {
        tokio::spawn(run_script(i, s.clone(), tx.clone(), stop.clone()));
    }
    rx
}

async fn run_script(
    i: usize,
    s: TrackScript,
    tx: watch::Sender<Vec<Health>>,
    stop: CancellationToken,
) {
    let mut tracker = Tracker::new(s.rise, s.fall);
    let mut tick = tokio::time::interval(s.interval.0);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let outcome = tokio::select! {
            _ = stop.cancelled() => return,
            o = run_once(&s.script, s.run_timeout()) => o,
        };
        let Some(health) = tracker.record(outcome.is_ok()) else {
            continue;
        };
        match &outcome {
            Ok(()) => info!("vrrp: track script {} succeeded", s.name),
            Err(why) => warn!("vrrp: track script {} failed: {why}", s.name),
        }
        tx.send_modify(|v| v[i] = health);
    }
}

/// Runs `sh -c script` once; Ok on exit status 0 within `timeout`, else why not.
async fn run_once(script: &str, timeout: Duration) -> Result<(), String> {
    let mut child = Command::new("/bin/sh")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run {script:?}: {e}"))?;
    match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(status)) if status.success() => Ok(()),
        Ok(Ok(status)) => Err(describe(status)),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => {
            // The whole process group: a shell's children must not outlive the timeout.
            if let Some(pid) = child.id() {
                let _ = killpg(Pid::from_raw(pid as i32), Signal::SIGKILL);
            }
            let _ = child.wait().await;
            Err(format!("timed out after {timeout:?}"))
        }
    }
}

fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => format!("exit status {c}"),
        (None, Some(s)) => format!("killed by signal {s}"),
        _ => status.to_string(),
    }
}

/// keepalived's `notify` arguments: `INSTANCE NAME STATE PRIORITY`.
pub fn notify_args(name: &str, state: &str, priority: u8) -> Vec<String> {
    vec![
        "INSTANCE".into(),
        name.into(),
        state.into(),
        priority.to_string(),
    ]
}

/// `sh -c` argv running `cmd` with `args` appended (each one word, whatever it holds).
pub fn shell_argv(cmd: &str, args: &[String]) -> Vec<String> {
    let mut argv = vec!["-c".to_string()];
    if args.is_empty() {
        argv.push(cmd.to_string());
    } else {
        argv.push(format!("{cmd} \"$@\""));
        argv.push("sh".into());
        argv.extend(args.iter().cloned());
    }
    argv
}

/// Runs a notify hook in the background (never waited for by the caller); `VRRP_STATE` names
/// the new state; a failure is logged.
pub fn run_hook(cmd: &str, args: &[String], state: &'static str) {
    let child = Command::new("/bin/sh")
        .args(shell_argv(cmd, args))
        .env("VRRP_STATE", state)
        .stdin(Stdio::null())
        .kill_on_drop(false)
        .spawn();
    let cmd = cmd.to_string();
    match child {
        Ok(mut c) => {
            tokio::spawn(async move {
                match c.wait().await {
                    Ok(s) if !s.success() => {
                        warn!("vrrp: notify hook {cmd:?} exited with {}", describe(s))
                    }
                    Err(e) => warn!("vrrp: notify hook {cmd:?}: {e}"),
                    _ => {}
                }
            });
        }
        Err(e) => warn!("vrrp: cannot run notify hook {cmd:?}: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_gets_keepalived_arguments() {
        assert_eq!(
            notify_args("VI_1", "MASTER", 150),
            ["INSTANCE", "VI_1", "MASTER", "150"]
        );
        assert_eq!(shell_argv("/bin/x", &[]), ["-c", "/bin/x"]);
        assert_eq!(
            shell_argv("/bin/x -v", &["a b".into()]),
            ["-c", "/bin/x -v \"$@\"", "sh", "a b"]
        );
    }

    #[tokio::test]
    async fn scripts_succeed_fail_and_time_out() {
        assert_eq!(run_once("true", Duration::from_secs(5)).await, Ok(()));
        assert_eq!(
            run_once("exit 3", Duration::from_secs(5)).await,
            Err("exit status 3".into())
        );
        let t0 = std::time::Instant::now();
        let r = run_once("sleep 5; true", Duration::from_millis(100)).await;
        assert!(r.unwrap_err().starts_with("timed out"));
        assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
    }

    #[tokio::test]
    async fn hook_arguments_reach_the_command() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let cmd = format!("printf '%s|' >{}", out.display());
        run_hook(&cmd, &notify_args("my vip", "BACKUP", 90), "backup");
        for _ in 0..100 {
            if std::fs::read_to_string(&out).is_ok_and(|s| !s.is_empty()) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            "INSTANCE|my vip|BACKUP|90|"
        );
    }

    #[tokio::test]
    async fn runner_publishes_changes() {
        let dir = tempfile::tempdir().unwrap();
        let flag = dir.path().join("ok");
        let script = TrackScript {
            name: "t".into(),
            script: format!("test -e {}", flag.display()),
            interval: crate::config::Dur::millis(20),
            timeout: None,
            weight: -10,
            reverse: false,
            rise: 1,
            fall: 1,
        };
        let stop = CancellationToken::new();
        let mut rx = spawn(&[script], &stop);
        let mut wait_for = async |want: Health| {
            tokio::time::timeout(Duration::from_secs(5), rx.wait_for(|v| v[0] == want))
                .await
                .expect("health change")
                .expect("runner alive");
        };
        wait_for(Health::Failing).await;
        std::fs::write(&flag, "").unwrap();
        wait_for(Health::Ok).await;
        stop.cancel();
    }
}
