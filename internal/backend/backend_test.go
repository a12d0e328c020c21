package backend

import (
	"io"
	"os"
	"testing"
)

// TestNewKeepsStdoutClean: creating the Go backend writes nothing on stdout
// (compute's gobackend prints its parallelism there), so that a command's
// stdout holds only its results.
func TestNewKeepsStdoutClean(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout := os.Stdout
	os.Stdout = w
	// A config no other test creates, so that a new backend is built.
	_, err = New("go:ops_sequential")
	os.Stdout = stdout
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(r)
	if len(got) != 0 {
		t.Errorf("New wrote %q on stdout", got)
	}
}

func TestSpec(t *testing.T) {
	t.Setenv(EnvVar, "")
	if got := Spec(""); got != DefaultSpec {
		t.Errorf("Spec(empty) = %q, want %q", got, DefaultSpec)
	}
	t.Setenv(EnvVar, "go:ops_parallel")
	if got := Spec(""); got != "go:ops_parallel" {
		t.Errorf("Spec with $%s = %q", EnvVar, got)
	}
	if got := Spec("go:x"); got != "go:x" {
		t.Errorf("Spec(flag) = %q, want the flag", got)
	}
	if _, err := New("nosuch"); err == nil {
		t.Error("an unknown backend was accepted")
	}
}
