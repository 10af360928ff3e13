//! The failure summary after the human recap: hosts grouped by error, through the masker
//! like every other byte (a secret in a failure message is masked there too); JSON output
//! has no summary.

mod project;

use project::Project;

/// A play that saves the rendered secret and fails with it in the message.
fn project() -> Project {
    let p = Project::new();
    let out = p.out();
    let out = out.display();
    p.file("templates/app.conf.hb", "token={{ENV_APP_TOKEN}}\n")
        .file(
            "playbooks/pb.yml",
            &format!(
                "- name: summary\n  groups: [all]\n  tasks:\n    - !template\n      src: app.conf.hb\n      dest: {out}/app.conf\n    - !shell\n      name: read it\n      cmd: cat {out}/app.conf\n      save: conf\n    - !fail\n      name: refuse\n      msg: \"bad config {{{{conf.out}}}}\"\n"
            ),
        );
    p
}

#[test]
fn a_secret_in_a_failure_message_is_masked_in_the_summary_too() {
    let secret = project::canary("cnry-");
    let p = project();
    let args = ["local", "-p", "playbooks/pb.yml", "--loadenv"];
    let r = p.run_env(&args, &[("APP_TOKEN", &secret)]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(!r.all().contains(&secret[..16]), "{}", r.all());
    let Some((_, summary)) = r.stdout.split_once("FAILURES") else {
        panic!("no failure summary:\n{}", r.stdout)
    };
    assert_eq!(
        summary,
        " (1 host, 1 distinct error)\n  task \"refuse\": bad config token=***\n    1 host: localhost\n",
        "{}",
        r.stdout
    );

    let mut json = args.to_vec();
    json.extend(["--output", "json"]);
    let r = p.run_env(&json, &[("APP_TOKEN", &secret)]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(!r.all().contains("FAILURES"), "{}", r.all());
    assert!(!r.all().contains(&secret[..16]), "{}", r.all());
}
