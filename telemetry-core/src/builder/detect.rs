//! Resource detection: the host's name and architecture, and the id of
//! the container the process runs in, read from the files Linux exposes.
//! What these files hold is outside input: nothing here panics on it, and
//! what cannot be read or recognised is left out.

/// `host.arch` as OpenTelemetry names it (`amd64`, `arm64`, …).
pub(crate) fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "x86",
        "arm" => "arm32",
        "powerpc" => "ppc32",
        "powerpc64" => "ppc64",
        "s390x" => "s390x",
        other => other,
    }
}

/// `host.name`: the kernel's host name, or `/etc/hostname`.
pub(crate) fn host_name() -> Option<String> {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .map(|s| s.trim().to_owned())
        .find(|s| !s.is_empty() && s.len() <= 255)
}

/// `container.id` of this process, from `/proc/self/cgroup` and
/// `/proc/self/mountinfo`.
pub(crate) fn container_id() -> Option<String> {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    container_id_from(&read("/proc/self/cgroup"), &read("/proc/self/mountinfo"))
}

/// The first 64-hex-digit container id in the cgroup paths (cgroup v1,
/// and v2 under Docker, containerd, CRI-O or Podman), or else in the
/// container runtime's directories in the mount table (cgroup v2 with a
/// private cgroup namespace, where the cgroup path is `/`).
pub(crate) fn container_id_from(cgroup: &str, mountinfo: &str) -> Option<String> {
    let from_cgroup = cgroup
        .lines()
        .filter_map(|l| l.rsplit(':').next())
        .find_map(last_id);
    from_cgroup.or_else(|| {
        mountinfo
            .lines()
            .flat_map(str::split_whitespace)
            .filter(|field| {
                field.contains("/containers/")
                    || field.contains("/sandboxes/")
                    || field.contains("/overlay-containers/")
            })
            .find_map(first_id)
    })
}

/// The hex run of exactly 64 digits in a path segment, as its segments
/// appear (`docker-<id>.scope`, `cri-containerd-<id>.scope`, `<id>`).
fn ids(path: &str) -> impl Iterator<Item = &str> {
    path.split(['/', '-', '.', ':'])
        .filter(|s| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn last_id(path: &str) -> Option<String> {
    ids(path).last().map(str::to_ascii_lowercase)
}

fn first_id(path: &str) -> Option<String> {
    ids(path).next().map(str::to_ascii_lowercase)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "3f1c5e0b9a7d4c2e8f6a1b3c5d7e9f0a2b4c6d8e0f1a3b5c7d9e1f3a5b7c9d1e";

    #[test]
    fn container_ids_are_found_where_runtimes_put_them() {
        let v1 = format!("12:memory:/docker/{ID}\n11:cpu,cpuacct:/docker/{ID}\n");
        assert_eq!(container_id_from(&v1, "").as_deref(), Some(ID));
        let systemd = format!("0::/system.slice/docker-{ID}.scope\n");
        assert_eq!(container_id_from(&systemd, "").as_deref(), Some(ID));
        let k8s = format!(
            "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234.slice/cri-containerd-{ID}.scope\n"
        );
        assert_eq!(container_id_from(&k8s, "").as_deref(), Some(ID));
        let mountinfo = format!(
            "655 654 0:45 / / rw,relatime master:300 - overlay overlay rw\n\
             672 655 254:1 /var/lib/docker/containers/{ID}/hostname /etc/hostname rw,relatime - ext4 /dev/vda1 rw\n"
        );
        assert_eq!(container_id_from("0::/\n", &mountinfo).as_deref(), Some(ID));
        let upper = ID.to_ascii_uppercase();
        assert_eq!(
            container_id_from(&format!("1:name=x:/docker/{upper}"), "").as_deref(),
            Some(ID)
        );
    }

    #[test]
    fn outside_a_container_or_on_garbage_nothing_is_found() {
        assert_eq!(
            container_id_from("0::/user.slice/user-1000.slice\n", ""),
            None
        );
        assert_eq!(container_id_from("", ""), None);
        assert_eq!(
            container_id_from("::::\n\u{0}\u{ffff}é/🙂", "a b c\n\n"),
            None
        );
        // 63 and 65 digits are not ids.
        let short = &ID[1..];
        assert_eq!(container_id_from(&format!("0::/docker/{short}"), ""), None);
        assert_eq!(container_id_from(&format!("0::/docker/{ID}0"), ""), None);
    }

    #[test]
    fn the_host_is_described() {
        assert!(!host_arch().is_empty());
        if cfg!(target_arch = "x86_64") {
            assert_eq!(host_arch(), "amd64");
        }
        if let Some(name) = host_name() {
            assert!(!name.is_empty() && !name.contains('\n'));
        }
    }
}
