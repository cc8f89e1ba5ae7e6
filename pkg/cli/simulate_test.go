package cli

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/facefleet/facefleet/pkg/worker"
)

// TestWorkerSimulationSwitch: the synthetic frame processor is selected only by the hidden flag together with
// FACEFLEET_SIMULATE=1; the flag alone is refused, and help does not show it.
func TestWorkerSimulationSwitch(t *testing.T) {
	for _, tt := range []struct {
		name    string
		args    []string
		env     map[string]string
		want    time.Duration // the cost of the simulation made; -1 for none
		wantErr error
	}{
		{name: "no flag", want: -1},
		{name: "no flag, switch on", env: map[string]string{worker.SimulateEnv: "1"}, want: -1},
		{name: "flag without switch", args: []string{"--simulate-frame-cost", "2ms"}, wantErr: worker.ErrSimulationRefused},
		{name: "flag, switch not 1", args: []string{"--simulate-frame-cost", "2ms"}, env: map[string]string{worker.SimulateEnv: "true"},
			wantErr: worker.ErrSimulationRefused},
		{name: "zero cost without switch", args: []string{"--simulate-frame-cost", "0"}, wantErr: worker.ErrSimulationRefused},
		{name: "flag and switch", args: []string{"--simulate-frame-cost", "2ms"}, env: map[string]string{worker.SimulateEnv: "1"},
			want: 2 * time.Millisecond},
		{name: "negative", args: []string{"--simulate-frame-cost", "-1ms"}, env: map[string]string{worker.SimulateEnv: "1"},
			wantErr: errAny},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o := newWorkerOptions()
			c := workerCommand(o)
			if err := c.Flags().Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			sim, err := simulation(c, o, func(k string) string { return tt.env[k] })
			switch {
			case tt.wantErr == errAny && err == nil, tt.wantErr != errAny && !errors.Is(err, tt.wantErr):
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			case err != nil:
				if !strings.Contains(err.Error(), "--simulate-frame-cost") {
					t.Errorf("error %q does not name the flag", err)
				}
				return
			}
			got := time.Duration(-1)
			if sim != nil {
				got = sim.FrameCost
			}
			if got != tt.want {
				t.Errorf("simulation cost = %v, want %v", got, tt.want)
			}
		})
	}
	var help bytes.Buffer
	c := workerCommand(newWorkerOptions())
	c.SetOut(&help)
	_ = c.Help()
	if strings.Contains(help.String(), "simulate") {
		t.Errorf("worker --help shows the simulation switch:\n%s", help.String())
	}
}

// errAny stands for any error in a table.
var errAny = errors.New("any error")
