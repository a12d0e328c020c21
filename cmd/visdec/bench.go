package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"syscall"
)

// benchmark is one "visdec bench <name>" target. Each stage registers its own
// from its own file (bench_pretrain.go, bench_align.go, ...). A benchmark
// prints exactly one JSON line on stdout.
type benchmark struct {
	name  string
	short string
	run   func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

var benchmarks = map[string]*benchmark{}

func registerBench(b *benchmark) {
	if _, dup := benchmarks[b.name]; dup {
		panic("visdec: benchmark registered twice: " + b.name)
	}
	benchmarks[b.name] = b
}

func init() {
	register(&command{
		name:  "bench",
		args:  "<target> [flags]",
		short: "time one training or sampling step; prints one JSON line",
		long:  "targets are listed by 'visdec bench -h'; each takes its own flags ('visdec bench <target> -h').",
		run:   runBench,
	})
}

func benchTargets() string {
	names := make([]string, 0, len(benchmarks))
	for n, b := range benchmarks {
		names = append(names, fmt.Sprintf("  %-10s %s", n, b.short))
	}
	sort.Strings(names)
	return strings.Join(names, "\n")
}

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "-help" {
		fmt.Fprintf(stdout, "usage: visdec bench <target> [flags]\n\ntargets:\n%s\n", benchTargets())
		if len(args) == 0 {
			return usagef("missing benchmark target")
		}
		return errHelp
	}
	b, ok := benchmarks[args[0]]
	if !ok {
		return usagef("unknown benchmark %q; targets:\n%s", args[0], benchTargets())
	}
	return b.run(ctx, args[1:], stdout, stderr)
}

// median of xs (xs is not modified).
func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func round4(x float64) float64 { return float64(int64(x*1e4+0.5)) / 1e4 }

// peakRSSMiB is the process's peak resident set size (getrusage ru_maxrss,
// KiB on Linux).
func peakRSSMiB() (float64, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return round4(float64(ru.Maxrss) / 1024), true
}

// printJSON writes a benchmark's result as its one JSON line, with the
// process's peak resident memory added.
func printJSON(w io.Writer, m map[string]any) error {
	if mib, ok := peakRSSMiB(); ok {
		m["peak_rss_mib"] = mib
	}
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, string(b))
	return err
}
