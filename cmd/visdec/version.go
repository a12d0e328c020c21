package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/visdec/visdec/internal/backend"
)

// version is set with -ldflags "-X main.version=..." for releases.
var version = "dev"

func init() {
	register(&command{
		name:  "version",
		short: "print the visdec version, Go version and compiled-in backends",
		run:   runVersion,
	})
}

func runVersion(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet(commands["version"], stdout)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "visdec %s\n", version)
	fmt.Fprintf(stdout, "go %s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			switch d.Path {
			case "github.com/gomlx/gomlx", "github.com/gomlx/compute":
				fmt.Fprintf(stdout, "%s %s\n", d.Path, d.Version)
			}
		}
		for _, s := range bi.Settings {
			if s.Key == "GOEXPERIMENT" || s.Key == "CGO_ENABLED" || s.Key == "vcs.revision" {
				fmt.Fprintf(stdout, "%s=%s\n", s.Key, s.Value)
			}
		}
	}
	fmt.Fprintf(stdout, "backends: %v (default %s)\n", backend.Available(), backend.DefaultSpec)
	return nil
}
