//! nftables transactions in-process, through `libnftables.so.1` loaded at run time.
//!
//! Spawning `nft -f -` per transaction costs more than the transaction: at 10,000 Services
//! a one-element change took ~15 ms, mostly process start-up and the exit that closes the
//! netlink socket. A [`Session`] keeps one libnftables context — and so one netlink
//! socket — for as long as its owner lives: a small change then takes 0.1–1.5 ms, most of
//! it the kernel revalidating the verdict maps.
//!
//! The library is opened with `dlopen` (it ships with Debian's `nftables` package; no
//! `-dev` package is needed to build). When it cannot be loaded, callers fall back to the
//! `nft` command.
//!
//! Scripts go in as files (a memfd under `/proc/self/fd`), not as a buffer: nft 1.0.6
//! prints the first line of a buffer under an error instead of the line at fault.
//!
//! A context binds its socket to the network namespace it is created in, and libnftables
//! resolves names (interfaces) in the calling thread's namespace, so each session owns a
//! thread that enters the namespace, creates the context and runs every transaction, fed
//! through a channel. The thread keeps the namespace alive until the session is dropped.

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd};
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::sync::{mpsc, Mutex, OnceLock, PoisonError};
use std::thread::JoinHandle;

use anyhow::{anyhow, bail, Context};

const SONAME: &CStr = c"libnftables.so.1";

// The C signatures, from `nftables/libnftables.h` (`struct nft_ctx *` as `*mut c_void`).
type NewFn = unsafe extern "C" fn(u32) -> *mut c_void;
type FreeFn = unsafe extern "C" fn(*mut c_void);
type IntFn = unsafe extern "C" fn(*mut c_void) -> c_int;
type StrFn = unsafe extern "C" fn(*mut c_void) -> *const c_char;
type RunFn = unsafe extern "C" fn(*mut c_void, *const c_char) -> c_int;

/// The functions we use.
struct Lib {
    ctx_new: NewFn,
    ctx_free: FreeFn,
    buffer_output: IntFn,
    buffer_error: IntFn,
    get_output_buffer: StrFn,
    get_error_buffer: StrFn,
    run_cmd_from_filename: RunFn,
}

/// Every call into the library, across all contexts: a context is not thread-safe, and
/// libnftables does not promise that separate contexts share no global state.
static CALLS: Mutex<()> = Mutex::new(());

fn calls() -> std::sync::MutexGuard<'static, ()> {
    CALLS.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Whether libnftables can be loaded (tried once per process).
pub fn available() -> bool {
    lib().is_ok()
}

/// The library, loaded on first use (and the failure logged once).
fn lib() -> Result<&'static Lib, &'static str> {
    static LIB: OnceLock<Result<Lib, String>> = OnceLock::new();
    LIB.get_or_init(|| {
        let lib = load();
        match &lib {
            Ok(_) => tracing::debug!("using libnftables in-process"),
            Err(e) => tracing::warn!("libnftables not usable, running the nft command: {e}"),
        }
        lib
    })
    .as_ref()
    .map_err(String::as_str)
}

fn dlerror() -> String {
    // SAFETY: dlerror returns null or a NUL-terminated string valid until the next call.
    let e = unsafe { libc::dlerror() };
    if e.is_null() {
        "unknown dlopen error".to_string()
    } else {
        // SAFETY: non-null, NUL-terminated (see above).
        unsafe { CStr::from_ptr(e) }.to_string_lossy().into_owned()
    }
}

