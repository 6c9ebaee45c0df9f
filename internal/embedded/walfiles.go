package embedded

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/prometheus/prometheus/tsdb/wlog"
)

// walDirs are the TSDB's write-ahead logs: samples, and out-of-order ones.
var walDirs = []string{"wal", wlog.WblDirName}

// repairMargin is room beyond the largest log segment that closing and
// reopening the TSDB may write: the last WAL page, head chunks that get
// memory-mapped on close, a fresh head chunk file.
const repairMargin = 16 << 20

// restoreInterruptedRepairs puts back log segments that a failed repair set
// aside. Prometheus repairs a torn segment N by renaming it to N.repair,
// rewriting N from it up to the tear and then deleting N.repair. When that
// fails (a full disk), the next start would read the half-written N,
// ignore N.repair and so drop everything after the point where the copy
// stopped; with the original back, the repair simply starts over.
func restoreInterruptedRepairs(dir string, logger *slog.Logger) error {
	for _, sub := range walDirs {
		matches, err := filepath.Glob(filepath.Join(dir, sub, "*.repair"))
		if err != nil {
			return fmt.Errorf("look for interrupted WAL repairs: %w", err)
		}
		for _, m := range matches {
			seg := strings.TrimSuffix(m, ".repair")
			if _, err := strconv.Atoi(filepath.Base(seg)); err != nil {
				continue // not a segment of Prometheus'
			}
			if err := os.Rename(m, seg); err != nil {
				return fmt.Errorf("restore %s after an interrupted WAL repair: %w", m, err)
			}
			logger.Warn("restored a WAL segment that an interrupted repair had set aside; the repair starts over", "segment", seg)
		}
	}
	return nil
}

// repairNeed is how much free space closing and reopening the TSDB may
// need: a repair rewrites one segment, at worst the largest, plus margin.
func repairNeed(dir string) (int64, error) {
	var largest int64
	for _, sub := range walDirs {
		entries, err := os.ReadDir(filepath.Join(dir, sub))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("list WAL segments: %w", err)
		}
		for _, e := range entries {
			if _, err := strconv.Atoi(strings.TrimSuffix(e.Name(), ".repair")); err != nil || e.IsDir() {
				continue
			}
			info, err := e.Info()
			if err != nil {
				continue // deleted meanwhile
			}
			largest = max(largest, info.Size())
		}
	}
	return largest + repairMargin, nil
}

// errNoRoom: the file system holding the TSDB lacks the room that opening
// it may need.
var errNoRoom = errors.New("no room to open the TSDB")

// checkRoom fails when the file system has less free space than
// repairNeed, saying what to do.
func checkRoom(dir string) error {
	need, err := repairNeed(dir)
	if err != nil {
		return err
	}
	if free, ok := freeSpace(dir); ok && free < need {
		return fmt.Errorf("%w: the file system has %s free and the TSDB needs about %s to replay and repair its WAL: "+
			"free space on it and start again (nothing is lost meanwhile)", errNoRoom, mib(free), mib(need))
	}
	return nil
}

// explainNoSpace adds what to do to an error that a full disk caused.
func explainNoSpace(dir string, err error) error {
	if !errors.Is(err, syscall.ENOSPC) {
		return err
	}
	msg := "the file system is full"
	if free, ok := freeSpace(dir); ok {
		msg = fmt.Sprintf("the file system has %s free", mib(free))
	}
	if need, nerr := repairNeed(dir); nerr == nil {
		msg += fmt.Sprintf(" and the TSDB needs about %s to replay and repair its WAL", mib(need))
	}
	return fmt.Errorf("%s: free space on it and start again (an interrupted repair starts over): %w", msg, err)
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
