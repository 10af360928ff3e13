//! Jet's package modules. `!apt` runs for real against Debian's package manager: a tiny
//! `.deb` (two versions) is built here, served from a local `file:` apt repository and
//! installed, matched, upgraded, downgraded and removed through jetlike, locally and over SSH
//! to the real loopback sshd, in check mode and for real, each result read with `dpkg-query`.
//! It needs root and Debian's tools and FAILS (never skips) without them.
//!
//! dnf/yum, zypper, pacman and homebrew cannot run on this machine: their command lines and
//! the reading of their real query output (recorded in `tests/jet_compat/packages/fixtures/`,
//! "not installed" cases included) are tested through the library.

mod project;
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use jetlike::modules::packages::{decide, manager, Installed, Request, State};

const PKG: &str = "jetlike-test-pkg";

fn jet_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/jet_compat/packages")
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(jet_dir().join("fixtures").join(name))
        .unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

fn playbook(name: &str) -> String {
    std::fs::read_to_string(jet_dir().join(name)).unwrap()
}

fn parse(tag: &str, pkg: &str, version: Option<&str>, name: &str) -> State {
    manager(tag)
        .parse(pkg, version, &fixture(name))
        .unwrap_or_else(|e| panic!("{tag} {name}: {e}"))
}

fn req(pkg: &str, version: Option<&str>, update: bool, remove: bool) -> Request {
    Request {
        package: pkg.into(),
        version: version.map(Into::into),
        update,
        remove,
    }
}

// ---------------------------------------------------------------- recorded query output

#[test]
fn apt_reads_apt_cache_policy() {
    let s = parse("apt", "jetlike-test-pkg", None, "apt_installed.txt");
    assert_eq!(
        (s.installed, s.upgradable),
        (Some(Installed::exact("1.0-1")), false)
    );
    let s = parse("apt", "openssl", None, "apt_upgradable.txt");
    assert_eq!(
        (s.installed, s.upgradable),
        (Some(Installed::exact("3.0.11-1~deb12u1")), true)
    );
    let s = parse("apt", "nginx", None, "apt_not_installed.txt");
    assert_eq!((s.installed, s.upgradable), (None, false));
    let s = parse("apt", "nosuch", None, "apt_unknown.txt");
    assert_eq!((s.installed, s.upgradable), (None, false));
}

#[test]
fn dnf_and_yum_read_rpm_and_check_update() {
    for tag in ["dnf", "yum"] {
        let s = parse(tag, "httpd", None, "dnf_installed_upgradable.txt");
        let i = s.installed.expect("installed");
        assert_eq!(i.version, "2.4.57-5.el9");
        // Jet compares `version:` with rpm's VERSION; VERSION-RELEASE works too.
        assert!(i.matches("2.4.57") && i.matches("2.4.57-5.el9") && !i.matches("2.4.58"));
        assert!(s.upgradable);
        let s = parse(tag, "openssl", None, "dnf_installed_epoch.txt");
        assert!(s.installed.expect("installed").matches("1:3.0.7-24.el9"));
        let s = parse(tag, "nginx", None, "dnf_not_installed.txt");
        assert_eq!((s.installed, s.upgradable), (None, false));
        let err = manager(tag)
            .parse("httpd", None, &fixture("dnf_check_update_error.txt"))
            .unwrap_err();
        assert!(err.contains("check-update failed"), "{err}");
    }
}

#[test]
fn zypper_reads_rpm_and_list_updates() {
    let s = parse("zypper", "curl", None, "zypper_upgradable.txt");
    assert_eq!(s.installed.as_ref().unwrap().version, "8.3.0-1.1");
    assert!(s.upgradable);
    // A row for another package (nginx-doc) is not an upgrade of nginx.
    let s = parse("zypper", "nginx", None, "zypper_current.txt");
    assert!(s.installed.is_some() && !s.upgradable);
    let s = parse("zypper", "nginx", None, "zypper_not_installed.txt");
    assert_eq!((s.installed, s.upgradable), (None, false));
}

