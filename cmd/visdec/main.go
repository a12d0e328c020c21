// Command visdec reconstructs seen images from fMRI responses: a Go
// re-implementation of "Contrast, Attend and Diffuse" (Sun et al., NeurIPS
// 2023). Run "visdec help" for the subcommands.
//
// Results go to stdout; progress and logs go to stderr. Exit codes: 0 success,
// 1 failure, 2 bad usage, 130 interrupted.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

// command is one subcommand. Each lives in its own file and registers itself
// in init, so adding one never touches this file.
type command struct {
	name  string
	args  string // synopsis of the arguments, for help
	short string // one line
	long  string // extra help text
	// run executes the command. A usageError means bad arguments (exit 2);
	// an error wrapping context.Canceled means interrupted (exit 130).
	run func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

var commands = map[string]*command{}

func register(c *command) {
	if _, dup := commands[c.name]; dup {
		panic("visdec: command registered twice: " + c.name)
	}
	commands[c.name] = c
}

// usageError marks an error in the command line.
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// newFlagSet returns a flag set for a command whose -h/--help prints the
// command's help to stdout.
func newFlagSet(c *command, stdout io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	fs.SetOutput(stdout)
	fs.Usage = func() {
		fmt.Fprintf(stdout, "usage: visdec %s %s\n\n%s\n", c.name, c.args, c.short)
		if c.long != "" {
			fmt.Fprintf(stdout, "\n%s\n", strings.TrimSpace(c.long))
		}
		fmt.Fprintln(stdout, "\nflags:")
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args; -h is reported as errHelp (exit 0).
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelp
		}
		return usageError{err}
	}
	return nil
}

var errHelp = errors.New("help requested")

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" || args[0] == "-help" {
		if len(args) > 1 {
			if c, ok := commands[args[1]]; ok {
				fs := newFlagSet(c, stdout)
				fs.Usage()
				return 0
			}
		}
		printHelp(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "visdec: unknown command %q; run 'visdec help'\n", args[0])
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := c.run(ctx, args[1:], stdout, stderr)
	return exitCode(c.name, err, stderr)
}

func exitCode(name string, err error, stderr io.Writer) int {
	var ue usageError
	switch {
	case err == nil || errors.Is(err, errHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "visdec %s: %v\nrun 'visdec %s -h' for usage\n", name, err, name)
		return 2
	case errors.Is(err, context.Canceled):
		fmt.Fprintf(stderr, "visdec %s: interrupted: %v\n", name, err)
		return 130
	default:
		fmt.Fprintf(stderr, "visdec %s: %v\n", name, oneLine(err))
		return 1
	}
}

// oneLine keeps an error message on a single line.
func oneLine(err error) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", " ")), " ")
}

func printHelp(w io.Writer) {
	fmt.Fprintln(w, "visdec: decode the images a person saw from their fMRI responses")
	fmt.Fprintln(w, "(a Go re-implementation of Contrast, Attend and Diffuse, NeurIPS 2023)")
	fmt.Fprintln(w, "\nusage: visdec <command> [flags]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-18s %s\n", n, commands[n].short)
	}
	fmt.Fprintln(w, "\nrun 'visdec <command> -h' for a command's flags.")
	fmt.Fprintln(w, "backend: --backend or $VISDEC_BACKEND (default go:parallelism=-1)")
}
