package export

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/mattn/go-isatty"
)

// Progress is told how far an export is; implementations must be cheap.
type Progress interface {
	// Update reports done of total steps (points per series) and samples written so far.
	Update(done, total int64, samples int64)
	// Finish clears the bar.
	Finish()
}

// IsTerminal reports whether w is a terminal (so a progress bar may be drawn on it).
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	return isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())
}

// Bar is a one-line progress bar redrawn in place at most every 100 ms.
type Bar struct {
	mu    sync.Mutex
	w     io.Writer
	start time.Time
	last  time.Time
	drawn bool
}

// NewBar draws on w, which should be a terminal (stderr), never the data output.
func NewBar(w io.Writer) *Bar { return &Bar{w: w, start: time.Now()} }

// Update redraws the bar if enough time has passed.
func (b *Bar) Update(done, total, samples int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	if now.Sub(b.last) < 100*time.Millisecond && done < total {
		return
	}
	b.last = now
	const width = 30
	frac := 1.0
	if total > 0 {
		frac = float64(done) / float64(total)
	}
	n := int(frac * width)
	bar := strings.Repeat("=", n) + strings.Repeat(" ", width-n)
	// Floor, so 100% means done.
	fmt.Fprintf(b.w, "\r[%s] %3d%%  %d/%d steps  %d samples  %s ",
		bar, int(frac*100), done, total, samples, now.Sub(b.start).Truncate(100*time.Millisecond))
	b.drawn = true
}

// Finish erases the bar so the terminal is left clean.
func (b *Bar) Finish() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.drawn {
		fmt.Fprint(b.w, "\r\033[K")
		b.drawn = false
	}
}
