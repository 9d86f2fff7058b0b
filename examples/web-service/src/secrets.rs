//! The service's secrets, read from the environment at startup: the hash
//! key that turns subjects into pseudonyms and hashes personal fields, and
//! the token the services authenticate to each other with.
//!
//! Bad secret material is an error the service reports before it starts
//! (never a panic), and error messages never repeat the material.

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;

/// The variable holding the hash key: 64 or more hex digits, or at least 32
/// bytes of text.
pub const HASH_KEY_VAR: &str = "TELEMETRY_HASH_KEY";
/// The variable naming a file that holds the hash key: hex digits or text
/// (one final newline ignored), or binary (taken whole).
pub const HASH_KEY_FILE_VAR: &str = "TELEMETRY_HASH_KEY_FILE";
/// The shortest hash key accepted, in bytes.
pub const MIN_HASH_KEY_BYTES: usize = 32;

/// The variable holding the service token: 16 to 256 visible ASCII
/// characters, the same in every instance.
pub const SERVICE_TOKEN_VAR: &str = "SERVICE_TOKEN";
/// The variable naming a file that holds the service token (one trailing
/// newline is ignored).
pub const SERVICE_TOKEN_FILE_VAR: &str = "SERVICE_TOKEN_FILE";
/// The shortest service token accepted, in bytes.
pub const MIN_SERVICE_TOKEN_BYTES: usize = 16;
/// The longest service token accepted, in bytes.
pub const MAX_SERVICE_TOKEN_BYTES: usize = 256;
/// The token used when none is configured: for the demo only, since anyone
/// can read it here.
const DEMO_SERVICE_TOKEN: &str = "demo-service-token-not-a-secret";

/// A secret could not be read or is not usable.
#[derive(Debug)]
pub struct SecretError(String);

impl fmt::Display for SecretError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SecretError {}

/// Where a secret came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// An environment variable.
    Variable,
    /// A file named by an environment variable.
    File(PathBuf),
    /// Nothing was configured: generated for this process (a hash key),
    /// or the demo's built-in value (the service token).
    Random,
}

/// The key for pseudonyms and hashed fields. All instances of a deployment
/// need the same one, so that a subject has the same pseudonym everywhere.
pub struct HashKey {
    material: Vec<u8>,
    source: Source,
}

/// By hand: the material never shows.
impl fmt::Debug for HashKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HashKey")
            .field("source", &self.source)
            .field("material", &format_args!("<{} bytes>", self.material.len()))
            .finish()
    }
}

impl HashKey {
    /// The key from [`HASH_KEY_VAR`] or the file named by
    /// [`HASH_KEY_FILE_VAR`] (not both); with neither set, a random key for
    /// this process (see [`warning`](Self::warning)).
    pub fn from_env() -> Result<HashKey, SecretError> {
        Self::from_vars(|name| std::env::var_os(name))
    }

    /// Like [`from_env`](Self::from_env), reading variables through `var`.
    pub fn from_vars(var: impl Fn(&str) -> Option<OsString>) -> Result<HashKey, SecretError> {
        match (var(HASH_KEY_VAR), var(HASH_KEY_FILE_VAR)) {
            (Some(_), Some(_)) => Err(SecretError(format!(
                "both {HASH_KEY_VAR} and {HASH_KEY_FILE_VAR} are set; set only one"
            ))),
            (Some(value), None) => {
                let text = value.into_string().map_err(|_| {
                    SecretError(format!(
                        "{HASH_KEY_VAR} is not valid UTF-8; give the key as hex digits, or put it in a file named by {HASH_KEY_FILE_VAR}"
                    ))
                })?;
                Ok(HashKey {
                    material: key_material(text.as_bytes(), HASH_KEY_VAR)?,
                    source: Source::Variable,
                })
            }
            (None, Some(path)) => {
                let path = PathBuf::from(path);
                let what = format!("{HASH_KEY_FILE_VAR} ({})", path.display());
                let bytes = std::fs::read(&path)
                    .map_err(|e| SecretError(format!("{what}: cannot read the key: {e}")))?;
                Ok(HashKey {
                    material: key_material(key_file_contents(&bytes), &what)?,
                    source: Source::File(path),
                })
            }
            (None, None) => {
                let mut material = vec![0u8; MIN_HASH_KEY_BYTES];
                getrandom::fill(&mut material).map_err(|e| {
                    SecretError(format!(
                        "no {HASH_KEY_VAR} is set and no random key could be made: {e}"
                    ))
                })?;
                Ok(HashKey {
                    material,
                    source: Source::Random,
                })
            }
        }
    }

