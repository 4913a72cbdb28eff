/* escape-probe: issues exact escape attempts from inside a container and prints one line
 * per attempt: "<name> ok" when the kernel allowed it, "<name> err <errno-name>" when not.
 * Built at test time with `cc -static` (tests/escape.rs) and copied into the rootfs.
 *   escape-probe syscalls <host-pid> <disk-major> <disk-minor>
 *                                      every privileged-syscall attempt below
 *   escape-probe fds                   the open fds and cwd
 *   escape-probe sniff <seconds>       count packets carrying the host marker on AF_PACKET
 *   escape-probe abstract-listen NAME  / abstract-connect NAME
 *   escape-probe memread <pid>         process_vm_readv of another pid
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/perf_event.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/if_packet.h>
#include <linux/if_ether.h>
#include <arpa/inet.h>
#include <time.h>

static void report(const char *name, long rc) {
	if (rc < 0)
		printf("%s err %s\n", name, strerrorname_np(errno) ? strerrorname_np(errno) : "?");
	else
		printf("%s ok\n", name);
	fflush(stdout);
}

static long write_file(const char *path, const char *data) {
	int fd = open(path, O_WRONLY);
	if (fd < 0)
		return -1;
	long rc = write(fd, data, strlen(data));
	int e = errno;
	close(fd);
	errno = e;
	return rc < 0 ? -1 : 0;
}

static int syscalls(int host_pid, unsigned disk_major, unsigned disk_minor) {
	char buf[512];
	mkdir("/tmp/m", 0755);
	report("mount_tmpfs", mount("none", "/tmp/m", "tmpfs", 0, NULL));
	report("mount_bind_root", mount("/", "/tmp/m", NULL, MS_BIND, NULL));
	report("umount_proc", umount2("/proc", MNT_DETACH));
	report("pivot_root", syscall(SYS_pivot_root, "/", "/tmp"));
	report("fsopen", syscall(SYS_fsopen, "tmpfs", 0));
	report("open_tree", syscall(SYS_open_tree, AT_FDCWD, "/", 1 /* OPEN_TREE_CLONE */));
	{
		struct { unsigned int bytes; int type; unsigned char h[128]; } fh;
		int mnt_id;
		fh.bytes = 128;
		long rc = syscall(SYS_name_to_handle_at, AT_FDCWD, "/etc", &fh, &mnt_id, 0);
		report("name_to_handle_at", rc);
		int root = open("/", O_RDONLY | O_DIRECTORY);
		/* The handle of the file system root's inode 2: the classic shocker attempt. */
		if (rc < 0) {
			fh.bytes = 8;
			fh.type = 1;
			memset(fh.h, 0, 8);
			fh.h[0] = 2;
		}
		report("open_by_handle_at", syscall(SYS_open_by_handle_at, root, &fh, O_RDONLY));
	}
	report("mknod_blk", mknod("/dev/escape-blk", S_IFBLK | 0600, makedev(disk_major, disk_minor)));
	{
		int fd = open("/dev/escape-blk", O_RDONLY);
		long rc = fd;
		if (fd >= 0) {
			rc = read(fd, buf, sizeof buf);
			close(fd);
		}
		report("blk_read", rc);
	}
	{
		/* A real disk of the host, if its node exists in /dev (it should not). */
		int fd = open("/dev/vda", O_RDONLY);
		if (fd < 0) fd = open("/dev/sda", O_RDONLY);
		report("disk_open", fd);
	}
	report("write_hostname_sysctl", write_file("/proc/sys/kernel/hostname", "berth-escaped"));
	report("write_core_pattern", write_file("/proc/sys/kernel/core_pattern", "|/tmp/x"));
	report("write_sysrq", write_file("/proc/sysrq-trigger", "h"));
	report("write_sys_kernel_uevent_helper", write_file("/sys/kernel/uevent_helper", "/tmp/x"));
	{
		/* Write back the value already selected: harmless if it ever succeeded, but
		 * success alone proves /sys/kernel writable. */
		char cur[256] = "", *sel;
		int fd = open("/sys/kernel/mm/transparent_hugepage/enabled", O_RDONLY);
		ssize_t n = fd >= 0 ? read(fd, cur, sizeof cur - 1) : -1;
		if (fd >= 0) close(fd);
		cur[n > 0 ? n : 0] = 0;
		sel = strchr(cur, '[');
		if (sel && strchr(sel, ']')) {
			*strchr(sel, ']') = 0;
			report("write_sys_kernel_thp", write_file("/sys/kernel/mm/transparent_hugepage/enabled", sel + 1));
		} else {
			errno = ENOENT;
			report("write_sys_kernel_thp", -1);
		}
		fd = open("/sys/kernel/rcu_expedited", O_RDONLY);
		n = fd >= 0 ? read(fd, cur, sizeof cur - 1) : -1;
		if (fd >= 0) close(fd);
		cur[n > 0 ? n : 0] = 0;
		report("write_sys_kernel_rcu", n > 0 ? write_file("/sys/kernel/rcu_expedited", cur) : -1);
	}
	report("write_modprobe", write_file("/proc/sys/kernel/modprobe", "/tmp/x"));
	mkdir("/tmp/cg", 0755);
	report("mount_cgroup_v1", mount("cgroup", "/tmp/cg", "cgroup", 0, "memory"));
	report("mount_cgroup_v1_rdma", mount("cgroup", "/tmp/cg", "cgroup", 0, "rdma"));
	report("unshare_user_mnt_cgroup",
	       unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWCGROUP));
	report("unshare_user", unshare(CLONE_NEWUSER));
	{
		pid_t p = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
		if (p == 0) _exit(0);
		if (p > 0) waitpid(p, NULL, 0);
		report("clone_newuser", p);
	}
	report("clone3", syscall(SYS_clone3, NULL, 0));
	report("init_module", syscall(SYS_init_module, buf, 0, ""));
	{
		int fd = open("/bin/busybox", O_RDONLY);
		report("finit_module", syscall(SYS_finit_module, fd, "", 0));
		close(fd);
	}
	report("delete_module", syscall(SYS_delete_module, "loop", O_NONBLOCK));
	report("kexec_load", syscall(SYS_kexec_load, 0, 0, NULL, 0));
	report("kexec_file_load", syscall(SYS_kexec_file_load, -1, -1, 0, "", 0));
	report("ptrace_host_pid", ptrace(PTRACE_ATTACH, host_pid, 0, 0));
	snprintf(buf, sizeof buf, "/proc/%d/ns/mnt", host_pid);
	report("open_host_ns", open(buf, O_RDONLY));
	{
		int fd = open("/proc/1/ns/mnt", O_RDONLY);
		report("open_proc1_ns", fd);
		report("setns_proc1", fd >= 0 ? setns(fd, 0) : -1);
	}
	report("keyctl_join", syscall(SYS_keyctl, 1 /* JOIN_SESSION_KEYRING */, "berth-escape"));
	report("keyctl_read_user", syscall(SYS_keyctl, 11 /* READ */, -4 /* USER_KEYRING */, buf, sizeof buf));
	report("add_key", syscall(SYS_add_key, "user", "berth-escape", "x", 1, -3));
	report("read_proc_keys", (long)(open("/proc/keys", O_RDONLY) >= 0 && read(open("/proc/keys", O_RDONLY), buf, sizeof buf) > 0 ? 0 : (errno = errno ? errno : ENODATA, -1)));
	{
		union bpf_attr a;
		memset(&a, 0, sizeof a);
		a.map_type = BPF_MAP_TYPE_ARRAY;
		a.key_size = 4;
		a.value_size = 4;
		a.max_entries = 1;
		report("bpf_map_create", syscall(SYS_bpf, BPF_MAP_CREATE, &a, sizeof a));
	}
	{
		struct perf_event_attr pa;
		memset(&pa, 0, sizeof pa);
		pa.type = PERF_TYPE_SOFTWARE;
		pa.size = sizeof pa;
		pa.config = PERF_COUNT_SW_CPU_CLOCK;
		report("perf_event_open", syscall(SYS_perf_event_open, &pa, 0, -1, -1, 0));
	}
	report("userfaultfd", syscall(SYS_userfaultfd, O_CLOEXEC));
	report("iopl", syscall(SYS_iopl, 3));
	report("ioperm", syscall(SYS_ioperm, 0x80, 1, 1));
	report("socket_vsock", socket(40 /* AF_VSOCK */, SOCK_STREAM, 0));
	report("socket_raw", socket(AF_INET, SOCK_RAW, IPPROTO_ICMP));
	report("socket_packet", socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL)));
	report("personality_bad", syscall(SYS_personality, 0x0040000 /* ADDR_NO_RANDOMIZE */));
	report("sethostname", sethostname("berth-escaped", 13));
	report("chroot_escape", chroot("/tmp"));
	report("reboot", syscall(SYS_reboot, 0xfee1dead, 672274793, 0x4321fedc /* POWER_OFF */, NULL));
	report("syslog_read", syscall(SYS_syslog, 3, buf, sizeof buf));
	report("acct", syscall(SYS_acct, "/tmp/acct"));
	report("settimeofday", settimeofday(&(struct timeval){ .tv_sec = 1 }, NULL));
	report("swapon", syscall(SYS_swapon, "/dev/escape-blk", 0));
	return 0;
}

