//! Writing a setup step into the config file: merged into what is there, checked by the
//! config reader before anything is written, the previous file kept as `.bak`, mode 0600.

use std::path::Path;

use clawtalk_config::{Config, Value, write_private};

use crate::onboard::{read_target, referenced_but_unset};
use crate::web::i18n::{Lang, t, tf};

/// Applies `edit` to the config file at `path`. The lines to show: what was written and
/// what the operator still has to do; or, when nothing was written, why.
pub(crate) fn save(
    path: &Path,
    lang: Lang,
    edit: impl FnOnce(&mut Value),
) -> Result<Vec<String>, Vec<String>> {
    let (mut doc, existed) = read_target(path).map_err(|e| vec![format!("{e:#}")])?;
    edit(&mut doc);
    let text = doc.to_pretty_json();
    let unset = referenced_but_unset(&doc);
    check(&text, &unset).map_err(|errors| {
        std::iter::once(t(lang, "setup.invalid").to_owned())
            .chain(errors)
            .collect::<Vec<_>>()
    })?;
    if existed {
        let backup = path.with_extension("json.bak");
        std::fs::copy(path, &backup).map_err(|e| {
            vec![format!(
                "cannot keep a backup of {} at {}: {e}",
                path.display(),
                backup.display()
            )]
        })?;
    }
    write_private(path, &text).map_err(|e| vec![format!("cannot write {}: {e}", path.display())])?;
    tracing::info!(path = %path.display(), "web console setup wrote the config file");
    let mut lines = vec![tf(lang, "setup.saved", &[("path", &path.display().to_string())])];
    lines.extend(unset.iter().map(|var| tf(lang, "setup.export", &[("var", var)])));
    Ok(lines)
}

/// The errors the config reader finds in `text`, each with its key. Variables the file
/// refers to but this process lacks count as set: the gateway reads them at its next start.
fn check(text: &str, unset: &[String]) -> Result<(), Vec<String>> {
    let env = |name: &str| {
        std::env::var(name)
            .ok()
            .or_else(|| unset.iter().any(|v| v == name).then(|| "set-at-start".to_owned()))
    };
    match Config::from_json5(text, &env) {
        Ok(_) => Ok(()),
        Err(errors) => Err(errors.errors.iter().map(ToString::to_string).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_merged_private_and_keeps_a_backup() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clawtalk.json");
        std::fs::write(&path, "{ gateway: { port: 0 } }").unwrap();
        let lines = save(&path, Lang::En, |doc| {
            doc.object_at(&["models", "providers", "local"])
                .set("baseUrl", Value::str("http://127.0.0.1:9/v1"));
        })
        .unwrap();
        assert!(lines[0].contains("clawtalk.json"), "{lines:?}");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.contains("\"port\": 0") && text.contains("127.0.0.1:9"),
            "{text}"
        );
        assert!(dir.path().join("clawtalk.json.bak").exists());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn an_invalid_result_is_not_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clawtalk.json");
        std::fs::write(&path, "{}").unwrap();
        let errors = save(&path, Lang::En, |doc| {
            doc.object_at(&["gateway"]).set("port", Value::str("not a port"));
        })
        .unwrap_err();
        assert!(errors.iter().any(|e| e.contains("gateway.port")), "{errors:?}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{}");
    }
}