    /// The key's bytes.
    pub fn material(&self) -> &[u8] {
        &self.material
    }

    /// Where the key came from.
    pub fn source(&self) -> &Source {
        &self.source
    }

    /// A one-line warning to print at startup, for a random key.
    pub fn warning(&self) -> Option<String> {
        (self.source == Source::Random).then(|| {
            format!(
                "warning: neither {HASH_KEY_VAR} nor {HASH_KEY_FILE_VAR} is set, so this process uses a random hash key: pseudonyms will not be stable across restarts (nor match other instances)"
            )
        })
    }
}

/// The token a service presents to the other services of the deployment
/// (`Authorization: Bearer <token>`), and checks on their requests.
pub struct ServiceToken {
    token: String,
    source: Source,
}

/// By hand: the token never shows.
impl fmt::Debug for ServiceToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceToken")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl ServiceToken {
    /// The token from [`SERVICE_TOKEN_VAR`] or the file named by
    /// [`SERVICE_TOKEN_FILE_VAR`] (not both); with neither set, the demo's
    /// built-in token (see [`warning`](Self::warning)).
    pub fn from_env() -> Result<ServiceToken, SecretError> {
        Self::from_vars(|name| std::env::var_os(name))
    }

    /// Like [`from_env`](Self::from_env), reading variables through `var`.
    pub fn from_vars(var: impl Fn(&str) -> Option<OsString>) -> Result<ServiceToken, SecretError> {
        let (bytes, what, source) = match (var(SERVICE_TOKEN_VAR), var(SERVICE_TOKEN_FILE_VAR)) {
            (Some(_), Some(_)) => {
                return Err(SecretError(format!(
                    "both {SERVICE_TOKEN_VAR} and {SERVICE_TOKEN_FILE_VAR} are set; set only one"
                )));
            }
            (Some(value), None) => (
                value.into_encoded_bytes(),
                SERVICE_TOKEN_VAR.to_owned(),
                Source::Variable,
            ),
            (None, Some(path)) => {
                let path = PathBuf::from(path);
                let what = format!("{SERVICE_TOKEN_FILE_VAR} ({})", path.display());
                let mut bytes = std::fs::read(&path)
                    .map_err(|e| SecretError(format!("{what}: cannot read the token: {e}")))?;
                bytes.truncate(without_final_newline(&bytes).len());
                (bytes, what, Source::File(path))
            }
            (None, None) => {
                return Ok(ServiceToken {
                    token: DEMO_SERVICE_TOKEN.to_owned(),
                    source: Source::Random,
                });
            }
        };
        let valid_bytes = bytes.iter().all(u8::is_ascii_graphic);
        let length = bytes.len();
        let token = String::from_utf8(bytes).ok().filter(|_| valid_bytes).ok_or_else(|| {
            SecretError(format!(
                "{what} may hold only visible ASCII characters (no spaces): it is sent in an HTTP header"
            ))
        })?;
        if !(MIN_SERVICE_TOKEN_BYTES..=MAX_SERVICE_TOKEN_BYTES).contains(&length) {
            return Err(SecretError(format!(
                "{what} is {length} bytes; give {MIN_SERVICE_TOKEN_BYTES} to {MAX_SERVICE_TOKEN_BYTES}"
            )));
        }
        Ok(ServiceToken { token, source })
    }

    /// The token.
    pub fn as_str(&self) -> &str {
        &self.token
    }

    /// Where the token came from; [`Source::Random`] stands for the demo's
    /// built-in token.
    pub fn source(&self) -> &Source {
        &self.source
    }

    /// A one-line warning to print at startup, for the demo's token.
    pub fn warning(&self) -> Option<String> {
        (self.source == Source::Random).then(|| {
            format!(
                "warning: neither {SERVICE_TOKEN_VAR} nor {SERVICE_TOKEN_FILE_VAR} is set, so the services authenticate to each other with the demo's built-in token, which anyone can read in the source: set {SERVICE_TOKEN_VAR} (the same in every instance) outside a demo"
            )
        })
    }
}

/// The key in a key file: a text file without its final newline, a binary
/// file whole (a random key may well end in the byte `\n`).
fn key_file_contents(bytes: &[u8]) -> &[u8] {
    let text = without_final_newline(bytes);
    match std::str::from_utf8(text) {
        Ok(t) if !t.chars().any(char::is_control) => text,
        _ => bytes,
    }
}

