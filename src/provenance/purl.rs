//! Package URLs (github.com/package-url/purl-spec): how scanners match a
//! component with advisories. Written and read back here, as the spec's
//! reference implementation (packageurl-python) writes them: a version's
//! `+` percent-encoded, `:` and `~` kept.

/// `pkg:<type>/<namespace>/<name>@<version>?<qualifiers>`, the qualifiers
/// sorted by key as the spec asks, empty values left out.
pub fn build(
    kind: &str,
    namespace: Option<&str>,
    name: &str,
    version: &str,
    qualifiers: &[(&str, &str)],
) -> String {
    let mut purl = format!("pkg:{kind}/");
    if let Some(namespace) = namespace {
        purl.push_str(&encode(namespace));
        purl.push('/');
    }
    purl.push_str(&encode(name));
    purl.push('@');
    purl.push_str(&encode(version));
    let mut qualifiers: Vec<_> = qualifiers.iter().filter(|(_, v)| !v.is_empty()).collect();
    qualifiers.sort();
    for (index, (key, value)) in qualifiers.into_iter().enumerate() {
        purl.push(if index == 0 { '?' } else { '&' });
        purl.push_str(key);
        purl.push('=');
        purl.push_str(&encode(value));
    }
    purl
}

fn encode(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b".-_~:".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A package URL taken apart: what `audit --sbom` compares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    pub version: String,
    pub qualifiers: Vec<(String, String)>,
}

impl Parsed {
    pub fn qualifier(&self, key: &str) -> Option<&str> {
        self.qualifiers
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads a package URL; `None` when it is not one (a hostile SBOM may hold
/// anything).
pub fn parse(purl: &str) -> Option<Parsed> {
    let rest = purl.strip_prefix("pkg:")?;
    let rest = rest.split('#').next()?;
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (path, version) = path.rsplit_once('@')?;
    let mut parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    if parts.len() < 2 {
        return None;
    }
    let kind = parts.remove(0).to_ascii_lowercase();
    let name = decode(parts.pop()?);
    let namespace = (!parts.is_empty()).then(|| {
        parts
            .iter()
            .map(|p| decode(p))
            .collect::<Vec<_>>()
            .join("/")
    });
    let qualifiers = query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_ascii_lowercase(), decode(v)))
        .collect();
    Some(Parsed {
        kind,
        namespace,
        name,
        version: decode(version),
        qualifiers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_debian_purl_as_packageurl_python_writes_it() {
        let purl = build(
            "deb",
            Some("debian"),
            "x",
            "1:2.3+dfsg-1~deb12u1",
            &[("distro", "debian-12"), ("arch", "amd64")],
        );
        assert_eq!(
            purl,
            "pkg:deb/debian/x@1:2.3%2Bdfsg-1~deb12u1?arch=amd64&distro=debian-12"
        );
        let parsed = parse(&purl).unwrap();
        assert_eq!(parsed.version, "1:2.3+dfsg-1~deb12u1");
        assert_eq!(parsed.qualifier("arch"), Some("amd64"));
        assert_eq!(parsed.namespace.as_deref(), Some("debian"));
    }

    #[test]
    fn junk_is_no_purl_and_no_panic() {
        for junk in [
            "",
            "pkg:",
            "pkg:deb",
            "pkg:deb/x",
            "x@1",
            "pkg:/@%",
            "pkg:a/b@%zz%",
        ] {
            let _ = parse(junk);
        }
        assert!(parse("pkg:deb").is_none());
    }
}
