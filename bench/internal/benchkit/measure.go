package benchkit

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ProcessCPU is a process's user+system CPU time so far, all threads, from
// /proc/<pid>/stat (fields 14 and 15, in clock ticks of 1/100 s, USER_HZ
// on Linux). pid 0: zero, for a peer this run does not measure.
func ProcessCPU(pid int) (time.Duration, error) {
	if pid == 0 {
		return 0, nil
	}
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("cpu time: %w", err)
	}
	// The command name, field 2, may hold spaces: count from after it.
	s := string(raw)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("cpu time: /proc stat does not parse")
	}
	f := strings.Fields(s[i+1:]) // f[0] is field 3
	if len(f) < 13 {
		return 0, errors.New("cpu time: /proc stat too short")
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("cpu time: /proc stat fields do not parse")
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil
}

// Median is the middle value of xs (the upper one of an even count); xs
// must not be empty.
func Median[T cmp.Ordered](xs []T) T {
	s := slices.Sorted(slices.Values(xs))
	return s[len(s)/2]
}

// CPU is ProcessCPU for a loop that reads it before and after each round:
// 0 when the process can no longer be read (it ended, which the round's
// own error then reports).
func CPU(pid int) time.Duration {
	d, _ := ProcessCPU(pid)
	return d
}
