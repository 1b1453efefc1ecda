//! Which uid/gid a container runs as: the pod's runAsUser/runAsGroup, else the image's
//! `User`, resolved against the container's own /etc/passwd and /etc/group as containerd does.

use std::path::Path;

use serde::Serialize;

/// A resolved user.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct User {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
}

/// Why a user cannot be resolved.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UserError {
    #[error("unable to find user {0}: no matching entries in passwd file")]
    NoUser(String),
    #[error("unable to find group {0}: no matching entries in group file")]
    NoGroup(String),
}

struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
}

fn passwd(rootfs: &Path) -> Vec<PasswdEntry> {
    let text = std::fs::read_to_string(rootfs.join("etc/passwd")).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some(PasswdEntry {
                name: f.first()?.to_string(),
                uid: f.get(2)?.parse().ok()?,
                gid: f.get(3)?.parse().ok()?,
            })
        })
        .collect()
}

/// `(name, gid, members)` for each line of /etc/group.
fn groups(rootfs: &Path) -> Vec<(String, u32, Vec<String>)> {
    let text = std::fs::read_to_string(rootfs.join("etc/group")).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            let members = f
                .get(3)
                .map(|m| {
                    m.split(',')
                        .filter(|s| !s.is_empty())
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default();
            Some((f.first()?.to_string(), f.get(2)?.parse().ok()?, members))
        })
        .collect()
}

/// Resolves the user. `image_user` is the image's `User` (`""`, `1000`, `app`, `app:staff`,
/// `1000:50`); `run_as_user`/`run_as_group` override it; `supplemental` are added.
pub fn resolve(
    rootfs: &Path,
    image_user: &str,
    run_as_user: Option<u32>,
    run_as_group: Option<u32>,
    supplemental: &[u32],
) -> Result<User, UserError> {
    let (u, g) = match image_user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (image_user, None),
    };
    let entries = passwd(rootfs);
    let (uid, mut gid, name) = match run_as_user {
        Some(uid) => {
            let e = entries.iter().find(|e| e.uid == uid);
            (
                uid,
                e.map(|e| e.gid).unwrap_or(0),
                e.map(|e| e.name.clone()),
            )
        }
        None if u.is_empty() => (0, 0, Some("root".to_string())),
        None => match u.parse::<u32>() {
            Ok(uid) => {
                let e = entries.iter().find(|e| e.uid == uid);
                (
                    uid,
                    e.map(|e| e.gid).unwrap_or(0),
                    e.map(|e| e.name.clone()),
                )
            }
            Err(_) => {
                let e = entries
                    .iter()
                    .find(|e| e.name == u)
                    .ok_or_else(|| UserError::NoUser(u.to_string()))?;
                (e.uid, e.gid, Some(e.name.clone()))
            }
        },
    };
    let group_list = groups(rootfs);
    if run_as_user.is_none() {
        if let Some(g) = g.filter(|g| !g.is_empty()) {
            gid = match g.parse::<u32>() {
                Ok(n) => n,
                Err(_) => group_list
                    .iter()
                    .find(|(n, _, _)| n == g)
                    .map(|(_, id, _)| *id)
                    .ok_or_else(|| UserError::NoGroup(g.to_string()))?,
            };
        }
    }
    if let Some(g) = run_as_group {
        gid = g;
    }
    let mut additional: Vec<u32> = Vec::new();
    if let Some(name) = name {
        for (_, id, members) in &group_list {
            if members.contains(&name) && *id != gid && !additional.contains(id) {
                additional.push(*id);
            }
        }
    }
    for s in supplemental {
        if !additional.contains(s) {
            additional.push(*s);
        }
    }
    Ok(User {
        uid,
        gid,
        additional_gids: additional,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rootfs() -> tempfile::TempDir {
        let d = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(d.path().join("etc")).expect("etc");
        std::fs::write(
            d.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n",
        )
        .expect("passwd");
        std::fs::write(
            d.path().join("etc/group"),
            "root:x:0:\nstaff:x:50:app\napp:x:1000:\n",
        )
        .expect("group");
        d
    }

    #[test]
    fn resolves_names_numbers_and_overrides() {
        let r = rootfs();
        let p = r.path();
        assert_eq!(resolve(p, "", None, None, &[]).map(|u| u.uid), Ok(0));
        let app = resolve(p, "app", None, None, &[]).expect("app");
        assert_eq!(
            (app.uid, app.gid, app.additional_gids),
            (1000, 1000, vec![50])
        );
        let g = resolve(p, "app:staff", None, None, &[]).expect("app:staff");
        assert_eq!((g.uid, g.gid), (1000, 50));
        let n = resolve(p, "4000:7", None, None, &[3]).expect("numeric");
        assert_eq!((n.uid, n.gid, n.additional_gids), (4000, 7, vec![3]));
        let o = resolve(p, "app", Some(2000), Some(9), &[]).expect("override");
        assert_eq!((o.uid, o.gid), (2000, 9));
        assert_eq!(
            resolve(p, "nobody", None, None, &[]),
            Err(UserError::NoUser("nobody".into()))
        );
    }
}