/// `bytes` without one final `\n` or `\r\n`.
fn without_final_newline(bytes: &[u8]) -> &[u8] {
    let bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    bytes.strip_suffix(b"\r").unwrap_or(bytes)
}

/// The key in `bytes`: hex digits (an even number of them) are decoded,
/// anything else is taken as is. `what` names the source in errors.
fn key_material(bytes: &[u8], what: &str) -> Result<Vec<u8>, SecretError> {
    if bytes.is_empty() {
        return Err(SecretError(format!(
            "{what} is empty; give at least {MIN_HASH_KEY_BYTES} bytes, or {} hex digits",
            2 * MIN_HASH_KEY_BYTES
        )));
    }
    if bytes.len().is_multiple_of(2) && bytes.iter().all(u8::is_ascii_hexdigit) {
        let key: Vec<u8> = bytes
            .chunks_exact(2)
            .map(|pair| (hex_digit(pair[0]) << 4) | hex_digit(pair[1]))
            .collect();
        if key.len() < MIN_HASH_KEY_BYTES {
            return Err(SecretError(format!(
                "{what} is {} hex digits ({} bytes); give at least {} hex digits ({MIN_HASH_KEY_BYTES} bytes)",
                bytes.len(),
                key.len(),
                2 * MIN_HASH_KEY_BYTES
            )));
        }
        return Ok(key);
    }
    if bytes.len() < MIN_HASH_KEY_BYTES {
        return Err(SecretError(format!(
            "{what} is {} bytes; give at least {MIN_HASH_KEY_BYTES} bytes, or {} hex digits",
            bytes.len(),
            2 * MIN_HASH_KEY_BYTES
        )));
    }
    Ok(bytes.to_vec())
}

