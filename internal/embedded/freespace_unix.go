//go:build unix

package embedded

import "golang.org/x/sys/unix"

// freeSpace is what an unprivileged writer may still use on the file
// system holding dir.
func freeSpace(dir string) (int64, bool) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, false
	}
	return int64(uint64(st.Bavail) * uint64(st.Bsize)), true
}
