//! Form pieces both setup steps use: a secret with the choice of where it is kept.

use dingtalk::Secret;
use maud::{Markup, html};

use crate::onboard::plan::{SecretEntry, is_env_name};
use crate::web::i18n::{Lang, t, tf};

/// A secret as posted: the typed value, and `${VAR}` storage when `store == "env"`.
pub(crate) struct PostedSecret<'a> {
    pub value: &'a str,
    pub store: &'a str,
    pub var: &'a str,
}

impl PostedSecret<'_> {
    /// The entry to write, `None` when nothing was typed and no variable chosen. With `${VAR}`
    /// storage and no value typed, the value comes from this process's environment (for the
    /// live check).
    pub(crate) fn entry(&self, lang: Lang, what: &str) -> Result<Option<SecretEntry>, String> {
        let value = self.value.trim();
        if self.store != "env" {
            return Ok((!value.is_empty()).then(|| SecretEntry {
                value: Some(Secret::new(value)),
                env: None,
            }));
        }
        let var = self.var.trim();
        if !is_env_name(var) {
            return Err(tf(lang, "setup.bad_var", &[("what", what), ("var", var)]));
        }
        let value = if value.is_empty() {
            std::env::var(var).ok().filter(|v| !v.is_empty())
        } else {
            Some(value.to_owned())
        };
        Ok(Some(SecretEntry {
            value: value.map(Secret::new),
            env: Some(var.to_owned()),
        }))
    }
}

/// A password field `name`, and radio buttons `{name}_store` (`file` | `env`) with the
/// variable's name in `{name}_var`. The value is never put back into the page.
pub(crate) fn secret_field(lang: Lang, name: &str, label: &str, store: &str, var: &str) -> Markup {
    let store_name = format!("{name}_store");
    let var_name = format!("{name}_var");
    html! {
        label for=(name) { (label) }
        input id=(name) type="password" name=(name) autocomplete="off";
        div.choice {
            label { input type="radio" name=(store_name) value="file" checked[store != "env"]; " " (t(lang, "setup.store_file")) }
            label {
                input type="radio" name=(store_name) value="env" checked[store == "env"];
                " " (t(lang, "setup.store_env")) " "
                input id=(var_name) type="text" name=(var_name) value=(var) size="28";
            }
        }
    }
}
