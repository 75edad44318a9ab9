//! `scripts/release`: what a release holds for a deployment without a Rust toolchain (both
//! zips, the CLI, the packaged template with Serverless Application Repository metadata, the
//! stack set template, checksums), and that it refuses a version Cargo.toml does not carry.
//! Prebuilt zips (`--zip-dir`) stand in for the cargo-lambda builds, which `.ci/run` covers.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Zips holding a stand-in `bootstrap` per architecture, as scripts/package names them.
fn fake_zips(dir: &Path) {
    let status = Command::new("python3")
        .arg("-c")
        .arg(
            "import sys, zipfile\n\
             for a in ('arm64', 'x86_64'):\n    \
                 with zipfile.ZipFile(f'{sys.argv[1]}/bootstrap-{a}.zip', 'w') as z:\n        \
                     z.writestr('bootstrap', 'bootstrap for ' + a)\n",
        )
        .arg(dir)
        .status()
        .expect("python3");
    assert!(status.success());
}

fn release(args: &[&str]) -> Output {
    Command::new("bash")
        .arg(repo().join("scripts/release"))
        .args(args)
        .output()
        .expect("run scripts/release")
}

#[test]
fn a_release_holds_both_zips_the_cli_the_packaged_templates_and_their_checksums() {
    let tmp = tempfile::tempdir().unwrap();
    fake_zips(tmp.path());
    let out = tmp.path().join("out");
    let run = release(&[
        "--allow-dirty",
        "--zip-dir",
        tmp.path().to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        VERSION,
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let name = format!("guardduty-forwarder-{VERSION}");
    for file in [
        format!("{name}-arm64.zip"),
        format!("{name}-x86_64.zip"),
        format!("{name}-linux-arm64"),
        format!("{name}-linux-x86_64"),
        format!("{name}-template.yaml"),
        format!("{name}-stackset.yaml"),
        "LICENSE".into(),
        "README.md".into(),
        "CHANGELOG.md".into(),
        "SHA256SUMS".into(),
    ] {
        assert!(out.join(&file).is_file(), "{file} missing");
    }
    // The CLI is the zip's bootstrap, executable.
    let cli = std::fs::read_to_string(out.join(format!("{name}-linux-x86_64"))).unwrap();
    assert_eq!(cli, "bootstrap for x86_64");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(out.join(format!("{name}-linux-arm64")))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o111, 0o111);

    // Every file but SHA256SUMS is listed, and the sums hold.
    let sums = std::fs::read_to_string(out.join("SHA256SUMS")).unwrap();
    assert_eq!(sums.lines().count(), 9, "{sums}");
    let check = Command::new("sha256sum")
        .args(["-c", "SHA256SUMS"])
        .current_dir(&out)
        .output()
        .expect("sha256sum");
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );

    let template = std::fs::read_to_string(out.join(format!("{name}-template.yaml"))).unwrap();
    assert!(template.contains(&format!("CodeUri: {name}-arm64.zip")));
    assert!(!template.contains("CodeUri: ."));
    assert!(template.contains("AWS::ServerlessRepo::Application:"));
    assert!(template.contains(&format!("SemanticVersion: {VERSION}")));
    assert!(template.contains("SpdxLicenseId: Apache-2.0"));
    let stackset = std::fs::read_to_string(repo().join("stackset.yaml")).unwrap();
    assert_eq!(
        std::fs::read_to_string(out.join(format!("{name}-stackset.yaml"))).unwrap(),
        stackset
    );
}

#[test]
fn a_release_of_x86_64_only_names_that_zip_and_architecture_in_its_template() {
    let tmp = tempfile::tempdir().unwrap();
    fake_zips(tmp.path());
    let out = tmp.path().join("out");
    let run = release(&[
        "--allow-dirty",
        "--arch",
        "x86_64",
        "--zip-dir",
        tmp.path().to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        VERSION,
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let name = format!("guardduty-forwarder-{VERSION}");
    assert!(!out.join(format!("{name}-arm64.zip")).exists());
    let template = std::fs::read_to_string(out.join(format!("{name}-template.yaml"))).unwrap();
    assert!(template.contains(&format!("CodeUri: {name}-x86_64.zip")));
    let default = template
        .split("\n  Architecture:\n")
        .nth(1)
        .and_then(|rest| rest.lines().find(|l| l.trim().starts_with("Default:")))
        .expect("Architecture's default");
    assert!(default.contains("x86_64"), "{default}");
}

#[test]
fn a_release_of_another_version_than_cargo_toml_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    fake_zips(tmp.path());
    let run = release(&[
        "--allow-dirty",
        "--zip-dir",
        tmp.path().to_str().unwrap(),
        "--out",
        tmp.path().join("out").to_str().unwrap(),
        "99.0.0",
    ]);
    assert_eq!(run.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("not Cargo.toml's version"), "{stderr}");
    assert!(!tmp.path().join("out").exists());
}
