//! The local terminal for `exec -it`, `attach -it` and `run -it`: whether stdin is one, raw
//! mode (restored when the guard drops, so every exit path — errors and panics included —
//! gives the user a working shell back), its size, and its size changes (SIGWINCH).

use std::io;
use std::os::fd::RawFd;

/// Whether `fd` is a terminal.
pub fn is_terminal(fd: RawFd) -> bool {
    // SAFETY: isatty only inspects the descriptor.
    unsafe { libc::isatty(fd) == 1 }
}

/// Whether stdin is a terminal (kubectl's `IsTerminalIn`).
pub fn stdin_is_terminal() -> bool {
    is_terminal(libc::STDIN_FILENO)
}

/// Whether stdout is a terminal.
pub fn stdout_is_terminal() -> bool {
    is_terminal(libc::STDOUT_FILENO)
}

/// Width and height of the terminal on `fd` in character cells, if it is one and knows.
pub fn size(fd: RawFd) -> Option<(u16, u16)> {
    // SAFETY: winsize is plain old data; TIOCGWINSZ writes into it and nothing else.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: the pointer is to a live, correctly sized winsize.
    let rc = unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) };
    if rc != 0 || (ws.ws_col == 0 && ws.ws_row == 0) {
        return None;
    }
    Some((ws.ws_col, ws.ws_row))
}

/// The size to report for an interactive session: stdout's terminal, else stdin's (kubectl
/// asks the output side first).
pub fn session_size() -> Option<(u16, u16)> {
    size(libc::STDOUT_FILENO).or_else(|| size(libc::STDIN_FILENO))
}

/// Raw mode on a terminal; the previous settings come back when this is dropped.
pub struct RawMode {
    fd: RawFd,
    saved: libc::termios,
}

impl RawMode {
    /// Puts `fd` into raw mode (as `cfmakeraw`: no echo, no line editing, no signals from
    /// keys — ^C goes to the remote process, as with kubectl).
    pub fn enable(fd: RawFd) -> io::Result<RawMode> {
        // SAFETY: termios is plain old data filled in by tcgetattr.
        let mut saved: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: valid pointer to a termios.
        if unsafe { libc::tcgetattr(fd, &mut saved) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let mut raw = saved;
        // SAFETY: cfmakeraw only edits the struct it is given.
        unsafe { libc::cfmakeraw(&mut raw) };
        // SAFETY: valid pointer to a termios.
        if unsafe { libc::tcsetattr(fd, libc::TCSANOW, &raw) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(RawMode { fd, saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        // SAFETY: restores the settings read in `enable` on the same descriptor.
        unsafe {
            libc::tcsetattr(self.fd, libc::TCSANOW, &self.saved);
        }
    }
}

/// A stream of terminal sizes: the current one first, then one per SIGWINCH that changed it.
pub struct SizeWatcher {
    last: Option<(u16, u16)>,
    signal: Option<tokio::signal::unix::Signal>,
    first: bool,
}

impl SizeWatcher {
    pub fn new() -> SizeWatcher {
        SizeWatcher {
            last: session_size(),
            signal: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change())
                .ok(),
            first: true,
        }
    }

    /// The next size to send; pending forever when the terminal cannot report changes.
    pub async fn next(&mut self) -> (u16, u16) {
        if self.first {
            self.first = false;
            if let Some(s) = self.last {
                return s;
            }
        }
        loop {
            match self.signal.as_mut() {
                Some(sig) => {
                    if sig.recv().await.is_none() {
                        self.signal = None;
                        continue;
                    }
                }
                None => std::future::pending::<()>().await,
            }
            let now = session_size();
            if let Some(s) = now.filter(|s| Some(*s) != self.last) {
                self.last = Some(s);
                return s;
            }
        }
    }
}

impl Default for SizeWatcher {
    fn default() -> Self {
        Self::new()
    }
}
