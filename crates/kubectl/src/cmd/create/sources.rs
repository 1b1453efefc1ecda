//! The data of `create configmap` and `create secret generic`: `--from-literal=k=v`,
//! `--from-file=[key=]path` (a file, or every regular file of a directory) and
//! `--from-env-file` (`KEY=value` lines, `#` comments, bare `KEY` taken from the
//! environment), checked and worded as kubectl does.

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::{Error, Result};

/// Keys and raw bytes, in key order.
pub type Data = BTreeMap<String, Vec<u8>>;

#[derive(Debug, Clone, Default, clap::Args)]
pub struct SourceFlags {
    /// Specify a key and literal value to insert (i.e. mykey=somevalue).
    #[arg(long)]
    pub from_literal: Vec<String>,
    /// Key files can be specified using their file path, or a key and path (key=path), or a directory.
    #[arg(long)]
    pub from_file: Vec<String>,
    /// Specify the path to a file to read lines of key=val pairs.
    #[arg(long)]
    pub from_env_file: Vec<String>,
}

/// What the keys belong to, for messages: `ConfigMap` or `Secret`.
pub struct Target<'a> {
    pub kind: &'a str,
    pub name: &'a str,
}

fn valid_config_key(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= 253
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && k != "."
        && k != ".."
}

fn insert(data: &mut Data, t: &Target<'_>, key: &str, value: Vec<u8>) -> Result<()> {
    if !valid_config_key(key) {
        return Err(Error::client(format!(
            "\"{key}\" is not a valid key name for a {}: a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
            t.kind
        )));
    }
    if data.contains_key(key) {
        return Err(Error::client(format!(
            "cannot add key {key}, another key by that name already exists in Data for {} \"{}\"",
            t.kind, t.name
        )));
    }
    data.insert(key.to_string(), value);
    Ok(())
}

/// Collects every source into one key → bytes map.
pub fn collect(flags: &SourceFlags, t: &Target<'_>) -> Result<Data> {
    if !flags.from_env_file.is_empty()
        && (!flags.from_file.is_empty() || !flags.from_literal.is_empty())
    {
        return Err(Error::client(
            "from-env-file cannot be combined with from-file or from-literal",
        ));
    }
    let mut data = Data::new();
    for f in &flags.from_file {
        let (key, path) = match f.split_once('=') {
            Some((k, p)) => {
                if k.is_empty() {
                    return Err(Error::client(format!(
                        "key names or file paths cannot be empty in --from-file={f}"
                    )));
                }
                (Some(k), p)
            }
            None => (None, f.as_str()),
        };
        let p = Path::new(path);
        let meta = std::fs::metadata(p).map_err(|_| {
            Error::client(format!("error reading {path}: no such file or directory"))
        })?;
        if meta.is_dir() {
            if key.is_some() {
                return Err(Error::client("cannot give a key name for a directory path"));
            }
            let mut entries: Vec<_> = std::fs::read_dir(p)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|e| e.is_file())
                .collect();
            entries.sort();
            for e in entries {
                let name = e
                    .file_name()
                    .map(|n| n.to_string_lossy().to_string())
                    .unwrap_or_default();
                if !valid_config_key(&name) {
                    continue;
                }
                insert(&mut data, t, &name, std::fs::read(&e)?)?;
            }
        } else {
            let name = match key {
                Some(k) => k.to_string(),
                None => p
                    .file_name()
                    .map(|n| n.to_string_lossy().to_string())
                    .unwrap_or_default(),
            };
            insert(&mut data, t, &name, std::fs::read(p)?)?;
        }
    }
    for l in &flags.from_literal {
        let Some((k, v)) = l.split_once('=').filter(|(k, _)| !k.is_empty()) else {
            return Err(Error::client(format!(
                "invalid literal source {l}, expected key=value"
            )));
        };
        insert(&mut data, t, k, v.as_bytes().to_vec())?;
    }
    for f in &flags.from_env_file {
        let text = std::fs::read_to_string(f)
            .map_err(|_| Error::client(format!("error reading {f}: no such file or directory")))?;
        for (k, v) in parse_env(&text)? {
            insert(&mut data, t, &k, v.into_bytes())?;
        }
    }
    Ok(data)
}

fn valid_env_name(k: &str) -> bool {
    let mut chars = k.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || matches!(c, '-' | '.' | '_') => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
}

/// `KEY=value` lines: the key is trimmed on the left, the value kept as written; a bare
/// `KEY` takes its value from the environment.
pub fn parse_env(text: &str) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.strip_prefix('\u{feff}').unwrap_or(line);
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let (k, v) = match trimmed.split_once('=') {
            Some((k, v)) => (k.to_string(), Some(v.to_string())),
            None => (trimmed.to_string(), None),
        };
        if !valid_env_name(&k) {
            return Err(Error::client(format!(
                "\"{k}\" is not a valid key name: a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', and must not start with a digit (e.g. 'my.env-name',  or 'MY_ENV.NAME',  or 'MyEnvName1', regex used for validation is '[-._a-zA-Z][-._a-zA-Z0-9]*')"
            )));
        }
        match v {
            Some(v) => out.push((k, v)),
            None => {
                if let Ok(v) = std::env::var(&k) {
                    out.push((k, v));
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_files_and_literals() {
        let e = parse_env("# c\nA=1\nB= two \n\n  D=4\n").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            e,
            vec![
                ("A".into(), "1".into()),
                ("B".into(), " two ".into()),
                ("D".into(), "4".into())
            ]
        );
        assert!(parse_env("export C=3\n").is_err());
        let t = Target {
            kind: "ConfigMap",
            name: "c",
        };
        let flags = SourceFlags {
            from_literal: vec!["a=1=2".into()],
            ..Default::default()
        };
        let d = collect(&flags, &t).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(d.get("a").map(Vec::as_slice), Some(&b"1=2"[..]));
        let bad = SourceFlags {
            from_literal: vec!["a".into()],
            ..Default::default()
        };
        assert!(collect(&bad, &t).is_err());
    }
}