#[test]
fn pacman_reads_query_and_upgrades() {
    let s = parse("pacman", "extra/nginx", None, "pacman_upgradable.txt");
    assert_eq!(
        (s.installed, s.upgradable),
        (Some(Installed::exact("1.24.0-1")), true)
    );
    let s = parse("pacman", "nginx", None, "pacman_current.txt");
    assert_eq!(
        (s.installed, s.upgradable),
        (Some(Installed::exact("1.26.1-1")), false)
    );
    let s = parse("pacman", "nginx", None, "pacman_not_installed.txt");
    assert_eq!((s.installed, s.upgradable), (None, false));
}

#[test]
fn homebrew_reads_list_versions_and_outdated() {
    let s = parse("homebrew", "wget", None, "brew_installed.txt");
    let i = s.installed.expect("installed");
    assert_eq!(i.version, "1.21.4");
    assert!(!s.upgradable);
    let s = parse("homebrew", "wget", None, "brew_outdated.txt");
    assert!(s.installed.is_some() && s.upgradable);
    let s = parse("homebrew", "python", Some("3.11"), "brew_versioned.txt");
    assert_eq!(s.installed.unwrap().version, "3.11.6_1");
    let s = parse("homebrew", "wget", None, "brew_not_installed.txt");
    assert_eq!((s.installed, s.upgradable), (None, false));
}

// ---------------------------------------------------------------- command lines

#[test]
fn commands_are_non_interactive_and_quoted() {
    let apt = "DEBIAN_FRONTEND=noninteractive apt-get -y -q -o DPkg::Lock::Timeout=300 \
               -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold";
    let m = manager("apt");
    assert_eq!(m.install("nginx", None), format!("{apt} install nginx"));
    assert_eq!(
        m.install("openssl", Some("3.0.11-1~deb12u2")),
        format!("{apt} install 'openssl=3.0.11-1~deb12u2'")
    );
    assert_eq!(
        m.set_version("nginx", "1.22.1-9"),
        format!("{apt} --allow-downgrades install nginx=1.22.1-9")
    );
    assert_eq!(
        m.upgrade("nginx"),
        format!("{apt} --only-upgrade install nginx")
    );
    assert_eq!(m.remove("nginx"), format!("{apt} remove nginx"));
    assert!(m
        .query("nginx", None, false)
        .contains("LC_ALL=C apt-cache policy nginx"));

    for tag in ["dnf", "yum"] {
        let m = manager(tag);
        let pick = "pm=$(command -v dnf || command -v yum)";
        for cmd in [
            m.install("httpd", Some("2.4.57")),
            m.upgrade("httpd"),
            m.remove("httpd"),
        ] {
            assert!(cmd.starts_with(pick), "{cmd}");
        }
        assert!(m
            .install("httpd", Some("2.4.57"))
            .ends_with("\"$pm\" -y install httpd-2.4.57"));
        assert!(m.upgrade("httpd").ends_with("\"$pm\" -y upgrade httpd"));
        assert!(m.remove("httpd").ends_with("\"$pm\" -y remove httpd"));
        let q = m.query("httpd", None, true);
        assert!(q.contains("rpm -q --qf 'installed %{VERSION} %{RELEASE} %{EPOCH}\\n' httpd"));
        assert!(q.contains("-q check-update httpd"));
        assert!(!m.query("httpd", None, false).contains("check-update"));
    }

    let m = manager("zypper");
    let z = "zypper --non-interactive --quiet";
    assert_eq!(m.install("curl", None), format!("{z} install curl"));
    assert_eq!(
        m.install("curl", Some("8.4.0-1.1")),
        format!("{z} install curl=8.4.0-1.1")
    );
    assert_eq!(
        m.set_version("curl", "8.3.0-1.1"),
        format!("{z} install --oldpackage curl=8.3.0-1.1")
    );
    assert_eq!(m.upgrade("curl"), format!("{z} update curl"));
    assert_eq!(m.remove("curl"), format!("{z} remove curl"));

    let m = manager("pacman");
    let p = "--noconfirm --noprogressbar";
    assert_eq!(
        m.install("extra/nginx", None),
        format!("pacman -S {p} --needed extra/nginx")
    );
    assert_eq!(
        m.upgrade("extra/nginx"),
        format!("pacman -Syu {p} --needed extra/nginx")
    );
    assert_eq!(m.remove("extra/nginx"), format!("pacman -R {p} nginx"));
    assert!(m
        .query("extra/nginx", None, true)
        .contains("pacman -Qu nginx"));

    let m = manager("homebrew");
    let b = "HOMEBREW_NO_AUTO_UPDATE=1 HOMEBREW_NO_ENV_HINTS=1 NONINTERACTIVE=1 brew";
    assert_eq!(m.install("wget", None), format!("{b} install wget"));
    assert_eq!(
        m.install("python", Some("3.11")),
        format!("{b} install python@3.11")
    );
    assert_eq!(m.upgrade("wget"), format!("{b} upgrade wget"));
    assert_eq!(m.remove("wget"), format!("{b} uninstall wget"));
    assert!(m
        .query("python", Some("3.11"), false)
        .contains("list --versions python@3.11"));
}

