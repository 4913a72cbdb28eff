//! The guest's `/init`, in two stages.

/// Stage 1 (`/init`): the initramfs root cannot be the old root of `pivot_root` (EINVAL), so
/// every container start would fail. Bind-mount `/` onto a directory, move that mount over `/`
/// and chroot into it: the root is then an ordinary mount and `pivot_root` works.
pub(crate) const STAGE1: &str = "#!/bin/busybox sh
/bin/busybox mkdir -p /.root
/bin/busybox mount --bind / /.root
cd /.root
/bin/busybox mount --move . /
exec /bin/busybox chroot . /init2
";

/// Stage 2 (`/init2`): kernel file systems, modules, a delegated cgroup2 root with the
/// controllers enabled, then the payload; its exit status goes to the console after `marker`,
/// and the guest powers off.
pub(crate) fn stage2(module_files: &[String], kernel_version: &str, marker: &str) -> String {
    let mut s = String::from(
        "#!/bin/sh
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
",
    );
    for file in module_files {
        s.push_str(&format!(
            "insmod /lib/modules/{kernel_version}/{file} || echo \"berth-vm: insmod {file} failed\"\n"
        ));
    }
    s.push_str(&format!(
        "mount -t cgroup2 -o nsdelegate,memory_recursiveprot cgroup2 /sys/fs/cgroup
echo '+cpuset +cpu +io +memory +pids' > /sys/fs/cgroup/cgroup.subtree_control
ip link set lo up
cd /
sh /payload.sh </dev/null
status=$?
echo \"{marker}$status\"
poweroff -f
"
    ));
    s
}
