//! The CycloneDX 1.5 JSON document model: the part of the specification
//! jailpack writes (emit's SBOM) and reads back (`audit --sbom`).
//!
//! Our own serde structs rather than a crate: `cyclonedx-bom` models every
//! corner of the specification in its own types and validation layer,
//! pulling in more code than the rest of jailpack's dependencies for the
//! dozen fields used here, on every user's first `cargo xtask`. Key order
//! is the struct order, so the JSON is stable. The schema check is in the
//! tests (the official 1.5 JSON schema, through cyclonedx-python-lib).
//! Read back, the document is untrusted: unknown keys are ignored and
//! readers check what they use.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

pub const SPEC_VERSION: &str = "1.5";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Bom {
    pub bom_format: String,
    pub spec_version: String,
    #[serde(default)]
    pub serial_number: String,
    pub version: u32,
    pub metadata: Metadata,
    #[serde(default)]
    pub components: Vec<Component>,
    #[serde(default)]
    pub dependencies: Vec<Dependency>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    pub timestamp: String,
    pub tools: Tools,
    pub component: Component,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub properties: Vec<Property>,
}

/// CycloneDX 1.5's form of `tools` (the list form before it is deprecated).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tools {
    #[serde(default)]
    pub components: Vec<Component>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Component {
    /// `application`, `library`, `operating-system`, `file`, …
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(rename = "bom-ref", default, skip_serializing_if = "Option::is_none")]
    pub bom_ref: Option<String>,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hashes: Vec<Hash>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub licenses: Vec<LicenseChoice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purl: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub properties: Vec<Property>,
    /// For a package, the files it put in the jail.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<Component>,
}

impl Component {
    pub fn new(kind: &str, name: &str) -> Component {
        Component {
            kind: kind.to_string(),
            bom_ref: None,
            name: name.to_string(),
            version: None,
            hashes: Vec::new(),
            licenses: Vec::new(),
            purl: None,
            properties: Vec::new(),
            components: Vec::new(),
        }
    }

    pub fn property(&self, name: &str) -> Option<&str> {
        self.properties
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.value.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hash {
    pub alg: String,
    pub content: String,
}

/// A licence by name, or an SPDX expression (never both in one list).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum LicenseChoice {
    License { license: License },
    Expression { expression: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct License {
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Property {
    pub name: String,
    pub value: String,
}

impl Property {
    pub fn new(name: &str, value: impl Into<String>) -> Property {
        Property {
            name: name.to_string(),
            value: value.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dependency {
    #[serde(rename = "ref")]
    pub reference: String,
    #[serde(rename = "dependsOn", default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
}

impl Bom {
    /// The document as written: pretty JSON and a final newline.
    pub fn to_json(&self) -> Vec<u8> {
        let mut json =
            serde_json::to_vec_pretty(self).expect("an SBOM holds only strings, numbers and lists");
        json.push(b'\n');
        json
    }

    /// Reads an SBOM (a regular file, within the manifest's bound).
    pub fn read(path: &Path) -> Result<Bom> {
        let bytes = crate::manifest::read_bounded(path)?;
        let bom: Bom = serde_json::from_slice(&bytes).map_err(|e| Error::Input {
            path: path.to_path_buf(),
            message: format!("not a CycloneDX JSON SBOM: {e}"),
        })?;
        if bom.bom_format != "CycloneDX" {
            return Err(Error::Input {
                path: path.to_path_buf(),
                message: format!(
                    "bomFormat {:?}: expected \"CycloneDX\" (jailpack reads CycloneDX JSON)",
                    bom.bom_format
                ),
            });
        }
        Ok(bom)
    }

    /// Every component, nested ones included, parents first.
    pub fn all_components(&self) -> Vec<&Component> {
        let mut out = Vec::new();
        let mut stack: Vec<&Component> = self.components.iter().rev().collect();
        while let Some(component) = stack.pop() {
            out.push(component);
            stack.extend(component.components.iter().rev());
        }
        out
    }
}
