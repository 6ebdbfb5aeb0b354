//! `application/x-www-form-urlencoded` bodies, where a field may repeat
//! (one `permissions` per ticked box).

/// A form's fields, in order.
#[derive(Debug, Default)]
pub(crate) struct FormFields(Vec<(String, String)>);

impl FormFields {
    pub(crate) fn parse(body: &[u8]) -> Self {
        Self(form_urlencoded::parse(body).into_owned().collect())
    }

    /// The first value of `name`.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// Every value of `name`.
    pub(crate) fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_fields_are_all_kept() {
        let form = FormFields::parse(b"name=CI+deploys&permissions=a&permissions=b%3Ac");
        assert_eq!(form.get("name"), Some("CI deploys"));
        assert_eq!(form.all("permissions"), ["a", "b:c"]);
        assert_eq!(form.get("missing"), None);
    }
}