static int fds(void) {
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	char path[300], target[512];
	if (!d) {
		perror("opendir /proc/self/fd");
		return 1;
	}
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.' || atoi(e->d_name) == dirfd(d))
			continue;
		snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
		ssize_t n = readlink(path, target, sizeof target - 1);
		target[n < 0 ? 0 : n] = 0;
		printf("fd %s %s\n", e->d_name, target);
	}
	closedir(d);
	ssize_t n = readlink("/proc/self/cwd", target, sizeof target - 1);
	target[n < 0 ? 0 : n] = 0;
	printf("cwd %s\n", target);
	n = readlink("/proc/self/root", target, sizeof target - 1);
	target[n < 0 ? 0 : n] = 0;
	printf("root %s\n", target);
	/* Walk up from the cwd: a leaked host directory would lead out of the rootfs. */
	struct stat a, b;
	stat("/", &a);
	chdir("../../../../../../../../..");
	stat(".", &b);
	printf("dotdot_is_root %s\n", a.st_ino == b.st_ino && a.st_dev == b.st_dev ? "yes" : "no");
	return 0;
}

static int sniff(int seconds) {
	int s = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
	if (s < 0) {
		report("sniff_socket", -1);
		return 0;
	}
	struct timeval tv = { .tv_sec = 0, .tv_usec = 200000 };
	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	time_t end = time(NULL) + seconds;
	int seen = 0, total = 0;
	char buf[2048];
	while (time(NULL) < end) {
		ssize_t n = recv(s, buf, sizeof buf, 0);
		if (n <= 0)
			continue;
		total++;
		if (memmem(buf, n, "BERTH-HOST-MARKER", 17))
			seen++;
	}
	printf("sniff packets %d marker %d\n", total, seen);
	return 0;
}

