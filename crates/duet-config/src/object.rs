//! The objects the tree holds: a class and its attributes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::TreeError;

/// The most attributes one object may have.
pub const ATTRIBUTES_MAX: usize = 1024;
/// The longest attribute value, in bytes.
pub const VALUE_MAX_BYTES: usize = 64 * 1024;
/// The longest attribute name, in bytes.
pub const ATTRIBUTE_NAME_MAX_BYTES: usize = 255;
/// The largest object (names and values together), so any change fits in
/// one frame on the link.
pub const OBJECT_MAX_BYTES: usize = 512 * 1024;

/// The classes of object the tree knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub enum Class {
    /// A container with no meaning of its own.
    Folder,
    User,
    Workgroup,
    Role,
    Station,
    /// A server parameter; its `value` attribute is checked against the
    /// parameter's kind and range.
    ServerParameter,
}

pub const CLASSES: [Class; 6] = [
    Class::Folder,
    Class::User,
    Class::Workgroup,
    Class::Role,
    Class::Station,
    Class::ServerParameter,
];

impl Class {
    pub fn name(self) -> &'static str {
        match self {
            Class::Folder => "Folder",
            Class::User => "User",
            Class::Workgroup => "Workgroup",
            Class::Role => "Role",
            Class::Station => "Station",
            Class::ServerParameter => "ServerParameter",
        }
    }

    /// The class named exactly `text` (as the API's document lists them).
    pub fn parse(text: &str) -> Result<Class, TreeError> {
        CLASSES
            .into_iter()
            .find(|c| c.name() == text)
            .ok_or_else(|| TreeError::UnknownClass {
                class: text.to_string(),
                known: CLASSES
                    .iter()
                    .map(|c| c.name())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema), schema(as = ConfigObject))]
pub struct Object {
    pub class: Class,
    pub attributes: BTreeMap<String, String>,
}

/// [`Object`] as its OpenAPI schema names it, for fields to say so:
/// utoipa takes any type named `Object` for a free-form object.
#[cfg(feature = "schema")]
pub type ConfigObject = Object;

impl Object {
    pub fn new(class: Class) -> Object {
        Object {
            class,
            attributes: BTreeMap::new(),
        }
    }

    pub fn with(mut self, name: &str, value: &str) -> Object {
        self.attributes.insert(name.to_string(), value.to_string());
        self
    }

    /// Checks the object's size limits and, for a server parameter named
    /// `name`, its value.
    pub fn check(&self, name: Option<&str>) -> Result<(), TreeError> {
        if self.attributes.len() > ATTRIBUTES_MAX {
            return Err(TreeError::TooLarge(format!(
                "{} attributes; at most {ATTRIBUTES_MAX}",
                self.attributes.len()
            )));
        }
        let total: usize = self.attributes.iter().map(|(k, v)| k.len() + v.len()).sum();
        if total > OBJECT_MAX_BYTES {
            return Err(TreeError::TooLarge(format!(
                "the object's attributes total {total} bytes; at most {OBJECT_MAX_BYTES}"
            )));
        }
        for (attribute, value) in &self.attributes {
            if attribute.is_empty() || attribute.len() > ATTRIBUTE_NAME_MAX_BYTES {
                return Err(TreeError::TooLarge(format!(
                    "attribute name {attribute:?}: 1 to {ATTRIBUTE_NAME_MAX_BYTES} bytes"
                )));
            }
            if value.len() > VALUE_MAX_BYTES {
                return Err(TreeError::TooLarge(format!(
                    "attribute {attribute} is {} bytes; at most {VALUE_MAX_BYTES}",
                    value.len()
                )));
            }
        }
        if self.class == Class::ServerParameter {
            let name = name.unwrap_or_default();
            let value = self
                .attributes
                .get("value")
                .ok_or_else(|| TreeError::BadParameter {
                    message: format!("server parameter {name} needs a \"value\" attribute"),
                })?;
            duet_params::load([(name, value.as_str())]).map_err(|e| TreeError::BadParameter {
                message: e.to_string(),
            })?;
        }
        Ok(())
    }
}
