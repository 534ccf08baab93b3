//! The NAT lab: five network namespaces joined by veth pairs, as in
//! DESIGN.md. The "public" namespace routes between two NATs and runs the
//! coordinator; a host sits behind NAT A, a joiner behind NAT B; each NAT
//! masquerades (optionally `--random-fully`). Everything is created with
//! names unique to this process and test, and removed by [`Lab`]'s `Drop`,
//! even when the test fails. Traffic never leaves these namespaces.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::process::{Child, Command, Stdio};

/// Addresses inside the lab.
pub(crate) const HOST_IP: &str = "10.71.1.2";
pub(crate) const JOINER_IP: &str = "10.71.2.2";
/// The coordinator binds this one address of the multi-homed public box.
pub(crate) const COORDINATOR_IP: &str = "203.0.113.1";

/// Which namespace.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Node {
    Host,
    NatA,
    Public,
    NatB,
    Joiner,
}

/// A built lab. Dropping it kills the processes it started, deletes the
/// NAT rules and then the namespaces (which takes their veths with them).
pub(crate) struct Lab {
    tag: String,
    namespaces: Vec<String>,
    rules: Vec<(String, Vec<String>)>,
    children: Vec<Child>,
}

fn run(cmd: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(cmd)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{cmd}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "`{cmd} {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Why the lab cannot run here, or `None` when it can. Checked before
/// anything is built, so a failure while building is a real failure.
pub(crate) fn unavailable(name: &str) -> Option<String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root (the NAT lab needs ip netns and iptables)".into());
    }
    if let Err(e) = run("ip", &["-V"]) {
        return Some(format!("no iproute2: {e}"));
    }
    if let Err(e) = run("iptables", &["--version"]) {
        return Some(format!("no iptables: {e}"));
    }
    let probe = format!("pwprobe{}-{name}", std::process::id());
    if let Err(e) = run("ip", &["netns", "add", &probe]) {
        return Some(format!("cannot create a network namespace: {e}"));
    }
    let nat = run(
        "ip",
        &[
            "netns",
            "exec",
            &probe,
            "iptables",
            "-t",
            "nat",
            "-A",
            "POSTROUTING",
            "-o",
            "lo",
            "-j",
            "MASQUERADE",
            "--random-fully",
        ],
    );
    let _ = run(
        "ip",
        &["netns", "exec", &probe, "iptables", "-t", "nat", "-F"],
    );
    let _ = run("ip", &["netns", "del", &probe]);
    if let Err(e) = nat {
        return Some(format!(
            "iptables NAT (MASQUERADE --random-fully) unavailable: {e}"
        ));
    }
    None
}

impl Lab {
    /// Builds the five namespaces. `name` makes the names unique per test;
    /// the process id makes them unique per run. Panics (after cleaning
    /// up) when a step fails: call [`unavailable`] first.
    pub(crate) fn build(name: &str, random_fully: bool) -> Lab {
        let mut lab = Lab {
            tag: format!("pw{}{}", std::process::id(), name),
            namespaces: Vec::new(),
            rules: Vec::new(),
            children: Vec::new(),
        };
        if let Err(e) = lab.try_build(random_fully) {
            panic!("building the NAT lab failed: {e}");
        }
        lab
    }

    /// The namespace's name.
    pub(crate) fn ns(&self, n: Node) -> String {
        let s = match n {
            Node::Host => "host",
            Node::NatA => "nata",
            Node::Public => "pub",
            Node::NatB => "natb",
            Node::Joiner => "join",
        };
        format!("{}-{s}", self.tag)
    }

    fn exec(&self, n: Node, args: &[&str]) -> Result<String, String> {
        let ns = self.ns(n);
        let mut all = vec!["netns", "exec", ns.as_str()];
        all.extend_from_slice(args);
        run("ip", &all)
    }