fn load() -> Result<Lib, String> {
    // SAFETY: loading a system library; its constructors are libnftables' own. The handle
    // is never closed, so the function pointers below stay valid for the process.
    let handle = unsafe { libc::dlopen(SONAME.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
    if handle.is_null() {
        return Err(dlerror());
    }
    macro_rules! sym {
        ($name:literal as $ty:ty) => {{
            // SAFETY: `handle` is a live dlopen handle and the name is NUL-terminated.
            let p = unsafe { libc::dlsym(handle, $name.as_ptr()) };
            if p.is_null() {
                return Err(format!("{}: {}", $name.to_string_lossy(), dlerror()));
            }
            // SAFETY: the symbol is the libnftables function of that name, whose C
            // signature is the field's type (a function pointer, the size of `p`).
            unsafe { std::mem::transmute::<*mut c_void, $ty>(p) }
        }};
    }
    Ok(Lib {
        ctx_new: sym!(c"nft_ctx_new" as NewFn),
        ctx_free: sym!(c"nft_ctx_free" as FreeFn),
        buffer_output: sym!(c"nft_ctx_buffer_output" as IntFn),
        buffer_error: sym!(c"nft_ctx_buffer_error" as IntFn),
        get_output_buffer: sym!(c"nft_ctx_get_output_buffer" as StrFn),
        get_error_buffer: sym!(c"nft_ctx_get_error_buffer" as StrFn),
        run_cmd_from_filename: sym!(c"nft_run_cmd_from_filename" as RunFn),
    })
}

/// One libnftables context. Neither `Send` nor `Sync` (the raw pointer sees to that): it
/// lives and dies on its session's thread.
struct Ctx {
    lib: &'static Lib,
    ptr: NonNull<c_void>,
}

impl Ctx {
    fn new(lib: &'static Lib) -> anyhow::Result<Ctx> {
        let _calls = calls();
        // SAFETY: 0 is NFT_CTX_DEFAULT; the result is null or a context we own.
        let ptr = NonNull::new(unsafe { (lib.ctx_new)(0) })
            .ok_or_else(|| anyhow!("nft_ctx_new failed"))?;
        // Buffered, so that nothing reaches our stdout/stderr and errors can be returned.
        // SAFETY: a live context.
        let rc = unsafe { (lib.buffer_output)(ptr.as_ptr()) | (lib.buffer_error)(ptr.as_ptr()) };
        if rc != 0 {
            // SAFETY: a live context, freed once (here, not by `Drop`: we hold the lock).
            unsafe { (lib.ctx_free)(ptr.as_ptr()) };
            bail!("nft_ctx_buffer_output/error failed");
        }
        Ok(Ctx { lib, ptr })
    }

    /// Reads (and so empties: libnftables rewinds a buffer when it is read) one buffer.
    fn take(&self, get: StrFn) -> String {
        // SAFETY: a live, buffered context; the result is null or NUL-terminated and valid
        // until the next call on the context.
        let p = unsafe { get(self.ptr.as_ptr()) };
        if p.is_null() {
            return String::new();
        }
        // SAFETY: see above.
        unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
    }

    /// Runs the script in `file` (see [`script_file`]) as one transaction.
    fn run(&mut self, file: &File) -> anyhow::Result<()> {
        let path = format!("/proc/self/fd/{}", file.as_raw_fd());
        let c_path = CString::new(path.as_str()).context("script path")?;
        let _calls = calls();
        // SAFETY: a live context and a NUL-terminated path.
        let rc = unsafe { (self.lib.run_cmd_from_filename)(self.ptr.as_ptr(), c_path.as_ptr()) };
        let _ = self.take(self.lib.get_output_buffer);
        let err = self
            .take(self.lib.get_error_buffer)
            .replace(&path, "script");
        let err = err.trim();
        if rc != 0 {
            if err.is_empty() {
                bail!("nftables transaction failed ({rc}), no message");
            }
            bail!("nftables transaction failed: {err}");
        }
        if !err.is_empty() {
            tracing::debug!("libnftables: {err}");
        }
        Ok(())
    }
}

impl Drop for Ctx {
    fn drop(&mut self) {
        let _calls = calls();
        // SAFETY: a live context, freed once.
        unsafe { (self.lib.ctx_free)(self.ptr.as_ptr()) };
    }
}

/// `script` in an anonymous memory file, for libnftables to read by path.
fn script_file(script: &str) -> anyhow::Result<File> {
    // SAFETY: a NUL-terminated name; the result is -1 or a new fd that we own.
    let fd = unsafe { libc::memfd_create(c"nftables-script".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error()).context("memfd_create");
    }
    // SAFETY: a valid fd owned by nobody else.
    let mut file = unsafe { File::from_raw_fd(fd) };
    file.write_all(script.as_bytes())
        .context("writing the nftables script to a memfd")?;
    Ok(file)
}

type Job = (File, mpsc::SyncSender<anyhow::Result<()>>);

/// Why a script did not get a result from the session.
#[derive(Debug)]
pub enum Unsent {
    /// The session's thread is gone and never saw the script: another way may run it.
    Gone,
    /// The thread took the script and died: whether it was applied is unknown.
    Lost,
}

/// A long-lived libnftables context on a thread of its own in one network namespace.
pub struct Session {
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
    netns: Option<PathBuf>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("netns", &self.netns)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Starts a session in the namespace at `netns`, or in the calling thread's when `None`
    /// (a new thread inherits its creator's namespace).
    pub fn start(netns: Option<&Path>) -> anyhow::Result<Session> {
        let lib = lib().map_err(|e| anyhow!("loading libnftables: {e}"))?;
        let file: Option<File> = netns.map(crate::netns::open).transpose()?;
        let (jobs, rx) = mpsc::channel::<Job>();
        let (ready_tx, ready_rx) = mpsc::sync_channel::<anyhow::Result<()>>(1);
        let where_ = netns.map(Path::to_path_buf);
        let thread = std::thread::Builder::new()
            .name("nftables".into())
            .spawn(move || {
                let ctx = match file {
                    Some(f) => crate::netns::enter(&f)
                        .context("setns")
                        .and_then(|()| Ctx::new(lib)),
                    None => Ctx::new(lib),
                };
                let mut ctx = match ctx {
                    Ok(ctx) => ctx,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(()));
                // Ends when the session (the only sender) is dropped.
                while let Ok((script, reply)) = rx.recv() {
                    let _ = reply.send(ctx.run(&script));
                }
            })
            .context("spawning the nftables thread")?;
        let ready = ready_rx
            .recv()
            .unwrap_or_else(|_| Err(anyhow!("the nftables thread died")));
        if let Err(e) = ready {
            let _ = thread.join();
            return Err(e.context(match &where_ {
                Some(p) => format!("libnftables context in {}", p.display()),
                None => "libnftables context".to_string(),
            }));
        }
        Ok(Session {
            jobs: Some(jobs),
            thread: Some(thread),
            netns: where_,
        })
    }

    /// Runs `script` as one transaction. The outer error says the session could not run
    /// it; the inner one is the transaction's own result.
    pub fn run(&self, script: &str) -> Result<anyhow::Result<()>, Unsent> {
        let Some(jobs) = &self.jobs else {
            return Err(Unsent::Gone);
        };
        let file = match script_file(script) {
            Ok(f) => f,
            Err(e) => return Ok(Err(e)),
        };
        let (reply, result) = mpsc::sync_channel(1);
        if jobs.send((file, reply)).is_err() {
            return Err(Unsent::Gone);
        }
        result.recv().map_err(|_| Unsent::Lost)
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // Closing the channel ends the thread, which frees the context (and leaves the
        // namespace) before we return.
        self.jobs = None;
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                tracing::warn!(netns = ?self.netns, "the nftables thread panicked");
            }
        }
    }
}
