//! A private CA, a server certificate for 127.0.0.1 and a client certificate, made by the
//! `openssl` CLI (scripts/setup.sh installs it) in a test's directory.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The PEM files of a test PKI.
#[derive(Debug)]
pub struct Pki {
    /// The CA's certificate (what a client passes as --tls-ca).
    pub ca: PathBuf,
    /// The server's certificate and key (IP 127.0.0.1, DNS localhost), signed by the CA.
    pub server: (PathBuf, PathBuf),
    /// A client certificate and key, signed by the CA.
    pub client: (PathBuf, PathBuf),
    /// Another CA's certificate: one that signed none of the above.
    pub other_ca: PathBuf,
    /// A client certificate and key signed by the other CA.
    pub other_client: (PathBuf, PathBuf),
}

fn openssl(dir: &Path, args: &[&str]) {
    let o = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl is not installed: run scripts/setup.sh");
    assert!(
        o.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A self-signed CA `name` (name.pem, name.key).
fn ca(dir: &Path, name: &str) {
    let (pem, key) = (format!("{name}.pem"), format!("{name}.key"));
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &pem,
            "-days",
            "2",
            "-subj",
            &format!("/CN=shmbus test {name}"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
}

/// A leaf `name` (name.pem, name.key) signed by `ca`, with these extensions.
fn leaf(dir: &Path, name: &str, ca: &str, ext: &str) {
    let (pem, key, csr, extf) = (
        format!("{name}.pem"),
        format!("{name}.key"),
        format!("{name}.csr"),
        format!("{name}.ext"),
    );
    std::fs::write(dir.join(&extf), ext).unwrap();
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &csr,
            "-subj",
            &format!("/CN=shmbus test {name}"),
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &format!("{ca}.pem"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-out",
            &pem,
            "-days",
            "2",
            "-extfile",
            &extf,
        ],
    );
}

impl Pki {
    /// Makes the files in `dir`.
    pub fn make(dir: &Path) -> Self {
        ca(dir, "ca");
        ca(dir, "other-ca");
        leaf(
            dir,
            "server",
            "ca",
            "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n\
             extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n",
        );
        leaf(
            dir,
            "client",
            "ca",
            "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n\
             extendedKeyUsage=clientAuth\n",
        );
        leaf(
            dir,
            "other-client",
            "other-ca",
            "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n\
             extendedKeyUsage=clientAuth\n",
        );
        Self {
            ca: dir.join("ca.pem"),
            server: (dir.join("server.pem"), dir.join("server.key")),
            client: (dir.join("client.pem"), dir.join("client.key")),
            other_ca: dir.join("other-ca.pem"),
            other_client: (dir.join("other-client.pem"), dir.join("other-client.key")),
        }
    }
}