    fn link(
        &self,
        a: Node,
        a_if: &str,
        a_addr: &str,
        b: Node,
        b_if: &str,
        b_addr: &str,
    ) -> Result<(), String> {
        let (na, nb) = (self.ns(a), self.ns(b));
        run(
            "ip",
            &[
                "link", "add", a_if, "netns", &na, "type", "veth", "peer", "name", b_if, "netns",
                &nb,
            ],
        )?;
        for (n, ifname, addr) in [(a, a_if, a_addr), (b, b_if, b_addr)] {
            self.exec(n, &["ip", "addr", "add", addr, "dev", ifname])?;
            self.exec(n, &["ip", "link", "set", ifname, "up"])?;
        }
        Ok(())
    }

    fn try_build(&mut self, random_fully: bool) -> Result<(), String> {
        use Node::*;
        for n in [Host, NatA, Public, NatB, Joiner] {
            let ns = self.ns(n);
            run("ip", &["netns", "add", &ns])?;
            self.namespaces.push(ns);
            self.exec(n, &["ip", "link", "set", "lo", "up"])?;
        }
        self.link(Host, "eth0", "10.71.1.2/24", NatA, "lan", "10.71.1.1/24")?;
        self.link(
            NatA,
            "wan",
            "203.0.113.2/24",
            Public,
            "toa",
            "203.0.113.1/24",
        )?;
        self.link(
            Public,
            "tob",
            "198.51.100.1/24",
            NatB,
            "wan",
            "198.51.100.2/24",
        )?;
        self.link(NatB, "lan", "10.71.2.1/24", Joiner, "eth0", "10.71.2.2/24")?;
        self.exec(Host, &["ip", "route", "add", "default", "via", "10.71.1.1"])?;
        self.exec(
            NatA,
            &["ip", "route", "add", "default", "via", "203.0.113.1"],
        )?;
        self.exec(
            NatB,
            &["ip", "route", "add", "default", "via", "198.51.100.1"],
        )?;
        self.exec(
            Joiner,
            &["ip", "route", "add", "default", "via", "10.71.2.1"],
        )?;
        for n in [NatA, Public, NatB] {
            self.exec(n, &["sysctl", "-qw", "net.ipv4.ip_forward=1"])?;
        }
        for n in [NatA, NatB] {
            let mut rule: Vec<String> = ["POSTROUTING", "-o", "wan", "-j", "MASQUERADE"]
                .iter()
                .map(|s| s.to_string())
                .collect();
            if random_fully {
                rule.push("--random-fully".into());
            }
            let mut add = vec!["iptables", "-t", "nat", "-A"];
            add.extend(rule.iter().map(String::as_str));
            self.exec(n, &add)?;
            self.rules.push((self.ns(n), rule));
        }
        Ok(())
    }

    /// Starts a program inside a namespace; it is killed when the lab drops.
    pub(crate) fn spawn(&mut self, n: Node, program: &str, args: &[&str]) -> std::io::Result<()> {
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns(n), program])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()?;
        self.children.push(child);
        Ok(())
    }

    /// Moves the calling thread into a namespace (for the rest of its life).
    pub(crate) fn enter(&self, n: Node) -> std::io::Result<()> {
        let f = File::open(format!("/run/netns/{}", self.ns(n)))?;
        // SAFETY: a valid namespace file descriptor, and a flag setns knows;
        // it changes only this thread's network namespace.
        let r = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
        if r != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        for (ns, rule) in &self.rules {
            let mut del = vec!["netns", "exec", ns.as_str(), "iptables", "-t", "nat", "-D"];
            del.extend(rule.iter().map(String::as_str));
            if let Err(e) = run("ip", &del) {
                eprintln!("nat lab cleanup: {e}");
            }
        }
        for ns in self.namespaces.iter().rev() {
            if let Err(e) = run("ip", &["netns", "del", ns]) {
                eprintln!("nat lab cleanup: {e}");
            }
        }
    }
}
