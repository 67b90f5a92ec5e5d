use super::*;

fn share(path: &str, cache: ShareCache, read_only: bool) -> ShareInfo {
    ShareInfo {
        id: 1,
        path: path.into(),
        tag: "data".into(),
        cache,
        read_only,
        pid: None,
    }
}

fn text(args: Vec<OsString>) -> Vec<String> {
    args.into_iter()
        .map(|arg| arg.into_string().expect("utf-8"))
        .collect()
}

const SOCKET: &str = "/run/corvus/1/virtiofsd-data.sock";

#[test]
fn the_c_style_uses_fuse_options_and_says_none_for_never() {
    let c = Virtiofsd::with_style("/usr/lib/qemu/virtiofsd", FlagStyle::C);
    for (cache, word) in [
        (ShareCache::Auto, "auto"),
        (ShareCache::Always, "always"),
        (ShareCache::Never, "none"),
    ] {
        assert_eq!(
            text(c.args(Path::new(SOCKET), &share("/srv/data", cache, false))),
            [
                "--socket-path=/run/corvus/1/virtiofsd-data.sock",
                "-o",
                "source=/srv/data",
                "-o",
                &format!("cache={word}"),
            ]
        );
    }
}

#[test]
fn the_c_style_escapes_commas_and_backslashes_in_the_source() {
    let c = Virtiofsd::with_style("virtiofsd", FlagStyle::C);
    let args = text(c.args(
        Path::new("/tmp/a,b/s.sock"),
        &share(r"/tmp/a,b c\d", ShareCache::Auto, false),
    ));
    assert_eq!(args[0], "--socket-path=/tmp/a,b/s.sock");
    assert_eq!(args[2], r"source=/tmp/a\,b c\\d");
}

#[test]
fn the_c_style_makes_read_only_shares_with_a_mount_not_a_flag() {
    let c = Virtiofsd::with_style("virtiofsd", FlagStyle::C);
    let read_only = share("/srv/data", ShareCache::Auto, true);
    assert!(c.needs_readonly_mount(&read_only));
    assert!(!c.needs_readonly_mount(&share("/srv/data", ShareCache::Auto, false)));
    assert_eq!(c.args(Path::new(SOCKET), &read_only).len(), 5);
}

#[test]
fn the_rust_style_uses_long_options() {
    let rust = Virtiofsd::with_style("/usr/libexec/virtiofsd", FlagStyle::Rust);
    let args = text(rust.args(
        Path::new(SOCKET),
        &share("/srv/a,b c", ShareCache::Never, true),
    ));
    let mut expected = vec![
        "--socket-path",
        SOCKET,
        "--shared-dir",
        "/srv/a,b c",
        "--cache",
        "never",
        "--readonly",
    ];
    if !rustix::process::geteuid().is_root() {
        expected.extend(["--sandbox", "none"]);
    }
    assert_eq!(args, expected);
    let writable = text(rust.args(Path::new(SOCKET), &share("/srv", ShareCache::Always, false)));
    assert!(!writable.contains(&"--readonly".to_owned()));
    assert!(writable.contains(&"always".to_owned()));
}

#[test]
fn the_style_is_read_from_the_help_text() {
    let c_help =
        "usage: virtiofsd [options]\n    -o source=PATH             shared directory tree\n";
    let found = Virtiofsd::from_help(Path::new("/usr/lib/qemu/virtiofsd"), c_help).expect("C");
    assert_eq!(found.style(), FlagStyle::C);
    assert_eq!(found.binary(), Path::new("/usr/lib/qemu/virtiofsd"));

    let rust_help =
        "Usage: virtiofsd [OPTIONS]\n      --shared-dir <shared-dir>\n      --readonly\n";
    let found = Virtiofsd::from_help(Path::new("/usr/libexec/virtiofsd"), rust_help).expect("Rust");
    assert_eq!(found.style(), FlagStyle::Rust);
    assert!(!found.needs_readonly_mount(&share("/srv", ShareCache::Auto, true)));

    let old_rust = "Usage: virtiofsd [OPTIONS]\n      --shared-dir <shared-dir>\n";
    let found = Virtiofsd::from_help(Path::new("virtiofsd"), old_rust).expect("old Rust");
    assert!(found.needs_readonly_mount(&share("/srv", ShareCache::Auto, true)));

    assert_eq!(Virtiofsd::from_help(Path::new("/bin/true"), ""), None);
}
