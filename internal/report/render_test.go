package report

import (
	"context"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestReportRendersInChromium opens report.html in headless Chromium
// (Debian's chromium; .ci/run installs it) and checks the rendered DOM: every
// grid image decoded to a real bitmap, and the metric table has a row per
// metric. It skips when Chromium is absent.
func TestReportRendersInChromium(t *testing.T) {
	bin := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			bin = p
			break
		}
	}
	if bin == "" {
		t.Skip("chromium not installed (apt-get install chromium); .ci/run installs it")
	}
	s := testSamples(t, 5, 3)
	r := testResults(t, s)
	dir := t.TempDir()
	run := writeRun(t, filepath.Join(dir, "run"))
	out := filepath.Join(dir, "out")
	if err := Write(out, r, s, Options{Runs: []string{run}}); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
		"--user-data-dir="+filepath.Join(dir, "profile"), "--virtual-time-budget=3000",
		"--dump-dom", "file://"+filepath.Join(out, ReportHTML))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	dom, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium: %v\n%s", err, stderr.String())
	}
	page := string(dom)
	attr := func(name string) int {
		m := regexp.MustCompile(name + `="(\d+)"`).FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("rendered DOM has no %s attribute (the load handler did not run):\n%.2000s", name, page)
		}
		v, _ := strconv.Atoi(m[1])
		return v
	}
	want := s.N * (1 + s.S)
	if total, loaded := attr("data-images-total"), attr("data-images-loaded"); total != want || loaded != want {
		t.Errorf("chromium: %d of %d images decoded, want %d of %d", loaded, total, want, want)
	}
	if got := strings.Count(page, `<tr class="metric"`); got != len(r.Metrics) {
		t.Errorf("rendered metric table has %d rows, want %d", got, len(r.Metrics))
	}
	if got := strings.Count(page, `<svg class="plot"`); got != 2 {
		t.Errorf("rendered page has %d plots, want 2", got)
	}
}
