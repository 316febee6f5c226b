//! Opens a URL with the platform's opener (`open` on macOS, `xdg-open` elsewhere).

use std::process::{Command, Stdio};

fn opener() -> (&'static str, &'static [&'static str]) {
    if cfg!(target_os = "macos") {
        ("open", &[])
    } else if cfg!(windows) {
        ("rundll32", &["url.dll,FileProtocolHandler"])
    } else {
        ("xdg-open", &[])
    }
}

/// Starts the opener; an error means the caller should ask the user to open the URL.
pub fn open(url: &str) -> Result<(), String> {
    let (cmd, pre) = opener();
    Command::new(cmd)
        .args(pre)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map(|mut child| {
            // Reap it whenever it finishes; the login does not wait for the browser.
            std::thread::spawn(move || {
                let _ = child.wait();
            });
        })
        .map_err(|e| format!("could not run `{cmd}`: {e}"))
}