static int abstract(const char *mode, const char *name) {
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	size_t len = strlen(name);
	memcpy(a.sun_path + 1, name, len);
	socklen_t sl = offsetof(struct sockaddr_un, sun_path) + 1 + len;
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	if (!strcmp(mode, "abstract-listen")) {
		report("abstract_bind", bind(s, (struct sockaddr *)&a, sl));
		listen(s, 4);
		pause();
		return 0;
	}
	report("abstract_connect", connect(s, (struct sockaddr *)&a, sl));
	return 0;
}

static int memread(int pid) {
	char buf[64];
	struct iovec l = { buf, sizeof buf }, r = { (void *)0x400000, sizeof buf };
	report("process_vm_readv", syscall(SYS_process_vm_readv, pid, &l, 1, &r, 1, 0));
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/mem", pid);
	report("open_proc_mem", open(path, O_RDONLY));
	report("kill_other", kill(pid, 0));
	return 0;
}

/* Look for a process whose /proc/<pid>/exe is the runtime binary (dev:ino given) for
 * `seconds`: a runtime process (exec child) is visible in our pid namespace for a moment. */
static int exe_hunt(int seconds, unsigned long dev, unsigned long ino) {
	time_t end = time(NULL) + seconds;
	long scans = 0, found = 0, denied = 0;
	char path[300];
	while (time(NULL) < end) {
		DIR *d = opendir("/proc");
		struct dirent *e;
		while (d && (e = readdir(d))) {
			if (e->d_name[0] < '0' || e->d_name[0] > '9')
				continue;
			snprintf(path, sizeof path, "/proc/%s/exe", e->d_name);
			struct stat st;
			if (stat(path, &st) < 0) {
				if (errno == EACCES || errno == EPERM)
					denied++;
				continue;
			}
			if (st.st_dev == dev && st.st_ino == ino) {
				int fd = open(path, O_PATH);
				printf("found %s fd %d\n", path, fd);
				found++;
			}
		}
		if (d)
			closedir(d);
		scans++;
	}
	printf("exe_hunt scans %ld found %ld denied %ld\n", scans, found, denied);
	return 0;
}

int main(int argc, char **argv) {
	/* Never on the host by accident: the tests set this only in the container's env. */
	if (!getenv("BERTH_ESCAPE_PROBE_INSIDE")) {
		fprintf(stderr, "escape-probe: refusing to run outside a test container\n");
		return 3;
	}
	if (argc >= 2 && !strcmp(argv[1], "syscalls"))
		return syscalls(argc > 2 ? atoi(argv[2]) : 1, argc > 3 ? atoi(argv[3]) : 7,
				argc > 4 ? atoi(argv[4]) : 0);
	if (argc >= 2 && !strcmp(argv[1], "fds"))
		return fds();
	if (argc >= 3 && !strcmp(argv[1], "sniff"))
		return sniff(atoi(argv[2]));
	if (argc >= 3 && !strncmp(argv[1], "abstract-", 9))
		return abstract(argv[1], argv[2]);
	if (argc >= 3 && !strcmp(argv[1], "memread"))
		return memread(atoi(argv[2]));
	if (argc >= 5 && !strcmp(argv[1], "exe-hunt"))
		return exe_hunt(atoi(argv[2]), strtoul(argv[3], 0, 10), strtoul(argv[4], 0, 10));
	fprintf(stderr, "usage: escape-probe syscalls|fds|sniff|abstract-listen|abstract-connect|memread ...\n");
	return 2;
}