#[test]
fn decisions_follow_jet() {
    let m = manager("apt");
    let st = |v: Option<&str>, up: bool| State {
        installed: v.map(Installed::exact),
        upgradable: up,
    };
    let d = |r: Request, s: State| decide(m, &r, &s).map(|(created, change, _)| (created, change));
    assert_eq!(
        d(req("a", None, false, false), st(None, false)),
        Some((true, "installed"))
    );
    assert_eq!(d(req("a", None, false, false), st(Some("1"), true)), None);
    assert_eq!(
        d(req("a", Some("1"), false, false), st(Some("1"), false)),
        None
    );
    assert_eq!(
        d(req("a", Some("2"), false, false), st(Some("1"), false)),
        Some((false, "version"))
    );
    assert_eq!(
        d(req("a", None, true, false), st(Some("1"), true)),
        Some((false, "version"))
    );
    assert_eq!(d(req("a", None, true, false), st(Some("1"), false)), None);
    assert_eq!(
        d(req("a", None, true, false), st(None, false)),
        Some((true, "installed"))
    );
    assert_eq!(
        d(req("a", None, false, true), st(Some("1"), false)),
        Some((false, "removed"))
    );
    assert_eq!(d(req("a", None, false, true), st(None, false)), None);
    // Homebrew: a version names the formula `name@version`, any installed version matches.
    let h = manager("homebrew");
    assert!(decide(
        h,
        &req("python", Some("3.11"), false, false),
        &st(Some("3.11.6_1"), false)
    )
    .is_none());
}

// ---------------------------------------------------------------- load-time checks

