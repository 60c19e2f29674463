//! Looking up the service's account in `<root>/etc/passwd` (passwd(5)): `useradd --system`
//! writes there, and reading the file (not NSS) lets `--root` point at a test tree.

use std::path::Path;

/// One passwd entry, the fields the unit needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: String,
}

/// The account called `name`, if `<root>/etc/passwd` has it.
pub fn lookup(root: &Path, name: &str) -> anyhow::Result<Option<Account>> {
    let path = root.join("etc/passwd");
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => anyhow::bail!("cannot read {}: {e}", path.display()),
    };
    Ok(text.lines().filter_map(parse).find(|a| a.name == name))
}

/// `name:password:uid:gid:gecos:home:shell`.
fn parse(line: &str) -> Option<Account> {
    let fields: Vec<&str> = line.split(':').collect();
    if fields.len() < 7 || line.starts_with('#') {
        return None;
    }
    Some(Account {
        name: fields[0].to_owned(),
        uid: fields[2].parse().ok()?,
        gid: fields[3].parse().ok()?,
        home: fields[5].to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_an_account_and_skips_malformed_lines() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("etc")).unwrap();
        std::fs::write(
            root.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/bash\nbroken line\n\
             clawtalk:x:998:997::/var/lib/clawtalk:/usr/sbin/nologin\n",
        )
        .unwrap();
        let found = lookup(root.path(), "clawtalk").unwrap().unwrap();
        assert_eq!(
            found,
            Account {
                name: "clawtalk".into(),
                uid: 998,
                gid: 997,
                home: "/var/lib/clawtalk".into()
            }
        );
        assert_eq!(lookup(root.path(), "nobody").unwrap(), None);
        let empty = tempfile::tempdir().unwrap();
        assert_eq!(lookup(empty.path(), "clawtalk").unwrap(), None);
    }
}
