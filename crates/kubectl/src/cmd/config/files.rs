//! Which kubeconfig files kubectl reads and writes: `--kubeconfig` alone, else the
//! `$KUBECONFIG` list (missing files skipped; for each name the first file that defines
//! it wins), else `~/.kube/config`. Changes go to the file that defines the changed entry,
//! new entries to the first existing file (the last listed when none exists).

use std::path::{Path, PathBuf};

use crate::cli::GlobalFlags;
use crate::error::{Error, Result};

use super::model::Config;

pub struct Files {
    /// The loading precedence.
    pub paths: Vec<PathBuf>,
    /// Parsed files that exist, in precedence order.
    pub loaded: Vec<(PathBuf, Config)>,
    /// `--kubeconfig` was given.
    pub explicit: bool,
}

impl Files {
    pub fn load(flags: &GlobalFlags) -> Result<Files> {
        let (paths, explicit) = if let Some(p) = &flags.kubeconfig {
            (vec![PathBuf::from(p)], true)
        } else if let Some(env) = std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
            let mut ps: Vec<PathBuf> = Vec::new();
            for p in std::env::split_paths(&env) {
                if !p.as_os_str().is_empty() && !ps.contains(&p) {
                    ps.push(p);
                }
            }
            (ps, false)
        } else {
            let home = std::env::var_os("HOME").unwrap_or_default();
            (vec![Path::new(&home).join(".kube").join("config")], false)
        };
        let mut loaded = Vec::new();
        for p in &paths {
            match std::fs::read_to_string(p) {
                Ok(text) => loaded.push((p.clone(), parse(p, &text)?)),
                // Missing files count as empty, even an explicit one (config commands
                // then create it).
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(Error::client(format!(
                        "error loading config file \"{}\": {e}",
                        p.display()
                    )))
                }
            }
        }
        Ok(Files {
            paths,
            loaded,
            explicit,
        })
    }

    /// All files merged: the first definition of each name wins, and the first non-empty
    /// current-context.
    pub fn merged(&self) -> Config {
        let mut out = Config::default();
        for (_, c) in &self.loaded {
            for x in &c.clusters {
                if !out.clusters.iter().any(|o| o.name == x.name) {
                    out.clusters.push(x.clone());
                }
            }
            for x in &c.users {
                if !out.users.iter().any(|o| o.name == x.name) {
                    out.users.push(x.clone());
                }
            }
            for x in &c.contexts {
                if !out.contexts.iter().any(|o| o.name == x.name) {
                    out.contexts.push(x.clone());
                }
            }
            if out.current_context.is_empty() {
                out.current_context = c.current_context.clone();
            }
            if out.preferences == Default::default() {
                out.preferences = c.preferences.clone();
            }
            if out.extensions.is_empty() {
                out.extensions = c.extensions.clone();
            }
        }
        out.normalize();
        out
    }

    /// The file whose definition of context `name` is in effect.
    pub fn context_origin(&self, name: &str) -> Option<&Path> {
        self.loaded
            .iter()
            .find(|(_, c)| c.contexts.iter().any(|x| x.name == name))
            .map(|(p, _)| p.as_path())
    }

    /// Where new entries go: the first existing file, else the last one listed.
    pub fn default_file(&self) -> PathBuf {
        match self.loaded.first() {
            Some((p, _)) => p.clone(),
            None => self.paths.last().cloned().unwrap_or_default(),
        }
    }

    /// Where a new current-context goes: the explicit file, else the first file that
    /// sets one, else the default file.
    pub fn current_context_file(&self) -> PathBuf {
        if !self.explicit {
            if let Some((p, _)) = self
                .loaded
                .iter()
                .find(|(_, c)| !c.current_context.is_empty())
            {
                return p.clone();
            }
        }
        self.default_file()
    }

    /// The file's own content (empty when it does not exist yet).
    pub fn file(&self, path: &Path) -> Config {
        self.loaded
            .iter()
            .find(|(p, _)| p == path)
            .map(|(_, c)| c.clone())
            .unwrap_or_default()
    }
}

fn parse(path: &Path, text: &str) -> Result<Config> {
    if text.trim().is_empty() {
        return Ok(Config::default());
    }
    let mut c: Config = serde_yaml::from_str(text).map_err(|e| {
        Error::client(format!(
            "error loading config file \"{}\": {e}",
            path.display()
        ))
    })?;
    c.normalize();
    Ok(c)
}

/// Writes `config` as kubectl does: normalised, as go-yaml YAML, mode 0600 for new files.
pub fn write(path: &Path, config: &Config) -> Result<()> {
    let mut c = config.clone();
    c.normalize();
    let text = crate::printer::yaml::to_yaml(&serde_json::to_value(&c)?);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let exists = path.exists();
    std::fs::write(path, text)
        .map_err(|e| Error::client(format!("writing {}: {e}", path.display())))?;
    if !exists {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}