/// The value of an ASCII hex digit (checked by the caller).
fn hex_digit(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        b'A'..=b'F' => c - b'A' + 10,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| OsString::from(v))
        }
    }

    fn error(pairs: &[(&str, &str)]) -> String {
        HashKey::from_vars(vars(pairs)).unwrap_err().to_string()
    }

    /// A file in the temporary directory, removed when dropped.
    struct TempFile(PathBuf);

    impl TempFile {
        fn new(name: &str, contents: &[u8]) -> TempFile {
            let path =
                std::env::temp_dir().join(format!("web-service-{}-{name}", std::process::id()));
            std::fs::write(&path, contents).unwrap();
            TempFile(path)
        }
        fn path(&self) -> &str {
            self.0.to_str().unwrap()
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    #[test]
    fn hex_keys_are_decoded() {
        let hex = "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF";
        let key = HashKey::from_vars(vars(&[(HASH_KEY_VAR, hex)])).unwrap();
        assert_eq!(key.material().len(), 32);
        assert_eq!(&key.material()[..3], &[0x00, 0x11, 0x22]);
        assert_eq!(key.material()[31], 0xff);
        assert_eq!(key.source(), &Source::Variable);
        assert_eq!(key.warning(), None);
    }

    #[test]
    fn other_text_of_32_bytes_or_more_is_the_key() {
        let raw = "a passphrase of thirty-two bytes";
        let key = HashKey::from_vars(vars(&[(HASH_KEY_VAR, raw)])).unwrap();
        assert_eq!(key.material(), raw.as_bytes());
    }

    #[test]
    fn short_empty_or_doubly_set_keys_are_errors_that_do_not_show_the_key() {
        let e = error(&[(HASH_KEY_VAR, "short secret")]);
        assert!(e.contains(HASH_KEY_VAR) && e.contains("12 bytes"), "{e}");
        assert!(!e.contains("short secret"), "{e}");
        let e = error(&[(HASH_KEY_VAR, "abcdef0123")]);
        assert!(e.contains("10 hex digits (5 bytes)"), "{e}");
        let e = error(&[(HASH_KEY_VAR, "")]);
        assert!(e.contains("empty"), "{e}");
        let e = error(&[
            (HASH_KEY_VAR, "a passphrase of thirty-two bytes"),
            (HASH_KEY_FILE_VAR, "/k"),
        ]);
        assert!(e.contains("set only one"), "{e}");
    }

    #[test]
    fn keys_are_read_from_files() {
        let file = TempFile::new("raw.key", b"32 bytes of key material in a file\n");
        let key = HashKey::from_vars(vars(&[(HASH_KEY_FILE_VAR, file.path())])).unwrap();
        assert_eq!(key.material(), b"32 bytes of key material in a file");
        assert_eq!(key.source(), &Source::File(file.0.clone()));

        let binary: Vec<u8> = (0u8..32).map(|b| b.wrapping_mul(37) | 0x80).collect();
        let file = TempFile::new("binary.key", &binary);
        let key = HashKey::from_vars(vars(&[(HASH_KEY_FILE_VAR, file.path())])).unwrap();
        assert_eq!(key.material(), binary.as_slice());

        // A binary key that ends in the byte of a newline keeps it.
        let mut binary = binary;
        binary[31] = b'\n';
        let file = TempFile::new("binary-newline.key", &binary);
        let key = HashKey::from_vars(vars(&[(HASH_KEY_FILE_VAR, file.path())])).unwrap();
        assert_eq!(key.material(), binary.as_slice());

        let file = TempFile::new("hex.key", &[b'a'; 64]);
        let key = HashKey::from_vars(vars(&[(HASH_KEY_FILE_VAR, file.path())])).unwrap();
        assert_eq!(key.material(), &[0xaa; 32]);

        let file = TempFile::new("short.key", b"short\r\n");
        let e = error(&[(HASH_KEY_FILE_VAR, file.path())]);
        assert!(
            e.contains(HASH_KEY_FILE_VAR) && e.contains("5 bytes"),
            "{e}"
        );

        let e = error(&[(HASH_KEY_FILE_VAR, "/nonexistent/hash.key")]);
        assert!(e.contains("cannot read"), "{e}");
    }

    #[test]
    fn with_nothing_set_the_key_is_random_and_a_warning_says_so() {
        let a = HashKey::from_vars(vars(&[])).unwrap();
        let b = HashKey::from_vars(vars(&[])).unwrap();
        assert_eq!(a.source(), &Source::Random);
        assert_eq!(a.material().len(), MIN_HASH_KEY_BYTES);
        assert_ne!(a.material(), b.material());
        let warning = a.warning().unwrap();
        assert!(warning.starts_with("warning:") && !warning.contains('\n'));
        assert!(!format!("{a:?}").contains(&format!("{:?}", a.material())));
    }

    #[test]
    fn service_tokens_come_from_the_environment_or_a_file() {
        let token =
            ServiceToken::from_vars(vars(&[(SERVICE_TOKEN_VAR, "0123456789abcdef")])).unwrap();
        assert_eq!(token.as_str(), "0123456789abcdef");
        assert_eq!(token.warning(), None);
        assert!(!format!("{token:?}").contains("0123456789abcdef"));

        let file = TempFile::new("service.token", b"a-token-from-a-file\n");
        let token =
            ServiceToken::from_vars(vars(&[(SERVICE_TOKEN_FILE_VAR, file.path())])).unwrap();
        assert_eq!(token.as_str(), "a-token-from-a-file");
    }

    #[test]
    fn bad_service_tokens_are_errors_that_do_not_show_the_token() {
        let error = |pairs: &[(&str, &str)]| {
            ServiceToken::from_vars(vars(pairs))
                .unwrap_err()
                .to_string()
        };
        let e = error(&[(SERVICE_TOKEN_VAR, "short-token")]);
        assert!(
            e.contains(SERVICE_TOKEN_VAR) && e.contains("11 bytes"),
            "{e}"
        );
        assert!(!e.contains("short-token"), "{e}");
        let e = error(&[(SERVICE_TOKEN_VAR, "a token with spaces in it")]);
        assert!(e.contains("visible ASCII"), "{e}");
        let e = error(&[(SERVICE_TOKEN_VAR, "")]);
        assert!(e.contains("0 bytes"), "{e}");
        let e = error(&[(SERVICE_TOKEN_VAR, &"x".repeat(300))]);
        assert!(e.contains("300 bytes"), "{e}");
        let e = error(&[
            (SERVICE_TOKEN_VAR, "0123456789abcdef"),
            (SERVICE_TOKEN_FILE_VAR, "/t"),
        ]);
        assert!(e.contains("set only one"), "{e}");
    }

    #[test]
    fn with_no_service_token_the_demo_token_is_used_with_a_warning() {
        let token = ServiceToken::from_vars(vars(&[])).unwrap();
        assert_eq!(token.as_str(), DEMO_SERVICE_TOKEN);
        let warning = token.warning().unwrap();
        assert!(warning.starts_with("warning:") && !warning.contains('\n'));
    }
}
