// Package progress draws a progress line with rate and ETA on stderr. On a
// terminal it redraws one line in place; elsewhere (CI, log files) it prints a
// new line at most every Interval, so logs stay readable.
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// Interval is the minimum time between lines when not on a terminal.
var Interval = 10 * time.Second

// Bar tracks progress through total units of work.
type Bar struct {
	mu     sync.Mutex
	w      io.Writer
	label  string
	total  int
	start  time.Time
	last   time.Time
	tty    bool
	done   int
	offset int // units already done when the bar started (resume)
	width  int
}

// New starts a bar; total ≤ 0 means unknown.
func New(w io.Writer, label string, total int) *Bar {
	b := &Bar{w: w, label: label, total: total, start: time.Now(), width: 24}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 && os.Getenv("CI") == "" {
			b.tty = true
		}
	}
	return b
}

// Resume tells the bar that done units were finished before it started, so
// the rate and ETA count only this run's work.
func (b *Bar) Resume(done int) { b.mu.Lock(); b.offset, b.done = done, done; b.mu.Unlock() }

// Update sets the units done and a status string (e.g. live loss terms).
func (b *Bar) Update(done int, status string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.done = done
	now := time.Now()
	if b.tty {
		if now.Sub(b.last) < 100*time.Millisecond && done != b.total {
			return
		}
		fmt.Fprintf(b.w, "\r\033[K%s", b.line(now, status))
	} else {
		if now.Sub(b.last) < Interval && done != b.total {
			return
		}
		fmt.Fprintln(b.w, b.line(now, status))
	}
	b.last = now
}

// Finish prints the final state and ends the line.
func (b *Bar) Finish(status string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	line := b.line(time.Now(), status)
	if b.tty {
		fmt.Fprintf(b.w, "\r\033[K%s\n", line)
	} else {
		fmt.Fprintln(b.w, line)
	}
}

// Elapsed is the time since the bar started.
func (b *Bar) Elapsed() time.Duration { return time.Since(b.start) }

func (b *Bar) line(now time.Time, status string) string {
	el := now.Sub(b.start)
	var sb strings.Builder
	sb.WriteString(b.label)
	sb.WriteString(" ")
	if b.total > 0 {
		frac := float64(b.done) / float64(b.total)
		if frac > 1 {
			frac = 1
		}
		fill := int(frac * float64(b.width))
		fmt.Fprintf(&sb, "[%s%s] %d/%d %3.0f%%", strings.Repeat("=", fill), strings.Repeat(" ", b.width-fill), b.done, b.total, 100*frac)
	} else {
		fmt.Fprintf(&sb, "%d", b.done)
	}
	work := b.done - b.offset
	if work > 0 && el > 0 {
		rate := float64(work) / el.Seconds()
		fmt.Fprintf(&sb, " %s/s", fmtRate(rate))
		if b.total > 0 && b.done < b.total {
			eta := time.Duration(float64(b.total-b.done) / rate * float64(time.Second))
			fmt.Fprintf(&sb, " ETA %s", FormatDuration(eta))
		}
	}
	fmt.Fprintf(&sb, " elapsed %s", FormatDuration(el))
	if status != "" {
		sb.WriteString("  ")
		sb.WriteString(status)
	}
	return sb.String()
}

func fmtRate(r float64) string {
	switch {
	case r >= 100:
		return fmt.Sprintf("%.0f", r)
	case r >= 1:
		return fmt.Sprintf("%.2f", r)
	default:
		return fmt.Sprintf("%.3f", r)
	}
}

// FormatDuration prints h:mm:ss or m:ss.
func FormatDuration(d time.Duration) string {
	s := int(d.Round(time.Second).Seconds())
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}