#[test]
fn every_package_module_loads_and_lints_with_jets_fields() {
    let p = project::Project::new();
    p.file("playbooks/pb.yml", &playbook("all_managers.yml"));
    let r = p.run(&["lint", "-p", "playbooks/pb.yml"]);
    assert_eq!(r.code, 0, "{}", r.all());
    // The conditions are false: nothing runs, every module was accepted.
    let r = p.json("check-local", &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(r.statuses(), vec!["skipped"; 6], "{}", r.all());
}

#[test]
fn unsafe_names_contradictions_and_env_are_refused_before_running() {
    let cases = [
        ("package: \"nginx; rm -rf /\"", "package"),
        ("package: \"-oAPT::Foo=1\"", "starts with `-`"),
        ("package: nginx\n      version: \"1.0 2.0\"", "version"),
        (
            "package: nginx\n      update: true\n      remove: true",
            "contradict",
        ),
        ("package: nginx\n      remove: \"yes\"", "not a boolean"),
        ("package: \"{{ENV_PKG}}\"", "ENV_"),
    ];
    for (fields, expected) in cases {
        let p = project::Project::new();
        p.file(
            "playbooks/pb.yml",
            &format!("- name: bad\n  groups: [all]\n  tasks:\n    - !apt\n      {fields}\n"),
        );
        let r = p.run_env(
            &["check-local", "-p", "playbooks/pb.yml", "--loadenv"],
            &[("PKG", "x")],
        );
        assert_ne!(r.code, 0, "{fields}: {}", r.all());
        assert!(
            r.all().contains(expected),
            "{fields}: expected {expected:?} in\n{}",
            r.all()
        );
        let located = (5..=7).any(|line| r.all().contains(&format!("pb.yml:{line}:")));
        assert!(located, "{fields}: not located\n{}", r.all());
    }
    // A templated name is checked once rendered, before any command runs.
    let p = project::Project::new();
    p.file(
        "playbooks/pb.yml",
        "- name: bad\n  groups: [all]\n  vars: {p: \"a b\"}\n  tasks:\n    - !apt\n      package: \"{{p}}\"\n",
    );
    let r = p.run(&["check-local", "-p", "playbooks/pb.yml"]);
    assert_ne!(r.code, 0, "{}", r.all());
    assert!(r.all().contains("only letters, digits"), "{}", r.all());
}

// ---------------------------------------------------------------- real apt

fn sh(cmd: &str) -> std::process::Output {
    Command::new("sh").arg("-c").arg(cmd).output().expect("sh")
}

fn must(cmd: &str) {
    let out = sh(cmd);
    assert!(
        out.status.success(),
        "{cmd} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The installed version of the test package, per dpkg.
fn dpkg_version() -> Option<String> {
    let out = sh(&format!(
        "dpkg-query -W -f='${{db:Status-Abbrev}} ${{Version}}' {PKG}"
    ));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (status, version) = text.split_once(' ')?;
    (out.status.success() && status.starts_with("ii")).then(|| version.trim().to_string())
}

/// A local apt repository holding two versions of the test package, added as an apt source;
/// on drop (test failure included) the package, the source and its lists are removed.
struct AptRepo {
    dir: tempfile::TempDir,
    source: PathBuf,
}

impl AptRepo {
    fn new() -> AptRepo {
        let uid = sh("id -u");
        assert_eq!(
            String::from_utf8_lossy(&uid.stdout).trim(),
            "0",
            "the real apt tests install a package: they must run as root (CI does; run \
             scripts/test.sh as root). They are never skipped."
        );
        for tool in [
            "dpkg-deb",
            "dpkg-query",
            "apt-get",
            "apt-cache",
            "sha256sum",
        ] {
            assert!(
                sh(&format!("command -v {tool}")).status.success(),
                "{tool} is missing: the apt tests need Debian's dpkg and apt (this is a \
                 Debian/Ubuntu test machine). They are never skipped."
            );
        }
        let dir = tempfile::Builder::new()
            .prefix("jetlike-apt.")
            .tempdir()
            .unwrap();
        let d = dir.path().display().to_string();
        // apt's download sandbox user must be able to read the repository.
        must(&format!("chmod 755 {d} && mkdir -p {d}/repo"));
        let mut index = String::new();
        for v in ["1.0-1", "2.0-1"] {
            let root = format!("{d}/build-{v}");
            must(&format!(
                "mkdir -p {root}/DEBIAN {root}/usr/share/{PKG} && echo {v} > {root}/usr/share/{PKG}/version"
            ));
            std::fs::write(
                format!("{root}/DEBIAN/control"),
                format!(
                    "Package: {PKG}\nVersion: {v}\nArchitecture: all\nMaintainer: jetlike tests \
                     <tests@jetlike.invalid>\nDescription: jetlike's apt module test package\n"
                ),
            )
            .unwrap();
            let deb = format!("{PKG}_{v}.deb");
            must(&format!(
                "dpkg-deb --root-owner-group --build {root} {d}/repo/{deb} >/dev/null"
            ));
            let out = sh(&format!(
                "dpkg-deb -f {d}/repo/{deb} && echo \"Filename: ./{deb}\" && \
                 echo \"Size: $(stat -c %s {d}/repo/{deb})\" && \
                 echo \"SHA256: $(sha256sum {d}/repo/{deb} | cut -d' ' -f1)\""
            ));
            assert!(out.status.success());
            index.push_str(&String::from_utf8_lossy(&out.stdout));
            index.push('\n');
        }
        std::fs::write(format!("{d}/repo/Packages"), index).unwrap();
        let name = dir
            .path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let source = PathBuf::from(format!("/etc/apt/sources.list.d/{name}.list"));
        let repo = AptRepo { dir, source };
        AptRepo::purge();
        std::fs::write(
            &repo.source,
            format!("deb [trusted=yes] file:{d}/repo ./\n"),
        )
        .unwrap();
        // Refresh only this source: the machine's other lists are left alone.
        must(&format!(
            "apt-get update -q -o Dir::Etc::sourcelist={} -o Dir::Etc::sourceparts=- \
             -o APT::Get::List-Cleanup=0",
            repo.source.display()
        ));
        repo
    }

    fn purge() {
        let _ = sh(&format!(
            "dpkg-query -W {PKG} >/dev/null 2>&1 && dpkg --purge {PKG} >/dev/null"
        ));
    }
}

impl Drop for AptRepo {
    fn drop(&mut self) {
        Self::purge();
        let _ = std::fs::remove_file(&self.source);
        // apt names a source's lists after its path: remove those of this repository.
        let name = self
            .dir
            .path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if let Ok(entries) = std::fs::read_dir("/var/lib/apt/lists") {
            for e in entries.flatten() {
                if e.file_name().to_string_lossy().contains(&name) {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
    }
}

/// One transport: runs a fixture playbook (`check` or not) and returns the task statuses.
trait Target {
    fn statuses(&self, playbook: &str, check: bool) -> Vec<String>;
}

struct Local;

impl Target for Local {
    fn statuses(&self, pb: &str, check: bool) -> Vec<String> {
        let p = project::Project::new();
        p.file("playbooks/pb.yml", &playbook(pb));
        let r = p.json(if check { "check-local" } else { "local" }, &[]);
        assert_eq!(r.code, 0, "local {pb} (check: {check}): {}", r.all());
        r.statuses()
    }
}

struct Ssh {
    fleet: support::Fleet,
    _sshd: support::Sshd,
}

impl Target for Ssh {
    fn statuses(&self, pb: &str, check: bool) -> Vec<String> {
        self.fleet.playbook(&playbook(pb));
        let r = self.fleet.run(
            if check { "check-ssh" } else { "ssh" },
            &["--output", "json"],
            &[],
        );
        assert_eq!(r.code, 0, "ssh {pb} (check: {check}): {}", r.all());
        r.statuses_of("h1")
    }
}

/// install (pinned 1.0-1) → matched → update to 2.0-1 → matched → back to 1.0-1 (a
/// downgrade) → remove → matched, each step first in check mode (which changes nothing).
fn apt_cycle(t: &dyn Target, how: &str) {
    let steps: [(&str, &str, &str, Option<&str>); 7] = [
        ("install.yml", "would_create", "created", Some("1.0-1")),
        ("install.yml", "matched", "matched", Some("1.0-1")),
        ("update.yml", "would_modify", "modified", Some("2.0-1")),
        ("update.yml", "matched", "matched", Some("2.0-1")),
        ("install.yml", "would_modify", "modified", Some("1.0-1")),
        ("remove.yml", "would_modify", "modified", None),
        ("remove.yml", "matched", "matched", None),
    ];
    for (pb, in_check, applied, after) in steps {
        let before = dpkg_version();
        assert_eq!(t.statuses(pb, true), [in_check], "{how}: check {pb}");
        assert_eq!(
            dpkg_version(),
            before,
            "{how}: check mode changed the host ({pb})"
        );
        assert_eq!(t.statuses(pb, false), [applied], "{how}: {pb}");
        assert_eq!(dpkg_version().as_deref(), after, "{how}: after {pb}");
    }
}

#[test]
fn apt_for_real_locally_and_over_ssh() {
    let _repo = AptRepo::new();
    assert_eq!(dpkg_version(), None);
    apt_cycle(&Local, "local");

    let sshd = support::Sshd::start();
    let mut fleet = support::Fleet::new();
    fleet.host("h1", &sshd, "127.0.0.1");
    fleet.trust(&sshd);
    apt_cycle(&Ssh { fleet, _sshd: sshd }, "ssh");
}
