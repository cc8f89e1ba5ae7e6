package cli

import (
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
