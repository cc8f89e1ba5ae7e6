package cli

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// parseOnly does what cobra does with a command line up to RunE: find the verb, parse its flags, check its
// positional arguments; it runs nothing. The line goes through RoopArgs first, as main's does.
func parseOnly(args []string) (verb string, processors []string, err error) {
	root := Coordinator()
	cmd, rest, err := root.Find(RoopArgs(root, args))
	if err != nil {
		return "", nil, err
	}
	if err := cmd.ParseFlags(rest); err != nil {
		return cmd.Name(), nil, err
	}
	if err := cmd.ValidateArgs(cmd.Flags().Args()); err != nil {
		return cmd.Name(), nil, err
	}
	if f := cmd.Flags().Lookup(processorFlag); f != nil {
		processors, _ = cmd.Flags().GetStringSlice(processorFlag)
	}
	return cmd.Name(), processors, nil
}

// roop's --frame-processor takes its processors as separate words (argparse's nargs='+'); `run` and `submit`
// take them so, and a stray word anywhere else is still the error it was.
func TestRoopProcessorList(t *testing.T) {
	both := []string{"face_swapper", "face_enhancer"}
	for _, tc := range []struct {
		name    string
		args    []string
		want    []string
		wantErr string
	}{
		{"roop's words, flag last", []string{"run", "-s", "a.jpg", "-t", "b.mp4", "-o", "c.mp4", "--frame-processor", "face_swapper", "face_enhancer"}, both, ""},
		{"roop's words, then a flag", []string{"run", "--frame-processor", "face_swapper", "face_enhancer", "-s", "a.jpg"}, both, ""},
		{"roop's words, then a bool flag", []string{"run", "--frame-processor", "face_swapper", "face_enhancer", "--many-faces"}, both, ""},
		{"commas", []string{"run", "--frame-processor", "face_swapper,face_enhancer"}, both, ""},
		{"one word", []string{"run", "--frame-processor", "face_enhancer", "-s", "a.jpg"}, []string{"face_enhancer"}, ""},
		{"submit takes them too", []string{"submit", "--frame-processor", "face_swapper", "face_enhancer", "-s", "a.jpg"}, both, ""},
		{"--config before the verb", []string{"--config", "x.yaml", "run", "--frame-processor", "face_swapper", "face_enhancer"}, both, ""},
		// argparse takes one value after --frame-processor=..., so does this.
		{"= takes one value", []string{"run", "--frame-processor=face_swapper", "face_enhancer"}, nil, `unknown command "face_enhancer"`},
		{"a stray word before", []string{"run", "-s", "a.jpg", "stray", "--frame-processor", "face_swapper"}, nil, `unknown command "stray"`},
		{"a stray word without the flag", []string{"run", "-s", "a.jpg", "stray"}, nil, `unknown command "stray"`},
		{"after --", []string{"run", "--frame-processor", "face_swapper", "--", "face_enhancer"}, nil, `unknown command "face_enhancer"`},
		{"a verb without the flag keeps its arguments", []string{"status", "job-1"}, nil, ""},
		{"a verb without the flag refuses it", []string{"status", "--frame-processor", "face_swapper", "x"}, nil, "unknown flag: --frame-processor"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, got, err := parseOnly(tc.args)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("processors %q, want %q", got, tc.want)
			}
		})
	}
}

// roop's --keep-audio (its default) is --skip-audio's opposite, on run and submit; the two must agree.
func TestKeepAudio(t *testing.T) {
	for _, verb := range []string{"run", "submit"} {
		for _, tc := range []struct {
			args    []string
			skip    bool
			wantErr string
		}{
			{nil, false, ""},
			{[]string{"--keep-audio"}, false, ""},
			{[]string{"--skip-audio"}, true, ""},
			{[]string{"--keep-audio=false"}, true, ""},
			{[]string{"--keep-audio", "--skip-audio=false"}, false, ""},
			{[]string{"--keep-audio=false", "--skip-audio"}, true, ""},
			{[]string{"--keep-audio", "--skip-audio"}, false, "contradict"},
			{[]string{"--skip-audio", "--keep-audio=true"}, false, "contradict"},
		} {
			t.Run(verb+" "+strings.Join(tc.args, " "), func(t *testing.T) {
				cmd, _, err := Coordinator().Find([]string{verb})
				if err != nil {
					t.Fatal(err)
				}
				if err := cmd.ParseFlags(tc.args); err != nil {
					t.Fatal(err)
				}
				skip, _ := cmd.Flags().GetBool("skip-audio")
				err = audioChoice(cmd.Flags(), &skip)
				if tc.wantErr != "" {
					if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
						t.Fatalf("error %v, want %q", err, tc.wantErr)
					}
					return
				}
				if err != nil || skip != tc.skip {
					t.Fatalf("skip audio %v (%v), want %v", skip, err, tc.skip)
				}
			})
		}
	}
}

