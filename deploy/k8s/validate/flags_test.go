package validate

import (
	"maps"
	"strings"
	"testing"
)

const help = `Usage:
  worker --nats URL [flags]

Flags:
      --grace duration        on SIGTERM, how long (default 30s)
  -h, --help                  help for worker
      --max-memory GB         memory budget in GB
      --nats string           NATS server URL(s) (default "nats://127.0.0.1:4222")
      --s3-tls                use https for S3
  -v, --verbose               log every step

Global Flags:
      --config string   config file (default $FACEFLEET_CONFIG or ~/.config/facefleet/config.yaml)
`

func TestParseHelp(t *testing.T) {
	got := ParseHelp(help)
	want := map[string]Flag{
		"grace":      {Name: "grace", Value: true, Default: "30s"},
		"help":       {Name: "help", Shorthand: "h"},
		"max-memory": {Name: "max-memory", Value: true},
		"nats":       {Name: "nats", Value: true, Default: "nats://127.0.0.1:4222"},
		"s3-tls":     {Name: "s3-tls"},
		"verbose":    {Name: "verbose", Shorthand: "v"},
		"config":     {Name: "config", Value: true, Default: "$FACEFLEET_CONFIG or ~/.config/facefleet/config.yaml"},
	}
	if !maps.Equal(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

// The binaries wrap a flag's text at 120 characters, in groups with an example each (run): a default on a line of
// its own is the flag's.
func TestParseHelpWrapped(t *testing.T) {
	const wrapped = `Memory:
      --grace duration        on SIGTERM, how long in-flight segments may
                              finish (default 30s)
      --slots int             segments processed
                              at once (default 1)
      --max-memory GB         memory budget in GB
  e.g. worker --max-memory 8 (default 2)

Global Flags:
      --config string   config file (default $FACEFLEET_CONFIG or
                        ~/.config/facefleet/config.yaml)
`
	got := ParseHelp(wrapped)
	want := map[string]Flag{
		"grace":      {Name: "grace", Value: true, Default: "30s"},
		"slots":      {Name: "slots", Value: true, Default: "1"},
		"max-memory": {Name: "max-memory", Value: true},
		"config":     {Name: "config", Value: true, Default: "$FACEFLEET_CONFIG or ~/.config/facefleet/config.yaml"},
	}
	if !maps.Equal(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

func TestParseArgs(t *testing.T) {
	flags := ParseHelp(help)
	cases := []struct {
		name string
		args []string
		want map[string]string
		err  string
	}{
		{"value after the flag", []string{"--grace", "150s"}, map[string]string{"grace": "150s"}, ""},
		{"value after =", []string{"--max-memory=8"}, map[string]string{"max-memory": "8"}, ""},
		{"switch", []string{"--s3-tls", "--grace", "1s"}, map[string]string{"s3-tls": "true", "grace": "1s"}, ""},
		{"inherited flag", []string{"--config", "/c.yaml"}, map[string]string{"config": "/c.yaml"}, ""},
		{"unknown flag", []string{"--slots", "2"}, nil, "--slots: the command defines no such flag"},
		{"missing value", []string{"--grace"}, nil, "--grace: missing its value"},
		{"twice", []string{"--grace", "1s", "--grace=2s"}, nil, "--grace given twice"},
		{"positional", []string{"serve"}, nil, `argument "serve"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseArgs(c.args, flags)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("got %v, want an error containing %q", err, c.err)
				}
				return
			}
			if err != nil || !maps.Equal(got, c.want) {
				t.Fatalf("got %v, %v; want %v", got, err, c.want)
			}
		})
	}
}
