//! `secretstores.local.env`: the process environment as a secret store, as
//! daprd's local environment store reads it (for development).

use super::{Error, Secret, SecretStore, Secrets, Wanted};

/// Environment variables, read once when the store is built. With a
/// `prefix`, only variables that start with it are secrets, named without
/// it. `APP_API_TOKEN` and every `DAPR_*` variable are never handed out.
pub struct LocalEnvStore {
    prefix: String,
    vars: Vec<(String, String)>,
}

impl LocalEnvStore {
    pub fn new(prefix: &str, vars: impl IntoIterator<Item = (String, String)>) -> LocalEnvStore {
        LocalEnvStore {
            prefix: prefix.to_owned(),
            vars: vars.into_iter().collect(),
        }
    }

    /// The variable behind secret `name`, unless it is one kept back.
    fn variable(&self, name: &str) -> Result<String, Error> {
        let var = format!("{}{name}", self.prefix);
        if is_reserved(&var) {
            return Err(Error::Forbidden(format!(
                "access to the environment variable {var} is not allowed"
            )));
        }
        Ok(var)
    }
}

fn is_reserved(var: &str) -> bool {
    var == "APP_API_TOKEN" || var.starts_with("DAPR_")
}

#[async_trait::async_trait]
impl SecretStore for LocalEnvStore {
    async fn get(&self, name: &str) -> Result<Option<Secret>, Error> {
        let var = self.variable(name)?;
        Ok(self
            .vars
            .iter()
            .find(|(k, _)| *k == var)
            .map(|(_, v)| Secret::from([(name.to_owned(), v.clone())])))
    }

    async fn bulk(&self, wanted: &Wanted) -> Result<Secrets, Error> {
        Ok(self
            .vars
            .iter()
            .filter(|(k, _)| !is_reserved(k))
            .filter_map(|(k, v)| {
                let name = k.strip_prefix(&self.prefix).filter(|n| wanted(n))?;
                Some((
                    name.to_owned(),
                    Secret::from([(name.to_owned(), v.clone())]),
                ))
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Vec<(String, String)> {
        [
            ("MYAPP_DB", "postgres://"),
            ("MYAPP_DAPR_X", "kept"),
            ("HOME", "/root"),
            ("DAPR_API_TOKEN", "t"),
            ("APP_API_TOKEN", "t"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    #[tokio::test]
    async fn a_prefix_limits_and_is_stripped() {
        let store = LocalEnvStore::new("MYAPP_", env());
        assert_eq!(store.get("DB").await.unwrap().unwrap()["DB"], "postgres://");
        assert_eq!(store.get("HOME").await.unwrap(), None);
        let all = store.bulk(&|_| true).await.unwrap();
        assert_eq!(all.keys().collect::<Vec<_>>(), ["DAPR_X", "DB"]);
    }

    #[tokio::test]
    async fn dapr_variables_and_the_app_token_are_kept_back() {
        let store = LocalEnvStore::new("", env());
        assert!(matches!(
            store.get("DAPR_API_TOKEN").await,
            Err(Error::Forbidden(_))
        ));
        assert!(matches!(
            store.get("APP_API_TOKEN").await,
            Err(Error::Forbidden(_))
        ));
        assert_eq!(store.get("HOME").await.unwrap().unwrap()["HOME"], "/root");
        let all = store.bulk(&|_| true).await.unwrap();
        assert!(all.contains_key("MYAPP_DB") && !all.contains_key("DAPR_API_TOKEN"));
        assert!(!all.contains_key("APP_API_TOKEN"));
    }
}