// runPy runs the repository's run.py with args and returns its stdout and stderr.
func runPy(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	py, lookErr := exec.LookPath("python3")
	if lookErr != nil {
		t.Skip("run.py needs python3:", lookErr)
	}
	root, _ := filepath.Abs("../..")
	cmd := exec.Command(py, append([]string{filepath.Join(root, "run.py")}, args...)...)
	cmd.Env = append(os.Environ(), "FACEFLEET_COORDINATOR=/coordinator")
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

// run.py takes roop 1.3.2's and the memory-optimized fork's command lines and says which `coordinator run` it
// runs (--print-command); every command it makes parses as `coordinator run`'s own flags.
func TestRunPyTranslation(t *testing.T) {
	files := []string{"-s", "cara.jpg", "-t", "video.mp4", "-o", "resultado.mp4"}
	with := func(a ...string) []string { return append(slices.Clone(files), a...) }
	for _, tc := range []struct {
		name  string
		args  []string
		want  []string // after `/coordinator`
		notes []string // each a line of stderr, in part
	}{
		{"the fork's line", with("--memory-optimization", "--batch-size", "2", "--max-memory", "6"),
			append(append([]string{"run"}, files...), "--max-memory", "6", "--memory-optimization", "--batch-size", "2"), nil},
		{"roop's processors and cuda", with("--frame-processor", "face_swapper", "face_enhancer", "--execution-provider", "cuda", "--execution-threads", "4"),
			append(append([]string{"run"}, files...), "--frame-processor", "face_swapper,face_enhancer", "--execution-provider", "cuda", "--execution-threads", "4"), nil},
		{"roop's booleans", with("--keep-frames", "--skip-audio", "--many-faces"),
			append(append([]string{"run"}, files...), "--keep-frames", "--skip-audio", "--many-faces"), []string{"--keep-frames: the frames go to"}},
		{"--keep-fps has no meaning here", with("--keep-fps"), append([]string{"run"}, files...), []string{"--keep-fps: ignored"}},
		{"a reference face picks the person, as in roop", with("--reference-face-position", "1", "--reference-frame-number", "10", "--similar-face-distance", "0.5"),
			append(append([]string{"run"}, files...), "--reference-face-position", "1",
				"--reference-frame-number", "10", "--similar-face-distance", "0.5"), nil},
		{"a reference face with --many-faces: not passed on", with("--many-faces", "--reference-face-position", "1"),
			append(append([]string{"run"}, files...), "--many-faces"), []string{"unused with --many-faces"}},
		{"kept frames' format", with("--keep-frames", "--temp-frame-format", "jpg", "--temp-frame-quality", "10"),
			append(append([]string{"run"}, files...), "--keep-frames", "--temp-frame-format", "jpg", "--temp-frame-quality", "10"),
			[]string{"--keep-frames: the frames go to"}},
		{"frame format without kept frames", with("--temp-frame-quality", "10"),
			append(append([]string{"run"}, files...), "--temp-frame-quality", "10"), []string{"unused without --keep-frames"}},
		{"encoder and quality", with("--output-video-encoder", "libx265", "--output-video-quality", "20"),
			append(append([]string{"run"}, files...), "--output-video-encoder", "libx265", "--output-video-quality", "20"), nil},
		{"NVENC is the CPU encoder of its codec", with("--output-video-encoder", "hevc_nvenc"),
			append(append([]string{"run"}, files...), "--output-video-encoder", "libx265"), []string{"NVENC is not supported here, encoding with libx265"}},
		{"roop's provider list runs its first GPU provider", with("--execution-provider", "cuda", "cpu"),
			append(append([]string{"run"}, files...), "--execution-provider", "cuda"), []string{"one provider runs here, cuda"}},
		{"a fraction of a GB", with("--max-memory", "1.5"), append(append([]string{"run"}, files...), "--max-memory", "1.5"), nil},
		{"Facefleet's own flags pass as they are", with("--workers", "2", "--keep-audio", "--face-detector-model", "yunet"),
			append(append([]string{"run"}, files...), "--workers", "2", "--keep-audio", "--face-detector-model", "yunet"), nil},
		{"an abbreviation, as argparse takes it", with("--many"), append(append([]string{"run"}, files...), "--many-faces"), nil},
		{"-v is roop's --version", []string{"-v"}, []string{"--version"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, err := runPy(t, append(tc.args, "--print-command")...)
			if err != nil {
				t.Fatalf("%v: %s", err, stderr)
			}
			var got []string
			if err := json.Unmarshal([]byte(stdout), &got); err != nil || len(got) == 0 || got[0] != "/coordinator" {
				t.Fatalf("stdout %q: %v", stdout, err)
			}
			if !slices.Equal(got[1:], tc.want) {
				t.Fatalf("command %q\nwant    %q", got[1:], tc.want)
			}
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			if stderr == "" {
				lines = nil
			}
			if len(lines) != len(tc.notes) {
				t.Fatalf("stderr %q, want %d note(s)", stderr, len(tc.notes))
			}
			for i, n := range tc.notes {
				if !strings.HasPrefix(lines[i], "run.py: note: ") || !strings.Contains(lines[i], n) {
					t.Errorf("note %q, want %q", lines[i], n)
				}
			}
			if got[1] == "run" {
				if _, _, err := parseOnly(got[1:]); err != nil {
					t.Fatalf("coordinator %q: %v", got[1:], err)
				}
			}
		})
	}
}

// run.py refuses what roop refused, in one line, with argparse's status 2 and nothing run.
func TestRunPyRefuses(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--temp-frame-quality", "101"}, "--temp-frame-quality: '101': want a whole number from 0 to 100"},
		{[]string{"--output-video-quality", "x"}, "--output-video-quality: 'x': want a whole number"},
		{[]string{"--temp-frame-format", "bmp"}, "invalid choice: 'bmp'"},
		{[]string{"--output-video-encoder", "h264_amf"}, "invalid choice: 'h264_amf'"},
		{[]string{"--max-memory", "nan"}, "want a size in GB"},
		{[]string{"--max-memory", "-1"}, "want a size in GB"},
		{[]string{"--frame-processor"}, "expected at least one argument"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			stdout, stderr, err := runPy(t, tc.args...)
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 2 {
				t.Fatalf("exit %v, want status 2", err)
			}
			if stdout != "" || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, tc.want) {
				t.Fatalf("stdout %q stderr %q, want one line with %q", stdout, stderr, tc.want)
			}
		})
	}
}
