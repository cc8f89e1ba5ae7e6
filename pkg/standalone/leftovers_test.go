package standalone

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/facefleet/facefleet/internal/testenv"
	"github.com/facefleet/facefleet/pkg/media"
)

// A `run` killed with SIGKILL mid-job leaves its hidden temporary output and its work directory; the next run with
// the same output and work directory removes them, leaves a live run's alone, and writes a correct output.
func TestKilledRunLeftoversRemoved(t *testing.T) {
	bin := buildCoordinator(t)
	dir := t.TempDir()
	target := faceTarget(t, dir)
	outDir, work := t.TempDir(), t.TempDir()
	out := filepath.Join(outDir, "out.mp4")
	args := []string{"run", "-q", "-s", testenv.Face(t, "astronaut_eileen_collins.png"), "-t", target, "-o", out,
		"--work-dir", work, "--models-dir", filepath.Join(testenv.SharedDir(t), "models"),
		"--onnxruntime-library", testenv.ORTLib(t), "--segment-seconds", "2"}

	// The first run is killed once its work has begun: its embedded server's files exist.
	killed := exec.Command(bin, args...)
	if err := killed.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- killed.Wait() }()
	for started := false; !started; {
		select {
		case err := <-exited:
			t.Fatalf("the run ended (%v) before it could be killed", err)
		case <-time.After(10 * time.Millisecond):
			m, _ := filepath.Glob(filepath.Join(work, "facefleet-*", "nats"))
			started = len(m) > 0
		}
	}
	if err := killed.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-exited
	deadTmp, _ := filepath.Glob(filepath.Join(outDir, ".out.tmp-*"))
	deadWork, _ := filepath.Glob(filepath.Join(work, "facefleet-*"))
	if len(deadTmp) != 1 || len(deadWork) != 1 {
		t.Fatalf("after kill -9: temporary outputs %v, work dirs %v: want one of each", deadTmp, deadWork)
	}
	if st, err := os.Stat(deadWork[0]); err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("work dir %v %v: want 0700", st.Mode(), err)
	}

	// Names of other owners: this test process is alive (kept); the same pid with another start time is a reused
	// pid (removed); another host's cannot be judged (kept); a name without an owner is not ours (kept).
	me, err := self()
	if err != nil {
		t.Fatal(err)
	}
	others := []struct {
		name string
		kept bool
	}{
		{fmt.Sprintf("%s%s-x.mp4", tempOutputPrefix(out), me), true},
		{fmt.Sprintf("%s%d-%d-%s-x.mp4", tempOutputPrefix(out), me.pid, me.start+1, me.host), false},
		{fmt.Sprintf("%s%d-%d-0badf00d-x.mp4", tempOutputPrefix(out), me.pid+1, me.start), true},
		{tempOutputPrefix(out) + "123456.mp4", true},
		{fmt.Sprintf(".other.tmp-%d-%d-%s-x.mp4", me.pid, me.start+1, me.host), true}, // another output's
	}
	for _, o := range others {
		if err := os.WriteFile(filepath.Join(outDir, o.name), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	liveWork := filepath.Join(work, fmt.Sprintf("%s%s-x", workDirPrefix, me))
	if err := os.Mkdir(liveWork, 0o700); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(bin, args...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("second run: %v\n%s", err, b)
	}
	for _, p := range append(deadTmp, deadWork...) {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s was left behind", p)
		}
	}
	for _, o := range others {
		if _, err := os.Stat(filepath.Join(outDir, o.name)); (err == nil) != o.kept {
			t.Errorf("%s: kept %v, want %v", o.name, err == nil, o.kept)
		}
	}
	if _, err := os.Stat(liveWork); err != nil {
		t.Errorf("a live run's work dir was removed: %v", err)
	}
	if entries, _ := os.ReadDir(work); len(entries) != 1 {
		t.Errorf("work dir holds %d entries, want only the live one", len(entries))
	}
	idx, err := media.ScanFrames(context.Background(), out)
	if err != nil || idx.Count != 150 {
		t.Fatalf("output: %v frames, %v; want 150", idx, err)
	}
	if _, err := os.Stat(out + ".provenance.json"); err != nil {
		t.Fatal(err)
	}
}

// TestTempOutputName: the temporary output of the longest name CheckOutput allows still fits in a file name (it
// did not once the owner joined it: "output directory is not writable (file name too long)"), and every temporary
// output of one output shares its prefix, so leftovers are still found.
func TestTempOutputName(t *testing.T) {
	dir := t.TempDir()
	me, err := self()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"out.mp4", strings.Repeat("o", 226) + ".mp4", strings.Repeat("é", 113) + ".mkv"} {
		out := filepath.Join(dir, name)
		if err := CheckOutput(out); err != nil {
			t.Fatalf("%d-byte name: %v", len(name), err)
		}
		tmp, err := tempOutput(out, me)
		if err != nil {
			t.Fatalf("%d-byte name: %v", len(name), err)
		}
		if !strings.HasPrefix(filepath.Base(tmp), tempOutputPrefix(out)) || !utf8.ValidString(tmp) {
			t.Errorf("%s does not begin with %s", tmp, tempOutputPrefix(out))
		}
		os.Remove(tmp)
	}
}
